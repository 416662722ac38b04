// "Load more" on a customer's event ledger: fetch the next page as HTML rows and append them,
// so the page never reloads and the oldest-first order continues. Without JS the link still works.
(function () {
  "use strict";
  var list = document.getElementById("ledger");
  var link = document.getElementById("load-more");
  if (!list || !link) return;
  link.addEventListener("click", function (event) {
    event.preventDefault();
    var url = link.getAttribute("href");
    link.textContent = "Loading…";
    fetch(url + (url.indexOf("?") >= 0 ? "&" : "?") + "fragment=1", { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        holder.querySelectorAll("li[data-event-id]").forEach(function (row) { list.appendChild(row); });
        var next = holder.querySelector("template[data-more-url]");
        if (next) {
          link.setAttribute("href", next.getAttribute("data-more-url"));
          link.textContent = "Load more";
        } else {
          link.parentNode.removeChild(link);
        }
      })
      .catch(function () { link.textContent = "Could not load more: try again"; });
  });
})();
