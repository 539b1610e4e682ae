// Pay-code page: keep a batch of one-time offline codes and show one when the phone is offline.
(function () {
  const root = document.getElementById("paycode");
  if (!root) return;
  const card = root.dataset.card;
  const key = "cc-offline-" + card;
  const load = () => { try { return JSON.parse(localStorage.getItem(key)) || { codes: [] }; } catch (e) { return { codes: [] }; } };
  const save = (batch) => localStorage.setItem(key, JSON.stringify(batch));

  async function refill() {
    const batch = load();
    if (batch.codes.length >= 5 || !navigator.onLine) return;
    const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
    const response = await fetch(root.dataset.offlineUrl, { method: "POST", headers: { "X-CSRFToken": csrf } });
    if (response.ok) {
      const fresh = await response.json();
      save({ limit: fresh.limit, codes: fresh.codes });  // a new batch replaces the old one
    }
    showCount();
  }

  function showCount() {
    const counter = document.getElementById("offline-count");
    if (counter) counter.textContent = load().codes.length;
  }

  function showOffline() {
    const batch = load();
    const next = batch.codes.shift();
    const box = document.getElementById("offline-code");
    if (!box) return;
    if (!next) { box.hidden = false; box.querySelector(".qr").innerHTML = ""; return; }
    save(batch);  // each offline code is shown once: it can be accepted only once
    box.hidden = false;
    box.querySelector(".qr").innerHTML = next.svg;
    box.querySelector(".limit").textContent = batch.limit || "";
    const online = document.getElementById("online-code");
    if (online) online.hidden = true;
  }

  // The page learns that its code was used (a cheap status request every 2 s, only while visible), shows
  // the payment like the big wallets do, then the step's next code.
  const paid = document.getElementById("paid");
  function nextCode() {
    if (paid) paid.hidden = true;
    const online = document.getElementById("online-code");
    if (online) online.hidden = false;
    const live = document.getElementById("live-code");
    if (live && window.htmx) window.htmx.trigger(live, "paycode-next");
  }
  async function poll() {
    const live = document.getElementById("live-code");
    const online = document.getElementById("online-code");
    if (document.hidden || !navigator.onLine || !live || !live.dataset.code || (online && online.hidden)) return;
    try {
      const response = await fetch(live.dataset.statusUrl, {
        method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" },
        body: JSON.stringify({ ticket: live.dataset.ticket, code: live.dataset.code }) });
      if (!response.ok) return;
      const status = await response.json();
      if (!status.used || live.dataset.code !== document.getElementById("live-code")?.dataset.code) return;
      if (status.payment && paid) {
        for (const field of ["amount", "merchant", "at", "balance"]) paid.querySelector(".paid-" + field).textContent = status.payment[field];
        paid.hidden = false;
        online.hidden = true;
        setTimeout(nextCode, 4000);
      } else nextCode();
    } catch (e) { /* offline for a moment: the next tick asks again */ }
  }
  document.getElementById("next-code")?.addEventListener("click", nextCode);
  setInterval(poll, 2000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });

  window.addEventListener("offline", showOffline);
  document.getElementById("show-offline")?.addEventListener("click", showOffline);
  if (!navigator.onLine) showOffline(); else refill();
  showCount();
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js", { scope: "/" });
})();
