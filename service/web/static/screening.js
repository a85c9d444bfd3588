// Batch screening with a progress bar. Without this file the form posts as usual and the
// browser downloads the report; with it, the file is posted with fetch, the report is read as
// the node streams it, its rows are counted against the rows of the file, and the finished
// report is offered as a download link.
"use strict";
(function () {
  // A CSV reader fed text in pieces, as it arrives: a record may span pieces, and quoted
  // cells may hold delimiters, quotes ("") and line breaks. Calls onRecord(cells) per record.
  function CsvReader(delimiter, onRecord) {
    this.delimiter = delimiter;
    this.onRecord = onRecord;
    this.cell = "";
    this.cells = [];
    this.quoted = false;
    this.afterQuote = false;
    this.any = false;
  }
  CsvReader.prototype.push = function (text) {
    for (var i = 0; i < text.length; i++) {
      var c = text.charAt(i);
      if (this.quoted) {
        if (c === '"') { this.quoted = false; this.afterQuote = true; } else { this.cell += c; }
        continue;
      }
      if (c === '"') {
        // A quote right after a closing one is an escaped quote inside the cell.
        if (this.afterQuote) { this.cell += '"'; }
        this.quoted = true;
        this.afterQuote = false;
        this.any = true;
        continue;
      }
      this.afterQuote = false;
      if (c === this.delimiter) {
        this.cells.push(this.cell);
        this.cell = "";
        this.any = true;
      } else if (c === "\n") {
        this.endRecord();
      } else if (c !== "\r") {
        this.cell += c;
        this.any = true;
      }
    }
  };
  CsvReader.prototype.endRecord = function () {
    if (this.any) {
      this.cells.push(this.cell);
      this.onRecord(this.cells);
    }
    this.cell = "";
    this.cells = [];
    this.any = false;
  };
  CsvReader.prototype.end = function () { this.endRecord(); };

  function blank(cells) {
    for (var i = 0; i < cells.length; i++) {
      if (cells[i].trim() !== "") { return false; }
    }
    return true;
  }

  // The node reads a file whose header has a "name" column when split on commas, else on
  // semicolons, else on tabs; so does this count.
  function delimiterOf(text) {
    var header = text.split("\n", 1)[0];
    var candidates = [",", ";", "\t"];
    for (var i = 0; i < candidates.length; i++) {
      var cells = header.split(candidates[i]);
      for (var j = 0; j < cells.length; j++) {
        if (cells[j].replace(/"/g, "").trim().toLowerCase() === "name") { return candidates[i]; }
      }
    }
    return ",";
  }

  // Rows in the file as the node counts them: non-blank records under the header.
  function countRows(text) {
    var records = 0;
    var reader = new CsvReader(delimiterOf(text), function (cells) {
      if (!blank(cells)) { records += 1; }
    });
    reader.push(text.charAt(0) === "\ufeff" ? text.slice(1) : text);
    reader.end();
    return Math.max(records - 1, 0);
  }

  function plural(count, one, many) {
    return count.toLocaleString() + " " + (count === 1 ? one : many);
  }

  function Upload(form) {
    this.form = form;
    this.section = form.closest("section") || document;
    this.input = form.querySelector("#file");
    this.field = this.input.closest(".field");
    this.slot = form.querySelector("#file-error");
    this.button = form.querySelector("#batch-submit");
    this.box = document.getElementById("batch-progress");
    this.bar = document.getElementById("batch-progress-bar");
    this.status = document.getElementById("batch-status");
    this.done = document.getElementById("batch-done");
    this.summary = document.getElementById("batch-summary");
    this.link = document.getElementById("batch-download");
  }

  Upload.prototype.clearError = function () {
    this.slot.textContent = "";
    this.field.classList.remove("has-error");
    this.input.removeAttribute("aria-invalid");
    this.input.setAttribute("aria-describedby", "file-hint");
  };

  // The message next to the file field, as the node's own form shows it.
  Upload.prototype.showError = function (message) {
    this.box.hidden = true;
    var p = document.createElement("p");
    p.className = "field-error";
    p.id = "file-error-message";
    p.textContent = message;
    this.slot.textContent = "";
    this.slot.appendChild(p);
    this.field.classList.add("has-error");
    this.input.setAttribute("aria-invalid", "true");
    this.input.setAttribute("aria-describedby", "file-hint file-error");
    this.input.focus();
  };

  Upload.prototype.setBusy = function (busy) {
    this.button.disabled = busy;
    this.form.setAttribute("aria-busy", busy ? "true" : "false");
  };

  Upload.prototype.start = function (file) {
    var self = this;
    var limit = Number(this.form.getAttribute("data-max-bytes"));
    this.clearError();
    this.done.hidden = true;
    if (this.link.href.indexOf("blob:") === 0) { URL.revokeObjectURL(this.link.href); }
    if (limit && file.size > limit) {
      this.showError("The file is larger than " + (limit / 1048576).toFixed(1) +
        " MiB: split it into smaller files.");
      return;
    }
    this.setBusy(true);
    file.text().then(function (text) {
      self.total = countRows(text);
      self.send(file);
    }, function () {
      self.setBusy(false);
      self.showError("The file could not be read. Choose it again.");
    });
  };

  Upload.prototype.progress = function (rows) {
    this.bar.max = Math.max(this.total, rows, 1);
    this.bar.value = rows;
    // The status is read out: say it at each tenth, not at every chunk.
    var tenth = this.total ? Math.floor((rows * 10) / this.total) : 0;
    if (tenth !== this.spoken) {
      this.spoken = tenth;
      this.status.textContent = "Screened " + rows.toLocaleString() + " of " +
        plural(this.total, "row", "rows") + "…";
    }
  };

  Upload.prototype.send = function (file) {
    var self = this;
    var body = new FormData();
    body.append("file", file, file.name);
    this.spoken = -1;
    this.box.hidden = false;
    this.progress(0);
    fetch(this.form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: {
        "X-CSRF-Token": this.form.elements.namedItem("csrf_token").value,
        "Accept": "text/csv, text/html;q=0.5"
      }
    }).then(function (response) {
      var type = response.headers.get("content-type") || "";
      if (response.ok && type.indexOf("text/csv") === 0) { return self.read(response); }
      return self.refused(response, type);
    }).catch(function () {
      self.showError("The upload or the report was interrupted. Check your connection and " +
        "upload the file again.");
    }).then(function () { self.setBusy(false); });
  };

  // Rows of the streamed report: a line per match and one per row without, all lines of a
  // row together and rows in file order, so a new "row" value is one more row done.
  Upload.prototype.read = function (response) {
    var self = this;
    var stream = response.body.getReader();
    var decoder = new TextDecoder("utf-8");
    var parts = [];
    var header = null;
    var rankAt = -1;
    var lastRow = null;
    var rows = 0;
    var matched = 0;
    var report = new CsvReader(",", function (cells) {
      if (header === null) {
        header = cells;
        // The report's own columns follow the file's: the last "match_rank" is the report's.
        rankAt = header.lastIndexOf("match_rank");
        return;
      }
      if (cells[0] !== lastRow) {
        lastRow = cells[0];
        rows += 1;
        if (rankAt >= 0 && cells[rankAt] !== "") { matched += 1; }
      }
    });
    function pump() {
      return stream.read().then(function (step) {
        if (step.done) {
          report.push(decoder.decode());
          report.end();
          return;
        }
        parts.push(step.value);
        report.push(decoder.decode(step.value, { stream: true }));
        self.progress(rows);
        return pump();
      });
    }
    return pump().then(function () {
      self.total = rows;
      self.spoken = -1;
      self.progress(rows);
      self.status.textContent = "Done: screened " + plural(rows, "row", "rows") + ".";
      self.summary.textContent = plural(rows, "row", "rows") + " screened: " +
        plural(matched, "row matches", "rows match") + " an advisory you may see, " +
        (rows - matched).toLocaleString() + " without a match.";
      self.link.href = URL.createObjectURL(new Blob(parts, { type: "text/csv" }));
      self.link.setAttribute("download", self.form.getAttribute("data-report-filename"));
      self.done.hidden = false;
      self.link.focus();
    });
  };

  // The node answered with its form (the message next to the file field), an error page,
  // or a problem document (a body over the size limit): show what it said.
  Upload.prototype.refused = function (response, type) {
    var self = this;
    if (response.redirected && new URL(response.url).pathname === "/sign-in") {
      this.showError("Your session has ended. Sign in again, then upload the file.");
      return null;
    }
    return response.text().then(function (text) {
      if (type.indexOf("text/html") === 0) {
        var page = new DOMParser().parseFromString(text, "text/html");
        var message = page.querySelector("#file-error");
        if (message && message.textContent.trim()) {
          self.box.hidden = true;
          self.slot.textContent = "";
          while (message.firstChild) { self.slot.appendChild(document.adoptNode(message.firstChild)); }
          self.field.classList.add("has-error");
          self.input.setAttribute("aria-invalid", "true");
          self.input.setAttribute("aria-describedby", "file-hint file-error");
          self.input.focus();
          return;
        }
        var detail = page.querySelector("main p");
        self.showError(detail ? detail.textContent.trim() : "The node refused the file.");
        return;
      }
      var problem = null;
      try { problem = JSON.parse(text); } catch (ignored) { problem = null; }
      self.showError(problem && problem.detail ? problem.detail : "The node refused the file.");
    });
  };

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "batch-form") { return; }
    if (!window.fetch || !window.ReadableStream || !window.TextDecoder || !window.DOMParser ||
        !window.URL || !URL.createObjectURL) { return; }
    var input = form.querySelector("#file");
    var file = input && input.files && input.files[0];
    // No file chosen: the plain post gets the node's own message next to the field.
    if (!file) { return; }
    event.preventDefault();
    new Upload(form).start(file);
  });
})();
