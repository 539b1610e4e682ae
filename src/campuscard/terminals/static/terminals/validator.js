/* Bus validator simulator (TRN-2): decides taps from the signed snapshot with no network, keeps them in a
   buffer (localStorage, so a reload loses nothing) and uploads them when online. The server charges each
   (validator, counter) once, so uploading the same buffer twice is harmless. */
(function () {
  var box = document.getElementById("validator");
  if (!box) return;
  var T = JSON.parse(document.getElementById("validator-text").textContent);
  var key = "cc-validator:" + box.dataset.device;
  var state = JSON.parse(localStorage.getItem(key) || "{}");
  state.counter = state.counter || 0; state.buffer = state.buffer || [];
  var $ = function (id) { return document.getElementById(id); };
  var online = $("validator-online");

  function save() { localStorage.setItem(key, JSON.stringify(state)); }
  function yuan(fen) { return "¥" + (fen / 100).toFixed(2); }
  function fmt(s, p) { return s.replace(/%\((\w+)\)s/g, function (_m, k) { return p[k]; }); }

  function render() {
    var mode = $("validator-mode");
    mode.dataset.mode = online.checked ? "online" : "offline";
    mode.textContent = online.checked ? T.online : T.offline;
    var snap = state.snapshot;
    $("validator-deny-version").textContent = snap ? snap.deny_list.version : "—";
    $("validator-holders").textContent = snap ? Object.keys(snap.holders).length : "—";
    $("validator-synced").textContent = state.syncedAt ? new Date(state.syncedAt).toLocaleTimeString() : "—";
    $("validator-sync").disabled = $("validator-upload").disabled = !online.checked;
    $("validator-buffer-count").textContent = state.buffer.length;
    var rows = state.buffer.slice().reverse().map(function (t) {
      return "<tr data-counter='" + t.counter + "'><td>" + t.counter + "</td><td class='mono'>" + t.uid + "</td><td class='when'>" +
        new Date(t.tapped_at).toLocaleTimeString() + "</td><td>" + yuan(t.fare) + " <small>" + (T[t.klass] || "") + "</small></td></tr>";
    });
    $("validator-buffer").innerHTML = rows.join("");
  }

  function fare(snap, klass) {
    var op = snap.operator, r = snap.route;
    var pct = klass === "student" ? op.student_discount_percent : klass === "staff" ? op.staff_discount_percent : 0;
    return r.fare - Math.floor((r.fare * pct + 50) / 100);
  }

  // an inline SVG tick or cross, not a glyph (the installed fonts may draw those as empty boxes, #17)
  function icon(path) {
    return "<svg viewBox='0 0 24 24' width='1em' height='1em' aria-hidden='true' fill='none' stroke='currentColor' " +
      "stroke-width='2.4' stroke-linecap='round' stroke-linejoin='round'><path d='" + path + "'/></svg>";
  }

  function verdict(ok, text, sub) {
    $("validator-result").innerHTML = "<div class='verdict-panel " + (ok ? "admit" : "refuse") + "' data-outcome='" +
      (ok ? "ride" : "refuse") + "'><div class='verdict'>" + icon(ok ? "M5 12.5l4.5 4.5L19 7.5" : "M6 6l12 12M18 6L6 18") + "</div><p class='reason'>" + text +
      "</p>" + (sub ? "<p class='fare'>" + sub + "</p>" : "") + "</div>";
  }

  function tap(raw) {
    var uid = raw.trim().toUpperCase().replace(/:/g, "");
    if (!uid) return;
    var snap = state.snapshot;
    if (!snap) { verdict(false, T.no_list); return; }
    if (snap.deny_list.nfc_uids.indexOf(uid) >= 0) { verdict(false, T.denied); return; }
    var klass = snap.holders[uid];
    if (!klass) { verdict(false, T.not_bound); return; }
    var f = fare(snap, klass);
    state.counter += 1;
    state.buffer.push({counter: state.counter, uid: uid, tapped_at: new Date().toISOString(), fare: f, klass: klass});
    save(); render();
    verdict(true, T.ride, yuan(f) + " · " + (T[klass] || klass));
  }

  function sync() {
    if (!online.checked) return;
    fetch(box.dataset.snapshotUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (snap) {
      if (!snap.signatures) return;
      if (state.snapshot && snap.serial < state.snapshot.serial) return;  // never an older list
      state.snapshot = snap; state.syncedAt = Date.now(); save(); render();
    });
  }

  function upload() {
    var out = $("validator-upload-result");
    if (!online.checked) { out.textContent = T.upload_offline; return; }
    if (!state.buffer.length) return;
    var batch = state.buffer.slice();
    var body = {deny_version: state.snapshot ? state.snapshot.deny_list.version : 0,
                taps: batch.map(function (t) { return {counter: t.counter, uid: t.uid, tapped_at: t.tapped_at}; })};
    fetch(box.dataset.uploadUrl, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": box.dataset.csrf}, body: JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (j) { return {ok: r.ok, body: j}; }); })
      .then(function (res) {
        if (!res.ok) { out.textContent = res.body.message || T.upload_failed; return; }
        var sent = {}; batch.forEach(function (t) { sent[t.counter] = true; });
        state.buffer = state.buffer.filter(function (t) { return !sent[t.counter]; });
        save(); render();
        out.dataset.charged = res.body.charged;
        out.textContent = fmt(T.uploaded, {charged: res.body.charged, duplicates: res.body.duplicates,
                                             refused: res.body.refused.length, flagged: res.body.flagged.length});
        sync();
      }).catch(function () { out.textContent = T.upload_failed; });
  }

  $("validator-form").addEventListener("submit", function (e) {
    e.preventDefault(); var input = $("validator-input"); tap(input.value); input.value = ""; input.focus();
  });
  $("validator-sync").addEventListener("click", sync);
  $("validator-upload").addEventListener("click", upload);
  online.addEventListener("change", function () { render(); if (online.checked) sync(); });
  document.addEventListener("click", function (e) {
    if (!e.target.closest("button, a, label, input")) $("validator-input").focus();
  });
  render();
  if (online.checked && !state.snapshot) sync();
})();
