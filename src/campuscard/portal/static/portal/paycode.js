// Pay-code page: keep a batch of one-time offline codes and show one when the phone is offline.
(function () {
  const root = document.getElementById("paycode");
  if (!root) return;
  const card = root.dataset.card;
  const key = "cc-offline-" + card;
  // The batch kept on this phone: { limit, expires (ms), codes: [{code, svg}] }. A code counts only while it
  // still works: expired batches are dropped, and each code shown is removed (it is accepted once).
  const load = () => {
    let batch;
    try { batch = JSON.parse(localStorage.getItem(key)) || { codes: [] }; } catch (e) { batch = { codes: [] }; }
    if (!batch.expires || batch.expires <= Date.now()) batch = { codes: [] };
    return batch;
  };
  const save = (batch) => localStorage.setItem(key, JSON.stringify(batch));
  const REFILL_BELOW = 5, REFILL_HOURS = 6;

  async function refill() {
    const batch = load();
    const fresh = batch.codes.length >= REFILL_BELOW && batch.expires - Date.now() > REFILL_HOURS * 3600e3;
    if (fresh || !navigator.onLine) { showCount(); return; }
    const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
    try {
      const response = await fetch(root.dataset.offlineUrl, { method: "POST", headers: { "X-CSRFToken": csrf } });
      if (response.ok) {
        const got = await response.json();
        save({ limit: got.limit, expires: got.expires, codes: got.codes });  // a new batch replaces the old one
      }
    } catch (e) { /* offline: keep what we have */ }
    showCount();
  }

  function showCount() {
    const batch = load();
    const counter = document.getElementById("offline-count");
    if (counter) counter.textContent = batch.codes.length;
    const until = document.getElementById("offline-until");
    if (until) {
      until.hidden = !batch.codes.length;
      if (batch.codes.length) {
        const when = new Date(batch.expires);
        const sameDay = when.toDateString() === new Date().toDateString();
        until.querySelector("time").dateTime = when.toISOString();
        until.querySelector("time").textContent = when.toLocaleString(document.documentElement.lang || undefined,
          sameDay ? { hour: "2-digit", minute: "2-digit" } : { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
      }
    }
  }

  function showOffline() {
    const batch = load();
    const next = batch.codes.shift();
    const box = document.getElementById("offline-code");
    if (!box) return;
    save(batch);  // each offline code is shown once: it can be accepted only once
    box.hidden = false;
    box.querySelector(".qr").innerHTML = next ? next.svg : "";
    box.querySelector(".qr").dataset.code = next ? next.code : "";
    document.getElementById("offline-empty").hidden = !!next;
    box.querySelector(".limit").textContent = batch.limit || "";
    for (const id of ["online-code", "paid", "offline-bar"]) {
      const element = document.getElementById(id);
      if (element) element.hidden = true;
    }
    showCount();
    document.getElementById("back-online")?.focus();
  }

  function backOnline() {
    const box = document.getElementById("offline-code");
    if (box) { box.hidden = true; box.querySelector(".qr").innerHTML = ""; }
    document.getElementById("offline-bar").hidden = false;
    nextCode();  // a fresh online code (the one on the page may have expired meanwhile)
    refill();
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
  document.getElementById("back-online")?.addEventListener("click", backOnline);
  if (!navigator.onLine) showOffline(); else refill();
  showCount();
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js", { scope: "/" });
})();
