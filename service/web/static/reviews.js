// The review pages work without this file (a long form with numbered steps, three partner rows,
// the browser's own Print command). With it, the form shows one step at a time, partner rows can
// be added and removed, and the summary's Print button prints.
"use strict";
(function () {
  function makeButton(text, className, hiddenText) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = className;
    button.textContent = text;
    if (hiddenText) {
      var extra = document.createElement("span");
      extra.className = "visually-hidden";
      extra.textContent = hiddenText;
      button.appendChild(extra);
    }
    return button;
  }

  function liveRegion(after) {
    var region = document.createElement("p");
    region.className = "visually-hidden";
    region.setAttribute("aria-live", "polite");
    after.parentNode.insertBefore(region, after.nextSibling);
    return region;
  }

  // --- one step at a time ------------------------------------------------------------------

  function setUpSteps(form) {
    var steps = Array.prototype.slice.call(form.querySelectorAll("[data-step]"));
    var links = Array.prototype.slice.call(form.querySelectorAll("[data-step-link]"));
    var status = form.querySelector("[data-step-status]");
    if (steps.length < 2 || !status) { return; }

    function heading(n) { return steps[n].querySelector(".step-heading"); }
    function stepOf(element) {
      for (var n = 0; n < steps.length; n++) {
        if (steps[n].contains(element)) { return n; }
      }
      return -1;
    }

    function show(n, moveFocus) {
      steps.forEach(function (step, i) { step.hidden = i !== n; });
      links.forEach(function (link, i) {
        if (i === n) { link.setAttribute("aria-current", "step"); } else { link.removeAttribute("aria-current"); }
      });
      status.textContent = heading(n).textContent.replace(/\s+/g, " ").trim();
      if (moveFocus) { heading(n).focus(); }
    }

    steps.forEach(function (step, n) {
      var actions = step.querySelector(".step-submit");
      if (!actions) {
        actions = document.createElement("div");
        actions.className = "step-actions";
        step.appendChild(actions);
      }
      if (n > 0) {
        var back = makeButton("Back", "button button-secondary step-back");
        back.addEventListener("click", function () { show(n - 1, true); });
        actions.insertBefore(back, actions.firstChild);
      }
      if (n < steps.length - 1) {
        var next = makeButton("Next", "button step-next");
        next.addEventListener("click", function () { show(n + 1, true); });
        actions.appendChild(next);
      }
    });

    links.forEach(function (link, n) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        show(n, true);
      });
    });

    // Enter in a field of an earlier step moves on rather than sending a half-filled form.
    form.addEventListener("keydown", function (event) {
      var target = event.target;
      if (event.key !== "Enter" || target.tagName !== "INPUT" || target.type === "checkbox") { return; }
      var n = stepOf(target);
      if (n >= 0 && n < steps.length - 1) {
        event.preventDefault();
        show(n + 1, true);
      }
    });

    // The error summary's links lead to fields that may be on a step not shown.
    document.querySelectorAll(".error-summary a[href^='#']").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var target = document.getElementById(link.getAttribute("href").slice(1));
        var n = target ? stepOf(target) : -1;
        if (n < 0) { return; }
        event.preventDefault();
        show(n, false);
        target.focus();
      });
    });

    form.classList.add("is-stepped");
    var firstError = form.querySelector("[aria-invalid='true'], .has-error");
    var start = firstError ? stepOf(firstError) : 0;
    show(start < 0 ? 0 : start, false);
  }

  // --- partner rows ------------------------------------------------------------------------

  function setUpRows(container) {
    var max = parseInt(container.getAttribute("data-max-rows"), 10) || 70;
    var actions = document.createElement("p");
    actions.className = "row-actions";
    var add = makeButton("Add another organisation", "button button-secondary add-row");
    actions.appendChild(add);
    container.parentNode.insertBefore(actions, container.nextSibling);
    var live = liveRegion(actions);

    function rows() {
      return Array.prototype.slice.call(container.querySelectorAll("[data-partner-row]"));
    }

    function renumber() {
      var all = rows();
      all.forEach(function (row, i) {
        var prefix = "partners-" + i + "-";
        row.querySelector("[data-row-number]").textContent = String(i + 1);
        row.querySelectorAll("[name]").forEach(function (el) {
          el.name = el.name.replace(/^partners\.\d+\./, "partners." + i + ".");
        });
        row.querySelectorAll("[id]").forEach(function (el) {
          el.id = el.id.replace(/^partners-\d+-/, prefix);
        });
        row.querySelectorAll("label[for]").forEach(function (el) {
          el.htmlFor = el.htmlFor.replace(/^partners-\d+-/, prefix);
        });
        row.querySelectorAll("[aria-describedby]").forEach(function (el) {
          el.setAttribute("aria-describedby",
            el.getAttribute("aria-describedby").replace(/partners-\d+-/g, prefix));
        });
        var remove = row.querySelector(".remove-row .visually-hidden");
        if (remove) { remove.textContent = " organisation " + (i + 1); }
      });
      add.hidden = all.length >= max;
    }

    function clear(row) {
      row.querySelectorAll("input").forEach(function (el) { el.value = ""; });
      row.querySelectorAll("option[selected]").forEach(function (el) { el.removeAttribute("selected"); });
      row.querySelectorAll("select").forEach(function (el) { el.selectedIndex = 0; });
      row.querySelectorAll(".field-error").forEach(function (el) { el.parentNode.removeChild(el); });
      row.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
      row.querySelectorAll("[aria-invalid]").forEach(function (el) {
        el.removeAttribute("aria-invalid");
        el.removeAttribute("aria-describedby");
      });
    }

    function addRemoveButton(row) {
      var holder = document.createElement("p");
      holder.className = "row-actions";
      holder.appendChild(makeButton("Remove", "button button-secondary remove-row", " organisation"));
      row.appendChild(holder);
    }

    rows().forEach(addRemoveButton);
    renumber();

    add.addEventListener("click", function () {
      var all = rows();
      var row = all[all.length - 1].cloneNode(true);
      clear(row);
      container.appendChild(row);
      renumber();
      row.querySelector("input").focus();
      live.textContent = "Organisation " + rows().length + " added.";
    });

    container.addEventListener("click", function (event) {
      var button = event.target.closest(".remove-row");
      if (!button) { return; }
      var row = button.closest("[data-partner-row]");
      var all = rows();
      var index = all.indexOf(row);
      if (all.length === 1) {
        clear(row);
        row.querySelector("input").focus();
        live.textContent = "Organisation 1 cleared.";
        return;
      }
      row.parentNode.removeChild(row);
      renumber();
      var left = rows();
      left[Math.min(index, left.length - 1)].querySelector("input").focus();
      live.textContent = "Organisation " + (index + 1) + " removed; " + left.length + " left.";
    });
  }

  // --- the summary -------------------------------------------------------------------------

  function setUpPrint() {
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
    document.querySelectorAll("[data-print-hint]").forEach(function (hint) { hint.hidden = true; });
  }

  document.querySelectorAll("[data-partner-rows]").forEach(setUpRows);
  document.querySelectorAll("form[data-review-steps]").forEach(setUpSteps);
  setUpPrint();
})();
