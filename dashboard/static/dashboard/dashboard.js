// The dashboard refreshes itself: every data-refresh seconds it reads the page's JSON (data-url) and writes
// each value into the element whose data-figure names it, each state into data-state, each chart's SVG.
(function () {
  "use strict";
  var root = document.getElementById("afxq-dashboard");
  if (!root) { return; }
  var url = root.getAttribute("data-url");
  var seconds = parseInt(root.getAttribute("data-refresh"), 10) || 15;
  var CSS = {healthy: "afxq-ok", degraded: "afxq-warn", down: "afxq-bad", halted: "afxq-bad", ok: "afxq-ok",
             silent: "afxq-bad", online: "afxq-ok", offline: "afxq-bad"};

  function apply(data) {
    var values = data.values || {}, states = data.states || {}, charts = data.charts || {};
    root.querySelectorAll("[data-figure]").forEach(function (el) {
      var key = el.getAttribute("data-figure");
      if (Object.prototype.hasOwnProperty.call(values, key)) { el.textContent = String(values[key]); }
      if (Object.prototype.hasOwnProperty.call(states, key)) {
        el.classList.remove("afxq-ok", "afxq-warn", "afxq-bad");
        if (CSS[states[key]]) { el.classList.add(CSS[states[key]]); }
        el.setAttribute("data-state", states[key]);
      }
    });
    root.querySelectorAll("[data-bar]").forEach(function (el) {
      var key = el.getAttribute("data-bar");
      if (Object.prototype.hasOwnProperty.call(values, key)) { el.style.width = values[key] + "%"; }
    });
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var key = el.getAttribute("data-chart");
      // Markup drawn and escaped by our own server (dashboard/charts.py), never text from outside.
      if (charts[key]) { el.innerHTML = charts[key]; }
    });
    var stamp = document.getElementById("afxq-refreshed");
    if (stamp && data.at) { stamp.textContent = new Date(data.at).toLocaleTimeString(); }
  }

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { apply(data); } })
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { window.setTimeout(poll, seconds * 1000); });
  }
  window.setTimeout(poll, seconds * 1000);
}());
