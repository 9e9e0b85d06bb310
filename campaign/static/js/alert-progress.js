/* Live progress of an alert: polls the same-origin JSON endpoint named by data-url on
   #alert-progress and updates the figures and <progress> bars. Without JavaScript the page
   refreshes itself instead (a <noscript> meta refresh). No third-party code, no tracking. */
(function () {
  "use strict";
  var root = document.getElementById("alert-progress");
  if (!root || !window.fetch) { return; }
  var url = root.getAttribute("data-url");
  var delay = 3000;

  function lookup(data, path) {
    return path.split(".").reduce(function (value, key) {
      return value === null || value === undefined ? undefined : value[key];
    }, data);
  }

  function show(data) {
    root.querySelectorAll("[data-field]").forEach(function (node) {
      var value = lookup(data, node.getAttribute("data-field"));
      if (value === undefined || value === null) { value = node.getAttribute("data-empty") || ""; }
      if (typeof value === "number" && node.hasAttribute("data-seconds")) {
        var minutes = Math.floor(value / 60);
        value = (minutes ? minutes + " min " : "") + (value % 60) + " s";
      }
      node.textContent = String(value);
    });
    root.querySelectorAll("progress[data-bar]").forEach(function (bar) {
      var counts = lookup(data, bar.getAttribute("data-bar"));
      if (!counts) { return; }
      bar.max = Math.max(counts.total, 1);
      bar.value = counts.done;
    });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) {
        show(data);
        if (!data.final) { window.setTimeout(poll, delay); }
        else if (root.getAttribute("data-final") !== "1") { window.location.reload(); }
      })
      .catch(function () { window.setTimeout(poll, delay * 4); });
  }

  window.setTimeout(poll, delay);
}());
