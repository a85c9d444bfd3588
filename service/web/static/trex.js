// trex pages work without this file; it only adds comfort where the browser runs scripts.
"use strict";
(function () {
  // After a form comes back with errors, move focus to the summary so screen readers hear it.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); }
  });
  // Buttons that ask before they act (withdraw, revoke): data-confirm="question".
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
})();
