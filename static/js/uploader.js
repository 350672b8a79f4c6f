// Why this file exists: a browser form cannot resume a 20 GB upload, show its progress or
// pause it, and htmx cannot send a file in pieces. This script takes over the studio's
// upload form (#upload-form) when JavaScript runs; without it the same form posts the
// file in one request and everything else still works.
//
// Two transports, chosen by the server (data-uploader on the form):
//   tus  - the local store: tus 1.0 through tus-js-client, chunks under 90 MiB.
//   s3   - the bucket: the app signs multipart parts, the browser PUTs them straight to
//          S3 and never sends the app a byte of the file.
// Resuming does not depend on this browser's storage: the page names the lesson's
// unfinished upload and the fingerprint this script gave it (data-resume-*), and choosing
// the same file again continues it where the server (or the bucket) says it stopped:
// after a dropped network, a closed tab or a server restart.
//
// Bundled with esbuild at install time into static/vendor/uploader.js (see Makefile).

import { Upload } from "tus-js-client";

// Waits between attempts after a failure worth retrying (the network, 5xx, 409, 423,
// 429); then every 30 s while the page is open. They start again once bytes move.
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000];
const PARTS_AT_ONCE = 3; // S3 parts in flight together
const SIGN_AHEAD = 12; // presigned URLs asked for at a time
const STALL_MS = 20000; // a part that sends nothing for this long is sent again

function formatBytes(n) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function delayFor(attempt) {
  return RETRY_DELAYS[Math.min(attempt, RETRY_DELAYS.length - 1)];
}

function retryable(status) {
  return !status || status >= 500 || status === 409 || status === 423 || status === 429;
}

// What the script calls a file: the same file chosen again has the same fingerprint.
function fingerprintOf(file) {
  return `${file.name}:${file.size}:${file.lastModified}`;
}

// The message in the app's JSON error body ({"error": {"message", "fields"}}): what is wrong
// with the file (the fields) says more than "Some fields are not valid."
function messageOf(text, fallback) {
  try {
    const error = JSON.parse(text).error || {};
    const fields = Object.values(error.fields || {});
    if (fields.length) return fields.join(" ");
    if (error.message) return error.message;
  } catch (_) {
    /* not JSON: a proxy's page, say */
  }
  return fallback;
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function paused() {
  return new DOMException("paused", "AbortError");
}

async function api(form, method, path, body, signal) {
  const response = await fetch(path, {
    method,
    signal,
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      "X-CSRFToken": form.dataset.csrf,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new HttpError(response.status, messageOf(text, `The server answered ${response.status}.`));
  }
  return text ? JSON.parse(text) : {};
}

// ------------------------------------------------------------------ S3 multipart

// Sends `file` as presigned multipart parts. run(signal) starts the upload, or finds out
// what the bucket already holds, sends the rest and completes; aborting `signal` stops
// every part in flight (a pause), and run() again resumes.
class S3Upload {
  constructor(form, file, resumeId, callbacks) {
    this.form = form;
    this.file = file;
    this.resumeId = resumeId;
    this.callbacks = callbacks;
    this.id = null;
    this.partSize = 0;
    this.done = new Map(); // part number -> size, as the bucket confirms
    this.loading = new Map(); // part number -> bytes sent so far of a part in flight
    this.urls = new Map();
  }

  path(suffix = "") {
    return `${this.form.dataset.uploads}${this.id}${suffix}`;
  }

  sent() {
    let total = 0;
    for (const size of this.done.values()) total += size;
    for (const size of this.loading.values()) total += size;
    return total;
  }

  async run(signal) {
    let held = null;
    if (!this.id && this.resumeId) {
      this.id = this.resumeId;
      try {
        held = await api(this.form, "GET", this.path("/parts"), undefined, signal);
      } catch (error) {
        if (error.status !== 404) throw error;
        this.id = null; // that upload is gone (cancelled, expired): start this file afresh
      }
      this.resumeId = null;
    }
    if (!this.id) {
      const started = await api(
        this.form,
        "POST",
        this.form.dataset.endpoint,
        {
          course: this.form.dataset.course,
          lesson: this.form.dataset.lesson,
          filename: this.file.name,
          size: this.file.size,
          fingerprint: fingerprintOf(this.file),
        },
        signal,
      );
      this.id = started.id;
      this.callbacks.onStarted(this.id);
    }
    if (!held) held = await api(this.form, "GET", this.path("/parts"), undefined, signal);
    this.partSize = held.part_size;
    this.done = new Map(held.parts.map((p) => [p.number, p.size]));
    this.loading.clear();
    this.urls.clear(); // signatures expire; a resumed upload asks again
    this.callbacks.onProgress(this.sent());

    const queue = [];
    const count = Math.max(1, Math.ceil(this.file.size / this.partSize));
    for (let n = 1; n <= count; n += 1) {
      const size = Math.min(this.partSize, this.file.size - (n - 1) * this.partSize);
      if (this.done.get(n) !== size) queue.push(n);
    }
    // The parts of this run stop together: on a pause, or on the first that fails.
    const run = new AbortController();
    const stop = () => run.abort();
    signal.addEventListener("abort", stop);
    let failure = null;
    const workers = [];
    for (let i = 0; i < Math.min(PARTS_AT_ONCE, queue.length); i += 1) {
      workers.push(
        this.work(queue, run.signal).catch((error) => {
          if (!failure && error.name !== "AbortError") failure = error;
          run.abort();
        }),
      );
    }
    await Promise.all(workers);
    signal.removeEventListener("abort", stop);
    if (signal.aborted) throw paused();
    if (failure) throw failure;
    return api(this.form, "POST", this.path("/complete"), {}, signal);
  }

  async work(queue, signal) {
    while (queue.length && !signal.aborted) {
      const number = queue.shift();
      const url = await this.url(number, queue, signal);
      await this.put(number, url, signal);
    }
  }

  async url(number, queue, signal) {
    if (!this.urls.has(number)) {
      const numbers = [number, ...queue.filter((n) => !this.urls.has(n)).slice(0, SIGN_AHEAD - 1)];
      const signed = await api(this.form, "POST", this.path("/parts"), { numbers }, signal);
      for (const [n, u] of Object.entries(signed.urls)) this.urls.set(Number(n), u);
    }
    return this.urls.get(number);
  }

  // One part by XMLHttpRequest (fetch cannot report upload progress).
  put(number, url, signal) {
    const start = (number - 1) * this.partSize;
    const blob = this.file.slice(start, Math.min(start + this.partSize, this.file.size));
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      const stop = () => xhr.abort();
      let stalled = false; // a dropped network often stalls a request rather than failing it
      let watchdog = null;
      const watch = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          stalled = true;
          xhr.abort();
        }, STALL_MS);
      };
      const settle = () => {
        clearTimeout(watchdog);
        signal.removeEventListener("abort", stop);
        this.loading.delete(number);
      };
      signal.addEventListener("abort", stop);
      xhr.open("PUT", url);
      xhr.upload.onprogress = (event) => {
        watch();
        this.loading.set(number, event.loaded);
        this.callbacks.onProgress(this.sent());
      };
      xhr.onload = () => {
        settle();
        if (xhr.status >= 200 && xhr.status < 300) {
          this.done.set(number, blob.size);
          this.callbacks.onProgress(this.sent());
          resolve();
          return;
        }
        this.urls.delete(number); // an expired signature is signed again on the retry
        this.callbacks.onProgress(this.sent());
        // The store's 4xx (an expired signature, a clock off) is retried with a new one.
        reject(new HttpError(xhr.status >= 500 ? xhr.status : 0, `The store refused part ${number} (${xhr.status}).`));
      };
      xhr.onerror = () => {
        settle();
        reject(new HttpError(0, "The network dropped."));
      };
      xhr.onabort = () => {
        settle();
        reject(stalled ? new HttpError(0, "The network stalled.") : paused());
      };
      watch();
      xhr.send(blob);
    });
  }
}

// ------------------------------------------------------------------ the form

class UploadForm {
  constructor(form) {
    this.form = form;
    this.input = form.querySelector("input[type=file]");
    this.submit = form.querySelector("button[type=submit]");
    this.bar = form.querySelector(".upload-progress");
    this.progress = this.bar.querySelector("progress");
    this.text = this.bar.querySelector(".upload-progress-text");
    this.announcer = this.bar.querySelector(".upload-announce");
    this.errorBox = form.querySelector(".upload-error");
    this.buttons = {
      pause: this.bar.querySelector("[data-action=pause]"),
      resume: this.bar.querySelector("[data-action=resume]"),
      cancel: this.bar.querySelector("[data-action=cancel]"),
    };
    this.active = null; // {start(), stop(), cancel()} of the upload on its way
    this.paused = false; // by the user
    this.waitingForNetwork = false; // by the browser going offline
    this.percent = 0;
    this.announced = -1;

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.begin();
    });
    this.buttons.pause.addEventListener("click", () => this.pause());
    this.buttons.resume.addEventListener("click", () => this.resume());
    this.buttons.cancel.addEventListener("click", () => this.cancel());
    window.addEventListener("beforeunload", (event) => {
      if (this.active && !this.paused) event.preventDefault(); // it resumes later, but say so
    });
    // Offline, requests in flight may hang rather than fail: hold the upload, and go on
    // when the network is back (unless the user paused it meanwhile).
    window.addEventListener("offline", () => {
      if (!this.active || this.paused) return;
      this.active.stop();
      this.waitingForNetwork = true;
      this.say("Offline; the upload goes on when the network is back.");
    });
    window.addEventListener("online", () => {
      if (this.active && this.waitingForNetwork && !this.paused) this.go("Back online; resuming…");
    });
  }

  // The line under the bar; `announce` also tells a screen reader.
  say(message, announce = true) {
    this.text.textContent = message;
    if (announce) this.announcer.textContent = message;
  }

  report(sent, total) {
    const percent = total ? Math.floor((100 * sent) / total) : 100;
    this.percent = percent;
    this.progress.value = percent;
    this.progress.textContent = `${percent}%`;
    const tenth = Math.floor(percent / 10);
    this.say(`${percent}% · ${formatBytes(sent)} of ${formatBytes(total)}`, tenth !== this.announced);
    this.announced = tenth;
  }

  setButtons({ pause, resume, cancel }) {
    this.buttons.pause.hidden = !pause;
    this.buttons.resume.hidden = !resume;
    this.buttons.cancel.hidden = !cancel;
  }

  // The upload is over, one way or another: the form takes a file again.
  settle() {
    clearTimeout(this.retryTimer);
    this.active = null;
    this.paused = false;
    this.waitingForNetwork = false;
    this.submit.disabled = false;
    this.input.disabled = false;
  }

  fail(message) {
    this.settle();
    this.bar.hidden = true;
    this.errorBox.hidden = false; // shown first, so the alert is read out
    this.errorBox.textContent = message;
    this.input.focus();
    this.refreshStatus();
  }

  finished() {
    this.settle();
    this.progress.value = 100;
    this.say("Uploaded. The status above says when learners get it.");
    this.setButtons({});
    this.input.value = "";
    this.forget();
    this.input.focus();
    this.refreshStatus();
  }

  begin() {
    const file = this.input.files && this.input.files[0];
    if (this.active) return;
    this.errorBox.hidden = true;
    if (!file) {
      this.fail("Choose a file first.");
      return;
    }
    const max = Number(this.form.dataset.maxSize);
    if (max && file.size > max) {
      this.fail(`This file is ${formatBytes(file.size)}; the largest you can upload here is ${formatBytes(max)}.`);
      return;
    }
    this.submit.disabled = true;
    this.input.disabled = true;
    this.bar.hidden = false;
    this.setButtons({ pause: true, cancel: true });
    this.announced = -1;
    this.report(0, file.size);
    const data = this.form.dataset;
    const resumeId = data.resumeId && data.resumeFingerprint === fingerprintOf(file) ? data.resumeId : null;
    this.active = data.uploader === "s3" ? this.viaS3(file, resumeId) : this.viaTus(file, resumeId);
    this.go(resumeId ? "Resuming…" : "Starting…");
  }

  go(message) {
    clearTimeout(this.retryTimer);
    this.paused = false;
    this.waitingForNetwork = false;
    this.say(message);
    this.active.start();
  }

  // After a failure worth retrying: wait, unless the browser is offline (the `online`
  // event goes on then).
  later(attempt, again) {
    if (!navigator.onLine) {
      this.waitingForNetwork = true;
      this.say("Offline; the upload goes on when the network is back.");
      return;
    }
    const wait = delayFor(attempt);
    this.say(wait ? `Connection lost; trying again in ${Math.round(wait / 1000)} s…` : "Connection lost; trying again…");
    this.retryTimer = setTimeout(() => {
      if (this.active && !this.paused && !this.waitingForNetwork) again();
    }, wait);
  }

  viaTus(file, resumeId) {
    const data = this.form.dataset;
    const upload = new Upload(file, {
      endpoint: data.endpoint,
      uploadUrl: resumeId ? `${data.endpoint}/${resumeId}` : null,
      chunkSize: Number(data.chunkSize),
      retryDelays: RETRY_DELAYS,
      storeFingerprintForResuming: false, // the server says what to resume, not this browser
      metadata: { filename: file.name, course: data.course, lesson: data.lesson, fingerprint: fingerprintOf(file) },
      headers: { "X-CSRFToken": data.csrf },
      onShouldRetry: (error) => {
        if (!error.originalRequest) return false; // the file itself cannot be read
        const response = error.originalResponse;
        const again = retryable(response ? response.getStatus() : 0);
        if (again) this.say(navigator.onLine ? "Connection lost; trying again…" : "Offline; waiting for the network…");
        return again;
      },
      onUploadUrlAvailable: () => this.remember(upload.url.split("/").pop(), file),
      onProgress: (sent, total) => {
        // Once the upload exists, a 404 means it is gone (cancelled, replaced, expired):
        // say so, rather than let tus-js-client start the whole file again unasked.
        upload.options.endpoint = null;
        this.report(sent, total);
      },
      onSuccess: () => this.finished(),
      onError: (error) => {
        const response = error.originalResponse;
        const status = response ? response.getStatus() : 0;
        if (error.originalRequest && retryable(status)) {
          // tus-js-client went through its delays: go on, every 30 s, while the page is open
          this.later(RETRY_DELAYS.length - 1, () => upload.start());
          return;
        }
        this.fail(messageOf(response ? response.getBody() : "", error.message || `The upload failed (${status}).`));
      },
    });
    return {
      start: () => upload.start(),
      stop: () => upload.abort(false),
      cancel: async () => {
        await upload.abort(false);
        if (upload.url) await this.deleteUpload(upload.url.split("/").pop());
      },
    };
  }

  viaS3(file, resumeId) {
    let controller = null;
    const job = new S3Upload(this.form, file, resumeId, {
      onStarted: (id) => this.remember(id, file),
      onProgress: (sent) => this.report(sent, file.size),
    });
    const run = async (attempt) => {
      if (controller) controller.abort(); // never two runs at once
      controller = new AbortController();
      const signal = controller.signal;
      const before = job.sent();
      try {
        const result = await job.run(signal);
        if (result.state === "failed") this.fail(result.error || "The file was refused.");
        else this.finished();
      } catch (error) {
        if (error.name === "AbortError") return; // paused, offline or cancelled
        let status = error.status;
        if (status === 409 && job.id) {
          // The upload is not taking parts: find out why rather than retry blindly.
          const found = await this.uploadState(job.id, signal);
          if (found.state === "complete") return this.finished();
          if (found.state === "failed" || found.state === "aborted") return this.fail(found.error || error.message);
          status = found.state === null ? status : 503; // finishing, or taking parts again: retry
        }
        if (!retryable(status)) return this.fail(error.message);
        const next = job.sent() > before ? 0 : attempt + 1; // progress made: short waits again
        this.later(next, () => run(next));
      }
      return undefined;
    };
    return {
      start: () => run(0),
      stop: () => controller && controller.abort(),
      cancel: async () => {
        if (controller) controller.abort();
        if (job.id) await this.deleteUpload(job.id);
      },
    };
  }

  // The upload's state on the server ({state: null} if it cannot be had), and why it
  // ended if it did.
  async uploadState(id, signal) {
    try {
      const status = await api(this.form, "GET", `${this.form.dataset.uploads}${id}`, undefined, signal);
      if (status.state === "aborted") {
        this.forget();
        return { state: status.state, error: status.error || "This upload was cancelled or replaced by another; choose the file again to start over." };
      }
      return { state: status.state, error: status.error || "" };
    } catch (_) {
      return { state: null, error: "" };
    }
  }

  // The page's idea of the unfinished upload follows the one this page started.
  remember(id, file) {
    Object.assign(this.form.dataset, { resumeId: id, resumeFingerprint: fingerprintOf(file) });
  }

  forget() {
    delete this.form.dataset.resumeId;
    delete this.form.dataset.resumeFingerprint;
  }

  pause() {
    if (!this.active) return;
    clearTimeout(this.retryTimer);
    this.active.stop();
    this.paused = true;
    this.waitingForNetwork = false;
    this.setButtons({ resume: true, cancel: true });
    this.say(`Paused at ${this.percent}%.`);
    this.buttons.resume.focus();
  }

  resume() {
    if (!this.active) return;
    this.setButtons({ pause: true, cancel: true });
    this.buttons.pause.focus();
    this.go("Resuming…");
  }

  async cancel() {
    if (!this.active) return;
    const active = this.active;
    this.settle();
    this.say("Cancelling…");
    try {
      await active.cancel();
    } finally {
      this.bar.hidden = true;
      this.input.value = "";
      this.forget();
      this.input.focus();
      this.refreshStatus();
    }
  }

  // Cancel on the server. While the chunk a pause cut short is still arriving there, the
  // server answers 423 (busy): ask again shortly.
  async deleteUpload(id) {
    for (let attempt = 0; ; attempt += 1) {
      let response = null;
      try {
        response = await fetch(`${this.form.dataset.uploads}${id}`, {
          method: "DELETE",
          credentials: "same-origin",
          headers: { "X-CSRFToken": this.form.dataset.csrf, Accept: "application/json" },
        });
      } catch (_) {
        /* the network: try again */
      }
      if (response && (response.ok || response.status === 404)) return;
      const busy = !response || response.status === 423 || response.status >= 500;
      if (attempt >= 6 || !busy) {
        const text = response ? await response.text() : "";
        this.fail(messageOf(text, "The upload could not be cancelled; try again."));
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
    }
  }

  // The status block above the form says what learners get; it polls while the file moves.
  refreshStatus() {
    const url = this.form.dataset.statusUrl;
    if (url && window.htmx) window.htmx.ajax("GET", url, { target: "#media-status", swap: "outerHTML" });
  }
}

const form = document.getElementById("upload-form");
if (form && form.dataset.uploader) new UploadForm(form);
