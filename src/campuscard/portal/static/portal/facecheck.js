// Face check (APP-3): open the front camera, guide the holder through the actions in the order the
// server chose, capture at most 30 JPEG frames of at most 640×480 from a canvas, upload them with the
// attempt's nonce, then follow the worker's verdict.
(function () {
  const root = document.getElementById("facecheck");
  if (!root) return;
  const text = JSON.parse(document.getElementById("face-messages").textContent);
  const $ = (id) => document.getElementById(id);
  const csrf = () => root.querySelector("[name=csrfmiddlewaretoken]").value;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const maxFrames = Number(root.dataset.maxFrames);
  const maxW = Number(root.dataset.maxWidth), maxH = Number(root.dataset.maxHeight);
  // Timing: a short look at the level face, then per action a countdown and a burst of frames.
  // A blink lasts a few tenths of a second: its frames come faster than the nod's.
  const BASELINE = 4, INTERVAL_MS = { hold: 200, blink: 110, nod: 200 }, COUNTDOWN = 3;
  let stream = null;

  function prompt(html) { $("face-prompt").innerHTML = html; }
  function progress(done, total, label) {
    $("face-progress").hidden = false;
    $("face-bar").style.width = Math.round(100 * done / total) + "%";
    $("face-progress-text").textContent = label;
  }
  function result(kind, message) {
    const box = $("face-result");
    box.innerHTML = "";
    const p = document.createElement("p");
    p.className = kind === "passed" ? "notice ok" : kind === "failed" ? "error" : "notice";
    p.dataset.result = kind;
    p.textContent = message;
    box.appendChild(p);
  }
  async function api(url, options) {
    const response = await fetch(url, Object.assign({ credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), "Accept": "application/json" } }, options || {}));
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(body.message || text.error), { body });
    return body;
  }

  function grab(video, canvas) {
    // the frame as the camera gives it, scaled down to fit 640×480 in either orientation
    const w = video.videoWidth, h = video.videoHeight;
    const long = Math.max(w, h), short = Math.min(w, h);
    const scale = Math.min(1, Math.max(maxW, maxH) / long, Math.min(maxW, maxH) / short);
    canvas.width = Math.floor(w * scale / 2) * 2;
    canvas.height = Math.floor(h * scale / 2) * 2;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
  }

  async function capture(video, count, frames, interval) {
    const canvas = document.createElement("canvas");
    for (let i = 0; i < count && frames.length < maxFrames; i++) {
      frames.push(await grab(video, canvas));
      await sleep(interval);
    }
  }

  async function run() {
    $("face-start").disabled = true;
    $("face-start").hidden = true;
    $("face-tips").hidden = true;
    $("face-back").hidden = true;
    $("face-result").innerHTML = "";
    $("face-stage").hidden = false;
    $("face-stage").scrollIntoView({ block: "start" });
    prompt(text.camera);
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    } catch (error) {
      $("face-stage").hidden = true;
      result("failed", text.no_camera);
      $("face-start").disabled = false;
      $("face-start").hidden = false;
      return;
    }
    const video = $("face-video");
    video.srcObject = stream;
    await new Promise((resolve) => { if (video.readyState >= 2) resolve(); else video.onloadeddata = resolve; });
    prompt(text.light);
    await sleep(1500);
    let attempt;
    try {
      attempt = await api(root.dataset.startUrl, { method: "POST" });
    } catch (error) {
      stop();
      result("failed", error.message);
      $("face-back").hidden = false;
      return;
    }
    const frames = [];
    const perAction = Math.floor((maxFrames - BASELINE) / attempt.actions.length);
    prompt(text.hold);
    await capture(video, BASELINE, frames, INTERVAL_MS.hold);
    for (const action of attempt.actions) {
      for (let n = COUNTDOWN; n > 0; n--) {
        prompt(text.get_ready.replace("%(action)s", text[action]) + '<span class="count">' + n + "</span>");
        await sleep(700);
      }
      prompt(text[action]);
      root.dataset.action = action;
      await capture(video, perAction, frames, INTERVAL_MS[action]);
    }
    stop();
    progress(1, 3, text.uploading);
    const form = new FormData();
    form.append("nonce", attempt.nonce);
    frames.forEach((blob, i) => form.append("frames", blob, "frame" + i + ".jpg"));
    try {
      await api(root.dataset.framesUrl.replace("{id}", attempt.id), { method: "POST", body: form });
    } catch (error) {
      result("failed", error.message);
      $("face-progress").hidden = true;
      $("face-start").disabled = false;
      $("face-start").hidden = false;
      return;
    }
    await follow();
  }

  async function follow() {
    progress(2, 3, text.checking);
    for (let i = 0; i < 120; i++) {
      const status = await api(root.dataset.statusUrl);
      if (status.done) {
        progress(3, 3, "");
        $("face-progress").hidden = true;
        root.dataset.state = status.state;
        if (status.state === "passed") result("passed", text.passed);
        else if (status.state === "failed") result("failed", text.failed + " " + status.reason);
        else result("manual", status.reason);
        $("face-back").hidden = false;
        const again = $("face-start");
        if (again) {
          again.hidden = !status.can_start;
          again.disabled = false;
          again.textContent = text.retry;
        }
        const left = $("face-left");
        if (left) {
          left.hidden = !status.can_start;
          left.textContent = text.attempts_left.replace("%(n)s", status.attempts_left);
        }
        return;
      }
      await sleep(1000);
    }
    result("failed", text.error);
  }

  function stop() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    $("face-stage").hidden = true;
  }

  const start = $("face-start");
  if (start) start.addEventListener("click", run);
  if (root.dataset.state === "checking") follow();
})();
