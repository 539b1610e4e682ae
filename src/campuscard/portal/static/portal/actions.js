/* Small page behaviours bound from data- attributes, so no page needs an inline <script> or an on*= handler
   (#18: Content-Security-Policy without 'unsafe-inline' for scripts — core/csp.py). One delegated listener per
   event on the document, so parts swapped in by htmx work too.

   data-autosubmit            on <select>/<input>: submit the form when the value changes
   data-print                 on a button: print the page
   data-confirm="…"           on a <form>: ask before submitting; on a button/link: ask before its click
   data-fill="#id" data-value on a button: put the value into the field #id
   data-select-all            on an <input>: select its text when clicked
   data-copy="#id" data-copied="…"  on a button: copy the field's value, then say so on the button
   data-reload-after="ms"     anywhere: reload the page after that many milliseconds
   data-reset-after-request   on an htmx form: reset it after a successful request, then focus data-refocus
                              and scroll data-scroll-last's last child into view
   data-keep-focus="#id"      on <body>: a click anywhere but a control puts the focus back on #id (a wedge
                              reader types into whatever has focus) */
(function () {
  "use strict";

  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el && el.matches && el.matches("[data-autosubmit]") && el.form) el.form.submit();
  });

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form && form.matches && form.matches("form[data-confirm]") && !window.confirm(form.dataset.confirm)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!t || !t.closest) return;
    var asker = t.closest("button[data-confirm], a[data-confirm], input[data-confirm]");
    if (asker && !window.confirm(asker.dataset.confirm)) {
      e.preventDefault();
      e.stopImmediatePropagation();
      return;
    }
    if (t.closest("[data-print]")) { window.print(); return; }
    var fill = t.closest("[data-fill]");
    if (fill) {
      var field = document.querySelector(fill.dataset.fill);
      if (field) { field.value = fill.dataset.value; field.dispatchEvent(new Event("input", { bubbles: true })); }
      return;
    }
    var copy = t.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.dataset.copy);
      if (source && navigator.clipboard) navigator.clipboard.writeText(source.value);
      if (copy.dataset.copied) copy.textContent = copy.dataset.copied;
      return;
    }
    if (t.matches("[data-select-all]")) { t.select(); return; }
    var keep = document.body && document.body.dataset.keepFocus;
    if (keep && !t.closest("select, button, a, summary, input, textarea, label")) {
      var f = document.querySelector(keep);
      if (f) f.focus();
    }
  });

  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.target;
    if (!form || !form.matches || !form.matches("form[data-reset-after-request]")) return;
    if (form.hasAttribute("data-only-successful") && !(e.detail && e.detail.successful)) return;
    form.reset();
    if (form.dataset.refocus) { var f = form.querySelector(form.dataset.refocus); if (f) f.focus(); }
    if (form.dataset.scrollLast) {
      var log = document.querySelector(form.dataset.scrollLast);
      if (log && log.lastElementChild) log.lastElementChild.scrollIntoView({ block: "nearest" });
    }
  });

  function armReload() {
    var el = document.querySelector("[data-reload-after]");
    if (el) setTimeout(function () { window.location.reload(); }, parseInt(el.dataset.reloadAfter, 10) || 15000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", armReload);
  else armReload();
})();
