// Operator pages work without this file; it only adds a copy button for an issued token.
"use strict";
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy-from]").forEach(function (button) {
      var field = document.getElementById(button.getAttribute("data-copy-from"));
      var status = button.parentElement.querySelector(".copy-status");
      if (!field || !navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(field.value).then(function () {
          if (status) { status.textContent = "Copied."; }
        }, function () {
          field.select();
          if (status) { status.textContent = "Copying was refused: select the token and copy it."; }
        });
      });
    });
  });
})();
