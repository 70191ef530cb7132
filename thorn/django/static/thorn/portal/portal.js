// thorn's webhooks portal: optional enhancements; every page works without them.
// - "Copy" buttons (hidden without JavaScript) copy the text of the element
//   named by their data-copy attribute.
// - A deliveries list with data-refresh="<seconds>" is fetched again every so
//   often, while the page is visible and nothing inside it has the focus.
(function () {
  "use strict";

  function setUpCopy(button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target || !navigator.clipboard) {
      return;
    }
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(target.textContent).then(function () {
        button.textContent = "\u2713 " + label;
        window.setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  }

  function setUpRefresh(list) {
    var seconds = parseFloat(list.getAttribute("data-refresh"));
    if (!(seconds > 0) || !window.fetch || !window.DOMParser) {
      return;
    }
    window.setInterval(function () {
      if (document.hidden || list.contains(document.activeElement)) {
        return;
      }
      window.fetch(window.location.href, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) {
            return;
          }
          var page = new DOMParser().parseFromString(html, "text/html");
          var fresh = page.getElementById(list.id);
          if (fresh && fresh.innerHTML !== list.innerHTML && !list.contains(document.activeElement)) {
            list.innerHTML = fresh.innerHTML;
          }
        })
        .catch(function () { /* try again at the next tick */ });
    }, seconds * 1000);
  }

  document.querySelectorAll("button[data-copy]").forEach(setUpCopy);
  document.querySelectorAll("[data-refresh]").forEach(setUpRefresh);
})();
