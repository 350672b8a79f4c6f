// Why this file exists: a browser form cannot resume a 20 GB upload, show its progress or
// pause it, and htmx cannot send a file in pieces. This script takes over the studio's
// upload form (#upload-form) when JavaScript runs; without it the same form posts the
// file in one request and everything else still works.
//
// Two transports, chosen by the server (data-uploader on the form):
//   tus  - the local store: tus 1.0 through tus-js-client, chunks under 90 MiB.
//   s3   - the bucket: the app signs multipart parts, the browser PUTs them straight to
//          S3 and never sends the app a byte of the file.
// Resuming does not depend on this browser: the page names the lesson's unfinished upload
// (data-resume-*), and choosing the same file again continues it where the server (or the
// bucket) says it stopped: after a dropped network, a closed tab or a server restart.
//
// Bundled with esbuild at install time into static/vendor/uploader.js (see Makefile).

import { Upload } from "tus-js-client";

// Waits between attempts after a failure that is worth retrying (network, 5xx, 409, 423,
// 429); then it keeps trying every 30 s while the page is open.
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

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("paused", "AbortError"));
    });
  });
}

// ------------------------------------------------------------------ S3 multipart

// Uploads `file` as presigned multipart parts. `api(method, path, body)` talks to the app;
// `onProgress(sent)` reports bytes; abort `signal` to pause (call run() again to resume).
class S3Upload {
  constructor(form, file, callbacks) {
    this.form = form;
    this.file = file;
    this.callbacks = callbacks;
    this.id = null;
    this.partSize = 0;
    this.done = new Map(); // part number -> size, as the bucket confirms
    this.loading = new Map(); // part number -> bytes sent so far of a part in flight
    this.urls = new Map();
  }

  async api(method, path, body, signal) {
    const response = await fetch(path, {
      method,
      signal,
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": this.form.dataset.csrf,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new HttpError(response.status, messageOf(text, `The server answered ${response.status}.`));
    }
    return text ? JSON.parse(text) : {};
  }

  uploadPath(suffix = "") {
    return `${this.form.dataset.uploads}${this.id}${suffix}`;
  }

  sent() {
    let total = 0;
    for (const size of this.done.values()) total += size;
    for (const size of this.loading.values()) total += size;
    return total;
  }

  partCount() {
    return Math.max(1, Math.ceil(this.file.size / this.partSize));
  }

  // Start, or find out what the bucket already holds; then send the rest and complete.
  async run(signal, resumeId) {
    let held = null;
    if (!this.id && resumeId) {
      try {
        this.id = resumeId;
        held = await this.api("GET", this.uploadPath("/parts"), undefined, signal);
      } catch (error) {
        if (error.status !== 404) throw error;
        this.id = null; // that upload is gone (cancelled, expired): start this file afresh
      }
    }
    if (!this.id) {
      const started = await this.api(
        "POST",
        this.form.dataset.endpoint,
        {
          course: this.form.dataset.course,
          lesson: this.form.dataset.lesson,
          filename: this.file.name,
          size: this.file.size,
        },
        signal,
      );
      this.id = started.id;
      this.partSize = started.part_size;
      this.callbacks.onStarted(this.id);
    }
    if (!held) held = await this.api("GET", this.uploadPath("/parts"), undefined, signal);
    this.partSize = held.part_size;
    this.done = new Map(held.parts.map((p) => [p.number, p.size]));
    this.urls.clear(); // signatures expire; a resumed upload asks again
    this.callbacks.onProgress(this.sent());

    const missing = [];
    for (let n = 1; n <= this.partCount(); n += 1) {
      const size = Math.min(this.partSize, this.file.size - (n - 1) * this.partSize);
      if (this.done.get(n) !== size) missing.push(n);
    }
    const queue = missing.slice();
    const workers = [];
    for (let i = 0; i < Math.min(PARTS_AT_ONCE, queue.length); i += 1) {
      workers.push(this.work(queue, signal));
    }
    await Promise.all(workers);
    return this.api("POST", this.uploadPath("/complete"), {}, signal);
  }

  async work(queue, signal) {
    while (queue.length) {
      const number = queue.shift();
      const url = await this.url(number, queue, signal);
      await this.put(number, url, signal);
    }
  }

  async url(number, queue, signal) {
    if (!this.urls.has(number)) {
      const numbers = [number, ...queue.filter((n) => !this.urls.has(n)).slice(0, SIGN_AHEAD - 1)];
      const signed = await this.api("POST", this.uploadPath("/parts"), { numbers }, signal);
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
      signal.addEventListener("abort", stop);
      // A dropped network often stalls a request rather than failing it.
      let stalled = false;
      let watchdog = null;
      const watch = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          stalled = true;
          xhr.abort();
        }, STALL_MS);
      };
      xhr.open("PUT", url);
      xhr.upload.onprogress = (event) => {
        watch();
        this.loading.set(number, event.loaded);
        this.callbacks.onProgress(this.sent());
      };
      xhr.onloadend = () => clearTimeout(watchdog);
      xhr.onload = () => {
        signal.removeEventListener("abort", stop);
        this.loading.delete(number);
        if (xhr.status >= 200 && xhr.status < 300) {
          this.done.set(number, blob.size);
          this.callbacks.onProgress(this.sent());
          resolve();
        } else {
          this.urls.delete(number); // an expired signature is signed again
          reject(new HttpError(xhr.status >= 500 ? xhr.status : 0, `The store refused part ${number} (${xhr.status}).`));
        }
      };
      xhr.onerror = () => {
        signal.removeEventListener("abort", stop);
        this.loading.delete(number);
        reject(new HttpError(0, "The network dropped."));
      };
      xhr.onabort = () => {
        signal.removeEventListener("abort", stop);
        this.loading.delete(number);
        reject(stalled ? new HttpError(0, "The network stalled.") : new DOMException("paused", "AbortError"));
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
    this.errorBox = form.querySelector(".upload-error");
    this.buttons = {
      pause: this.bar.querySelector("[data-action=pause]"),
      resume: this.bar.querySelector("[data-action=resume]"),
      cancel: this.bar.querySelector("[data-action=cancel]"),
    };
    this.active = null; // {pause(), resume(), cancel()} of the running upload
    this.running = false;

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.begin();
    });
    this.buttons.pause.addEventListener("click", () => this.pause());
    this.buttons.resume.addEventListener("click", () => this.resume());
    this.buttons.cancel.addEventListener("click", () => this.cancel());
    window.addEventListener("beforeunload", (event) => {
      if (this.running) event.preventDefault(); // the upload resumes later, but say so
    });
    // Offline, requests in flight may hang rather than fail: hold the upload, and go on
    // when the network is back.
    window.addEventListener("offline", () => {
      if (!this.running || !this.active) return;
      this.active.pause();
      this.waitingForNetwork = true;
      this.show("Offline; the upload goes on when the network is back.");
    });
    window.addEventListener("online", () => {
      if (this.waitingForNetwork && this.active) this.resume();
    });
  }

  show(message) {
    this.text.textContent = message;
  }

  fail(message) {
    this.running = false;
    this.errorBox.textContent = message;
    this.errorBox.hidden = false;
    this.bar.hidden = true;
    this.submit.disabled = false;
    this.input.disabled = false;
    this.refreshStatus();
  }

  report(sent, total) {
    const percent = total ? Math.floor((100 * sent) / total) : 100;
    this.progress.value = percent;
    this.progress.textContent = `${percent}%`;
    this.show(`${percent}% · ${formatBytes(sent)} of ${formatBytes(total)}`);
  }

  // The lesson's upload that this file continues, if it is the same file.
  resumeId(file) {
    const data = this.form.dataset;
    if (data.resumeId && data.resumeName === file.name && Number(data.resumeSize) === file.size) {
      return data.resumeId;
    }
    return null;
  }

  begin() {
    const file = this.input.files && this.input.files[0];
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
    this.running = true;
    this.submit.disabled = true;
    this.input.disabled = true;
    this.bar.hidden = false;
    this.buttons.pause.hidden = false;
    this.buttons.resume.hidden = true;
    this.buttons.cancel.hidden = false;
    this.report(0, file.size);
    const resumeId = this.resumeId(file);
    this.show(resumeId ? "Resuming…" : "Starting…");
    this.active = this.form.dataset.uploader === "s3" ? this.viaS3(file, resumeId) : this.viaTus(file, resumeId);
    this.active.resume();
  }

  viaTus(file, resumeId) {
    const data = this.form.dataset;
    const upload = new Upload(file, {
      endpoint: data.endpoint,
      uploadUrl: resumeId ? `${data.endpoint}/${resumeId}` : null,
      chunkSize: Number(data.chunkSize),
      retryDelays: RETRY_DELAYS,
      storeFingerprintForResuming: false, // the server says what to resume, not this browser
      metadata: { filename: file.name, course: data.course, lesson: data.lesson },
      headers: { "X-CSRFToken": data.csrf },
      onShouldRetry: (error) => {
        const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
        const again = retryable(status);
        if (again) this.show(navigator.onLine ? "Connection lost; trying again…" : "Offline; waiting for the network…");
        return again;
      },
      onUploadUrlAvailable: () => this.remember(upload.url.split("/").pop(), file),
      onProgress: (sent, total) => this.report(sent, total),
      onSuccess: () => this.finished(),
      onError: (error) => {
        const response = error.originalResponse;
        const status = response ? response.getStatus() : 0;
        if (retryable(status)) {
          // tus-js-client gave up after its delays; keep going while the page is open
          this.waitingForNetwork = !navigator.onLine;
          this.show(this.waitingForNetwork ? "Offline; the upload goes on when the network is back." : "The server is not answering; trying again in 30 s…");
          this.retryTimer = setTimeout(() => this.running && !this.paused && upload.start(), 30000);
          return;
        }
        this.fail(messageOf(response ? response.getBody() : "", `The upload failed (${status}).`));
      },
    });
    return {
      resume: () => {
        this.paused = false;
        upload.start();
      },
      pause: () => {
        this.paused = true;
        clearTimeout(this.retryTimer);
        return upload.abort(false);
      },
      cancel: async () => {
        clearTimeout(this.retryTimer);
        await upload.abort(false);
        if (upload.url) await this.deleteUpload(upload.url.split("/").pop());
      },
    };
  }

  viaS3(file, resumeId) {
    let controller = null;
    const job = new S3Upload(this.form, file, {
      onStarted: (id) => this.remember(id, file),
      onProgress: (sent) => this.report(sent, file.size),
    });
    const go = async (attempt) => {
      controller = new AbortController();
      const signal = controller.signal;
      try {
        const result = await job.run(signal, resumeId);
        if (result.state === "failed") {
          this.fail(result.error || "The file was refused.");
        } else {
          this.finished();
        }
      } catch (error) {
        if (error.name === "AbortError") return; // paused or cancelled
        if (!retryable(error.status)) {
          this.fail(error.message);
          return;
        }
        this.waitingForNetwork = !navigator.onLine;
        this.show(this.waitingForNetwork ? "Offline; the upload goes on when the network is back." : "Connection lost; trying again…");
        try {
          await sleep(delayFor(attempt + 1), signal);
        } catch (_) {
          return;
        }
        if (this.waitingForNetwork) return; // the "online" event resumes it
        go(attempt + 1);
      }
    };
    return {
      resume: () => {
        this.paused = false;
        go(0);
      },
      pause: () => {
        this.paused = true;
        if (controller) controller.abort();
      },
      cancel: async () => {
        if (controller) controller.abort();
        if (job.id) await this.deleteUpload(job.id);
      },
    };
  }

  // The page's idea of the unfinished upload follows the one this page started.
  remember(id, file) {
    Object.assign(this.form.dataset, { resumeId: id, resumeName: file.name, resumeSize: String(file.size) });
  }

  pause() {
    if (!this.active) return;
    this.active.pause();
    this.buttons.pause.hidden = true;
    this.buttons.resume.hidden = false;
    this.show(`Paused at ${this.text.textContent.split(" ·")[0]}.`);
    this.running = false;
  }

  resume() {
    if (!this.active) return;
    this.waitingForNetwork = false;
    this.running = true;
    this.buttons.pause.hidden = false;
    this.buttons.resume.hidden = true;
    this.show("Resuming…");
    this.active.resume();
  }

  async cancel() {
    if (!this.active) return;
    const active = this.active;
    this.active = null;
    this.running = false;
    this.show("Cancelling…");
    try {
      await active.cancel();
    } finally {
      this.bar.hidden = true;
      this.submit.disabled = false;
      this.input.disabled = false;
      this.input.value = "";
      delete this.form.dataset.resumeId;
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
      if (attempt >= 6 || (response && !retryable(response.status))) {
        const text = response ? await response.text() : "";
        this.fail(messageOf(text, "The upload could not be cancelled; try again."));
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
    }
  }

  finished() {
    this.running = false;
    this.active = null;
    this.progress.value = 100;
    this.show("Uploaded. Checking the file…");
    this.buttons.pause.hidden = true;
    this.buttons.resume.hidden = true;
    this.buttons.cancel.hidden = true;
    this.submit.disabled = false;
    this.input.disabled = false;
    this.input.value = "";
    delete this.form.dataset.resumeId;
    this.refreshStatus();
  }

  // The status block above the form says what learners get; it polls while the file moves.
  refreshStatus() {
    const url = this.form.dataset.statusUrl;
    if (url && window.htmx) window.htmx.ajax("GET", url, { target: "#media-status", swap: "outerHTML" });
  }
}

const form = document.getElementById("upload-form");
if (form && form.dataset.uploader) new UploadForm(form);
