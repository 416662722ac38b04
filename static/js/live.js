// Live events: poll the workspace's JSON feed every 2 s (plain HTTP, so it works behind sync
// gunicorn workers) and prepend new rows. Pauses while the tab is hidden.
(function () {
  "use strict";
  var rows = document.getElementById("live-rows");
  var card = document.getElementById("live-card");
  var status = document.getElementById("live-status");
  var latestEl = document.getElementById("live-latest");
  var urlEl = document.getElementById("live-poll-url");
  if (!rows || !latestEl || !urlEl) return;
  var latest = JSON.parse(latestEl.textContent) || 0;
  var pollUrl = JSON.parse(urlEl.textContent);
  var seen = {};
  rows.querySelectorAll("tr[data-event-id]").forEach(function (tr) { seen[tr.getAttribute("data-event-id")] = true; });
  var MAX_ROWS = 200;
  var INTERVAL = 2000;
  var failures = 0;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function row(e) {
    var tr = el("tr", { "data-event-id": String(e.id), "class": "fresh" });
    tr.appendChild(el("td", { "class": "nowrap muted" }, e.time));
    var src = el("td");
    src.appendChild(el("span", { "class": "badge src-" + e.source }, e.source_label || e.source));
    tr.appendChild(src);
    var what = el("td");
    what.appendChild(el("strong", {}, e.title));
    var detail = [e.description, e.happened ? "happened " + e.happened : ""].filter(Boolean).join(" · ");
    if (detail) what.appendChild(el("div", { "class": "muted", "style": "font-size:.88rem" }, detail));
    tr.appendChild(what);
    var who = el("td");
    if (e.customer) who.appendChild(el("a", { href: e.customer.url }, e.customer.label));
    else who.appendChild(el("span", { "class": "muted" }, "Anonymous (not stitched)"));
    tr.appendChild(who);
    var rung = el("td");
    rung.appendChild(el("span", { "class": "badge rung-" + e.rung }, e.rung + " · " + e.rung_name));
    tr.appendChild(rung);
    return tr;
  }

  function setStatus(text, paused) {
    if (!status) return;
    status.querySelector(".text").textContent = text;
    status.classList.toggle("paused", !!paused);
  }

  function poll() {
    if (document.hidden) { schedule(); return; }
    fetch(pollUrl + "?after=" + encodeURIComponent(latest), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        var events = data.events || [];
        if (events.length) {
          var placeholder = rows.querySelector("tr.placeholder");
          if (placeholder) placeholder.parentNode.removeChild(placeholder);
          if (card) card.hidden = false;
          // Newest first from the server: insert oldest first at the top, so the newest ends on top.
          for (var i = events.length - 1; i >= 0; i--) {
            var key = String(events[i].id);
            if (seen[key]) continue;
            seen[key] = true;
            rows.insertBefore(row(events[i]), rows.firstChild);
          }
          while (rows.children.length > MAX_ROWS) rows.removeChild(rows.lastChild);
        }
        if (events.length) latest = events[0].id;
        setStatus("Listening: new events appear here as they arrive", false);
      })
      .catch(function () {
        failures += 1;
        setStatus("Connection lost: retrying…", true);
      })
      .then(schedule);
  }

  function schedule() { setTimeout(poll, failures ? Math.min(INTERVAL * (failures + 1), 30000) : INTERVAL); }
  schedule();
})();
