// Idle time-out warning: the server ends a session after it has been idle for
// data-idle-minutes; a few minutes before that, offer to stay signed in.
(function () {
  "use strict";
  var body = document.body;
  var idleMinutes = parseFloat(body.dataset.idleMinutes || "0");
  if (!idleMinutes) { return; }
  var warnBefore = parseFloat(body.dataset.warnBeforeMinutes || "5");
  var warning = document.getElementById("idle-warning");
  var stay = document.getElementById("stay-signed-in");
  var tokenMeta = document.querySelector('meta[name="csrf-token"]');
  var warnTimer = null;
  var endTimer = null;

  function schedule() {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    warnTimer = setTimeout(showWarning, (idleMinutes - warnBefore) * 60000);
    endTimer = setTimeout(signedOut, idleMinutes * 60000);
  }

  function showWarning() {
    warning.hidden = false;
    stay.focus();
  }

  function signedOut() {
    window.location.assign(body.dataset.signedOut);
  }

  function keepAlive(event) {
    event.preventDefault();
    fetch(body.dataset.keepAlive, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": tokenMeta ? tokenMeta.content : "" }
    }).then(function (response) {
      if (response.ok) {
        warning.hidden = true;
        schedule();
      } else {
        signedOut();
      }
    }, function () {
      // Offline for a moment: keep the warning up so the user can try again.
    });
  }

  if (warning && stay) {
    stay.form.addEventListener("submit", keepAlive);
  }
  // Any request that reaches the server (a page, or an in-place htmx update) counts as activity.
  document.addEventListener("htmx:afterRequest", schedule);
  schedule();
})();
