/* Bus validator simulator (TRN-2): decides taps from the signed snapshot with no network, keeps them in a
   buffer (localStorage, so a reload loses nothing) and uploads them when online. The server charges each
   (validator, counter) once, so uploading the same buffer twice is harmless.
   A downloaded snapshot is trusted only if its Ed25519 signature verifies (WebCrypto) with a key the
   validator trusts — the keys it was provisioned with, then each verified snapshot's visitor_keys, as a
   gate does (access.offline) — and no signature by a trusted key fails (#20 item 2). A card is read as
   its NFC UID; a phone (HCE) shows its one-time code CC1.<token>.<digits>: the token is checked here, the
   digits on upload. */
(function () {
  var box = document.getElementById("validator");
  if (!box) return;
  var T = JSON.parse(document.getElementById("validator-text").textContent);
  var key = "cc-validator:" + box.dataset.device;
  var state = JSON.parse(localStorage.getItem(key) || "{}");
  state.counter = state.counter || 0; state.buffer = state.buffer || [];
  var $ = function (id) { return document.getElementById(id); };
  var online = $("validator-online");
  var PHONE = /^CC1\.([A-Z2-7]{10})\.(\d{8})$/;

  var provisioned = JSON.parse($("validator-keys").textContent);

  // the canonical body the server signs: keys sorted, no spaces (Python's json.dumps(sort_keys=True,
  // separators=(",", ":"), ensure_ascii=False)); the snapshot holds only strings, integers, lists and objects
  function canonical(v) {
    if (v === null || typeof v !== "object") return JSON.stringify(v);
    if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
    return "{" + Object.keys(v).sort().map(function (k) { return JSON.stringify(k) + ":" + canonical(v[k]); }).join(",") + "}";
  }

  function bytes(b64) {
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // true: a trusted key's signature verifies and none fails; false: one fails (altered); null: no key this
  // validator trusts signed it
  function verify(snap, keys) {
    if (!snap || snap.kind !== "transit" || !snap.signatures || !window.crypto || !crypto.subtle) return Promise.resolve(false);
    var body = {};
    Object.keys(snap).forEach(function (k) { if (k !== "signatures") body[k] = snap[k]; });
    var message = new TextEncoder().encode(canonical(body));
    var checks = Object.keys(snap.signatures).filter(function (id) { return keys[id]; }).map(function (id) {
      return crypto.subtle.importKey("raw", bytes(keys[id]), {name: "Ed25519"}, false, ["verify"]).then(function (key) {
        return crypto.subtle.verify({name: "Ed25519"}, key, bytes(snap.signatures[id]), message);
      });
    });
    if (!checks.length) return Promise.resolve(null);
    return Promise.all(checks).then(function (ok) { return ok.every(Boolean); }, function () { return false; });
  }

  function verified(ok) {
    var chip = $("validator-verify");
    chip.dataset.verified = ok ? "ok" : "fail";
    chip.textContent = ok ? T.verified : T.forged;
    if (!ok) verdict(false, T.forged);
  }

  function save() { localStorage.setItem(key, JSON.stringify(state)); }
  function yuan(fen) { return "¥" + (fen / 100).toFixed(2); }
  function fmt(s, p) { return s.replace(/%\((\w+)\)s/g, function (_m, k) { return p[k]; }); }

  function render() {
    var mode = $("validator-mode");
    mode.dataset.mode = online.checked ? "online" : "offline";
    mode.textContent = online.checked ? T.online : T.offline;
    var snap = state.snapshot;
    $("validator-deny-version").textContent = snap ? snap.deny_list.version : "—";
    $("validator-holders").textContent = snap ? Object.keys(snap.holders).length + Object.keys(snap.phones || {}).length : "—";
    $("validator-synced").textContent = state.syncedAt ? new Date(state.syncedAt).toLocaleTimeString() : "—";
    $("validator-sync").disabled = $("validator-upload").disabled = !online.checked;
    $("validator-buffer-count").textContent = state.buffer.length;
    var rows = state.buffer.slice().reverse().map(function (t) {
      var who = t.hce ? T.phone + " " + t.hce : t.uid;
      return "<tr data-counter='" + t.counter + "'" + (t.hce ? " data-medium='hce'" : "") + "><td>" + t.counter +
        "</td><td class='mono'>" + who + "</td><td class='when'>" +
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
    var phone = PHONE.exec(uid), entry;
    if (phone) {  // the phone's token is what the list names; its digits travel with the tap
      if ((snap.deny_list.hce_tokens || []).indexOf(phone[1]) >= 0) { verdict(false, T.denied); return; }
      entry = {hce: phone[1], code: phone[2], klass: (snap.phones || {})[phone[1]]};
    } else {
      if (snap.deny_list.nfc_uids.indexOf(uid) >= 0) { verdict(false, T.denied); return; }
      entry = {uid: uid, klass: snap.holders[uid]};
    }
    var klass = entry.klass;
    if (!klass) { verdict(false, T.not_bound); return; }
    var f = fare(snap, klass);
    state.counter += 1;
    entry.counter = state.counter; entry.tapped_at = new Date().toISOString(); entry.fare = f;
    state.buffer.push(entry);
    save(); render();
    verdict(true, T.ride, yuan(f) + " · " + (T[klass] || klass));
  }

  function sync() {
    if (!online.checked) return;
    fetch(box.dataset.snapshotUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (snap) {
      // the keys it adopted from its last verified list; if none of them signed (the institution's keys were
      // replaced since), the keys it is provisioned with — an altered list fails either way
      var held = state.trusted ? verify(snap, state.trusted) : Promise.resolve(null);
      return held.then(function (ok) { return ok === null ? verify(snap, provisioned) : ok; }).then(function (ok) {
        if (!ok || snap.device !== box.dataset.device) { verified(false); return; }  // the old list stays
        verified(true);
        if (state.snapshot && (snap.institution !== state.snapshot.institution || snap.serial < state.snapshot.serial)) return;  // never an older list
        state.snapshot = snap; state.trusted = snap.visitor_keys; state.syncedAt = Date.now(); save(); render();
      });
    }).catch(function () { verified(false); });
  }

  function upload() {
    var out = $("validator-upload-result");
    if (!online.checked) { out.textContent = T.upload_offline; return; }
    if (!state.buffer.length) return;
    var batch = state.buffer.slice();
    var body = {deny_version: state.snapshot ? state.snapshot.deny_list.version : 0,
                taps: batch.map(function (t) {
                  return t.hce ? {counter: t.counter, hce: t.hce, code: t.code, tapped_at: t.tapped_at}
                               : {counter: t.counter, uid: t.uid, tapped_at: t.tapped_at};
                })};
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
