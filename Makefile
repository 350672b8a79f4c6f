# Lectern: `make run` serves the whole product, `make test` runs the whole suite.
# Both install what they need first and are safe to run again.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8000

.PHONY: install run test test-fast lint format browser bench bench-uploads bench-transcode clean help

help:
	@echo "make run    - install, migrate, seed demo data, serve on http://127.0.0.1:$(PORT)"
	@echo "make test   - install, then run every test tier (SQLite, PostgreSQL, browser)"
	@echo "make lint   - ruff check, ruff format --check, mypy"
	@echo "make bench  - benchmarks that print their figures (see bench/)"
	@echo "make bench-uploads - a 2 GiB upload: worker memory and other requests' p95"
	@echo "make bench-transcode - the HLS ladder's CPU-seconds per minute of video, wall time"

install: $(STAMP) static/vendor/htmx.min.js static/vendor/hls.min.js static/vendor/uploader.js

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev
	@touch $(STAMP)

# Front-end packages come from npm at install time; nothing third-party is committed.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

static/vendor/htmx.min.js: node_modules/.package-lock.json
	@mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js

# hls.js plays the HLS ladder where the browser has no HLS of its own (video lessons only).
static/vendor/hls.min.js: node_modules/.package-lock.json
	@mkdir -p static/vendor
	cp node_modules/hls.js/dist/hls.min.js static/vendor/hls.min.js

# The studio's upload script and tus-js-client, bundled by esbuild (see package.json).
static/vendor/uploader.js: static/js/uploader.js node_modules/.package-lock.json
	npm run --silent build

run: install
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi seed-demo --if-empty
	PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# Debian's Chromium for the browser tests (Playwright's own download does not work offline).
browser:
	@bash scripts/install-browser.sh

test: install browser
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not e2e and not postgres"

# Queries per request must not grow with the data (SPEC §10); prints the figures.
bench: install
	$(BIN)/python -m bench.data_growth

# A 2 GiB upload must not grow the web worker's memory or slow other requests (issue 9).
bench-uploads: install
	$(BIN)/python -m bench.uploads

# The HLS ladder: at most 45 CPU-s per minute of 1080p camera video, 0.55x its duration.
bench-transcode: install
	$(BIN)/python -m bench.transcode

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) node_modules static/vendor .pytest_cache
