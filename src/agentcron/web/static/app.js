/* agentcron console: panel toggles and the viewer's timezone. No dependencies. */
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("[data-toggle]");
    if (!button) return;
    var panel = document.getElementById(button.getAttribute("data-toggle"));
    if (!panel) return;
    var open = panel.hidden;
    document.querySelectorAll(".panel").forEach(function (p) { if (p !== panel) p.hidden = true; });
    document.querySelectorAll("[data-toggle]").forEach(function (b) { b.setAttribute("aria-expanded", "false"); });
    panel.hidden = !open;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      var first = panel.querySelector("input:not([type=hidden]), button");
      if (first) first.focus();
    } else {
      var opener = document.querySelector('[data-toggle="' + panel.id + '"][aria-expanded]');
      if (opener) opener.focus();
    }
  });
  function setZone() {
    var tz = "UTC";
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* UTC */ }
    var changed = false;
    document.querySelectorAll("input[name=viewerZone]").forEach(function (i) {
      if (!i.value) { i.value = tz; changed = true; }
    });
    if (changed) document.body.dispatchEvent(new CustomEvent("viewerzone"));
  }
  document.addEventListener("DOMContentLoaded", setZone);
  document.addEventListener("htmx:afterSettle", setZone);
})();
