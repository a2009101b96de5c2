// The referral form, enhanced: show at once what the ASQ answers mean for the priority, and
// stop a second click from sending the form twice (the server is safe either way: the form's
// Idempotency-Key files it once).
(function () {
  "use strict";
  var form = document.getElementById("referral-form");
  if (!form) { return; }
  var preview = document.getElementById("priority-preview");

  function answer(q) {
    var checked = form.querySelector('input[name="asq_' + q + '"]:checked');
    return checked ? checked.value : null;
  }

  function showPriority() {
    var screenedIn = ["q1", "q2", "q3", "q4"].some(function (q) {
      var a = answer(q);
      return a === "yes" || a === "refused";
    });
    var q5 = answer("q5");
    var text = "";
    var acute = form.querySelector('input[name="imminent_danger"]').checked ||
      (screenedIn && (q5 === "yes" || q5 === "refused"));
    if (acute) {
      text = preview.dataset.immediateText;
    } else if (screenedIn) {
      text = preview.dataset.urgentText;
    }
    preview.textContent = "";
    if (text) {
      var p = document.createElement("p");
      p.className = "acute";
      p.textContent = text;
      preview.appendChild(p);
    }
  }

  form.addEventListener("change", function (event) {
    if (event.target.name && (event.target.name.indexOf("asq_") === 0 || event.target.name === "imminent_danger")) {
      showPriority();
    }
  });

  form.addEventListener("submit", function () {
    var button = document.getElementById("file-referral");
    // Disable after this event so the form's own submission still carries the button.
    setTimeout(function () { button.disabled = true; }, 0);
  });
})();
