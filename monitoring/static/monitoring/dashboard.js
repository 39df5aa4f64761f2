// Refresh the dashboard's figures in place: fetch the live part every few seconds and swap
// it in. A failed fetch keeps the figures shown and says so; a lost session (the admin
// answers with its login page) stops the refresh instead of showing the login form inside.
(function () {
  "use strict";
  var live = document.getElementById("dashboard-live");
  if (!live || !window.fetch) {
    return;
  }
  var url = live.dataset.url;
  var seconds = parseInt(live.dataset.refreshSeconds, 10) || 15;
  var timer = null;

  function note(text) {
    var asOf = document.getElementById("dashboard-as-of");
    if (asOf) {
      asOf.textContent = asOf.textContent.split(" (")[0] + " (" + text + ")";
    }
  }

  function refresh() {
    if (document.hidden) {
      return;
    }
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.clearInterval(timer);
          note("signed out: reload the page");
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        if (html !== null) {
          live.innerHTML = html;
          live.dataset.refreshedAt = String(Date.now());
        }
      })
      .catch(function (error) {
        note("refresh failed: " + error.message + "; retrying");
      });
  }

  timer = window.setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });
})();
