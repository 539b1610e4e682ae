// Browser POS: keypad amount, scanner/camera code, one transaction id per sale (reused on retries).
(function () {
  "use strict";
  const root = document.getElementById("pos");
  if (!root) return;
  const T = JSON.parse(document.getElementById("pos-texts").textContent);
  const scan = document.getElementById("scan");
  const result = document.getElementById("result");
  const amountBox = document.getElementById("amount-display");
  const amountText = document.getElementById("amount");
  const cameraButton = document.getElementById("camera-button");
  const cameraNote = document.getElementById("camera-note");
  const video = document.getElementById("camera");
  const TIMEOUT_MS = 10000;
  const RETRY_DELAYS_MS = [500, 1500, 3000];

  let amount = "";      // as keyed: "", "12", "12.5", "12.50"
  let sale = null;      // {txn, amount, code} from the scan until the sale is over (password, retries)
  let mode = "amount";  // "amount" | "password" | "busy"
  let stream = null;
  let lastCameraCode = "";

  // --- a transaction id per sale: a v4 UUID (getRandomValues works on plain-http LAN deployments too) ---
  function newTxnId() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // --- the amount ---
  function showAmount() {
    amountText.textContent = amount === "" ? "0.00" : amount;
    amountText.dataset.value = amount;
    amountBox.classList.toggle("empty", amount === "");
  }

  function amountReady() {
    return /^\d+(\.\d{1,2})?$/.test(amount) && Number(amount) > 0;
  }

  function press(key) {
    if (mode === "busy" || mode === "retry") return;
    if (mode === "password") return typePassword(key);
    if (result.querySelector("[data-outcome=paid], [data-outcome=refused]")) idle();  // a new sale begins
    if (key === "clear") amount = "";
    else if (key === "back") amount = amount.slice(0, -1);
    else if (key === ".") { if (!amount.includes(".")) amount = (amount || "0") + "."; }
    else {
      const next = (amount === "0" ? "" : amount) + key;
      if (/^\d{1,5}(\.\d{0,2})?$/.test(next)) amount = next;
    }
    showAmount();
  }

  function typePassword(key) {
    const field = document.getElementById("pos-password");
    if (!field) return;
    if (key === "clear") field.value = "";
    else if (key === "back") field.value = field.value.slice(0, -1);
    else if (/^\d$/.test(key) && field.value.length < 6) field.value += key;
  }

  for (const type of ["pointerdown", "mousedown"]) {
    document.getElementById("keypad").addEventListener(type, (event) => {
      if (event.target.closest("button")) event.preventDefault();  // keep the scanner (or password) field focused
    });
  }
  document.getElementById("keypad").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-key]");
    if (button) press(button.dataset.key);
  });

  // --- the result panel ---
  function panel(kind, html) {
    result.innerHTML = `<div class="pos-result ${kind}" data-outcome="${kind}">${html}</div>`;
  }

  function escapeHtml(text) {
    const div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }

  function idle() {
    const first = result.querySelector(".pos-result");
    if (first && first.dataset.outcome !== "idle") panel("idle", `<p>${escapeHtml(initialIdle)}</p>`);
  }
  const initialIdle = result.textContent.trim();

  function note(text) {
    panel("refused", `<p class="reason">${escapeHtml(text)}</p>`);
  }

  // --- the scanner: keyboard-wedge (types the code, then Enter) ---
  function focusScan() {
    if (mode !== "password" && document.activeElement !== scan) scan.focus({ preventScroll: true });
  }

  scan.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const code = scan.value.trim();
    scan.value = "";
    if (code) start(code);
  });
  scan.addEventListener("blur", () => setTimeout(() => {
    const active = document.activeElement;
    if (!active || active === document.body || (active.tagName === "BUTTON" && !active.closest("form.refund"))) focusScan();
  }, 0));

  function start(code) {
    if (mode !== "amount") return;
    if (!amountReady()) { note(T.key_amount_first); return; }
    sale = { txn: newTxnId(), amount: amount, code: code };
    send({});
  }

  // --- sending: the same transaction id on every retry of this sale ---
  async function send(extra, attempt = 0) {
    mode = "busy";
    if (attempt === 0) panel("pending", `<p>${escapeHtml(T.sending)}</p>`);
    const body = new URLSearchParams({ txn_id: sale.txn, amount: sale.amount, code: sale.code, ...extra });
    let response = null;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    try {
      response = await fetch(root.dataset.payUrl, {
        method: "POST", body, credentials: "same-origin", signal: controller.signal,
        headers: { "X-CSRFToken": root.dataset.csrf },
      });
    } catch (error) {
      response = null;
    } finally {
      clearTimeout(timer);
    }
    if (response === null || response.status >= 500) {
      if (attempt < RETRY_DELAYS_MS.length) {
        panel("pending", `<p>${escapeHtml(T.retrying)}</p>`);
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt]));
        return send(extra, attempt + 1);
      }
      return offerRetry(extra);
    }
    if (response.redirected && response.url.includes("/enrol/")) { window.location.assign(response.url); return; }
    result.innerHTML = await response.text();
    const box = result.querySelector("[data-outcome]");
    const outcome = box ? box.dataset.outcome : "refused";
    if (!box) note(`${response.status} ${response.statusText}`);
    if (outcome === "password") {
      mode = "password";
      bindPassword(extra);
      return;
    }
    mode = "amount";
    sale = null;
    if (outcome === "paid") {
      amount = "";
      showAmount();
      document.body.dispatchEvent(new CustomEvent("pos-paid"));
    }
    focusScan();
  }

  function offerRetry(extra) {
    panel("refused", `<p class="reason">${escapeHtml(T.network_failed)}</p><p class="mono">${escapeHtml(sale.txn)}</p>
      <div class="actions"><button type="button" class="button" id="retry">${escapeHtml(T.retry)}</button>
      <button type="button" class="button ghost" id="retry-cancel">${escapeHtml(T.cancel)}</button></div>`);
    mode = "retry";
    document.getElementById("retry").addEventListener("click", () => send(extra));
    document.getElementById("retry-cancel").addEventListener("click", () => { sale = null; mode = "amount"; idle(); focusScan(); });
  }

  // --- the payment password, typed by the holder on the same keypad or the field ---
  function bindPassword() {
    const form = document.getElementById("password-form");
    const field = document.getElementById("pos-password");
    field.focus();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (field.value) send({ password: field.value });
    });
    document.getElementById("password-cancel").addEventListener("click", () => {
      sale = null; mode = "amount"; idle(); focusScan();
    });
  }

  // --- the camera: the browser's own BarcodeDetector, where there is one ---
  async function cameraSupported() {
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return false;
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      return formats.includes("qr_code");
    } catch (error) {
      return false;
    }
  }

  async function cameraStart() {
    try {
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      cameraButton.querySelector("span").textContent = T.camera_off;
      const tick = async () => {
        if (!stream) return;
        try {
          const found = await detector.detect(video);
          const code = found.length ? found[0].rawValue : "";
          if (code && code !== lastCameraCode && mode === "amount" && amountReady()) {
            lastCameraCode = code;  // a code is good once: do not send it again while it stays in view
            start(code);
          }
        } catch (error) { /* a frame that could not be read */ }
        setTimeout(tick, 150);
      };
      tick();
    } catch (error) {
      cameraStop();
      cameraNote.textContent = T.camera_failed;
      cameraNote.hidden = false;
    }
  }

  function cameraStop() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.hidden = true;
    cameraButton.querySelector("span").textContent = T.camera_on;
    focusScan();
  }

  cameraSupported().then((ok) => {
    if (ok) {
      cameraButton.hidden = false;
      cameraButton.addEventListener("click", () => (stream ? cameraStop() : cameraStart()));
    } else {
      cameraNote.textContent = T.camera_unavailable;
      cameraNote.hidden = false;
    }
  });

  document.body.addEventListener("htmx:afterSwap", () => focusScan());  // after a refund from today's list
  showAmount();
  focusScan();
})();
