// Why this file exists: htmx cannot read a <video>'s playback position, nor play HLS.
// This plays the lesson's HLS ladder when there is one, resumes a video where the
// learner stopped, and saves the position every 15 s and on pause, through the same
// form endpoint a plain browser would post to.
(function () {
  "use strict";
  var video = document.querySelector("video.player");
  if (!video) { return; }
  // The HLS ladder when there is one: hls.js (loaded on the page only then) where the
  // browser has Media Source Extensions, else the browser's own HLS (iOS); without
  // either, or without JavaScript, the original file plays.
  var hls = video.dataset.hls;
  if (hls && window.Hls && window.Hls.isSupported()) {
    var original = video.getAttribute("src");
    var player = new window.Hls({ enableWorker: false });
    player.on(window.Hls.Events.ERROR, function (_event, data) {
      if (!data.fatal) { return; }  // hls.js recovers from the others itself
      var at = video.currentTime;
      player.destroy();  // the ladder failed: play the original file from here
      video.src = original;
      video.addEventListener("loadedmetadata", function () { video.currentTime = at; }, { once: true });
    });
    player.loadSource(hls);
    player.attachMedia(video);
  } else if (hls && video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = hls;
  }
  if (!video.dataset.positionUrl) { return; }  // not enrolled: nothing to remember
  var start = parseInt(video.dataset.start || "0", 10);
  var token = (document.querySelector("input[name=csrf_token]") || {}).value || "";
  var last = 0;
  video.addEventListener("loadedmetadata", function () {
    if (start > 0 && start < video.duration - 5) { video.currentTime = start; }
  });
  function save() {
    var body = new FormData();
    body.append("csrf_token", token);
    body.append("position_seconds", String(Math.floor(video.currentTime)));
    fetch(video.dataset.positionUrl, { method: "POST", body: body, credentials: "same-origin" });
  }
  video.addEventListener("timeupdate", function () {
    if (Math.abs(video.currentTime - last) >= 15) { last = video.currentTime; save(); }
  });
  video.addEventListener("pause", save);
})();
