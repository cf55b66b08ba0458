// disinfodb: progressive enhancement only. Every page works without this file.
// Words it shows come from data-* attributes of the page, in the page's language.
(function () {
  "use strict";

  // "/" focuses the search box, as on most search sites.
  document.addEventListener("keydown", function (event) {
    var box = document.getElementById("q");
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (event.key === "/" && box && !typing) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });

  // The triage list: j / k move between items, c confirms, d dismisses, n drafts a new
  // case from the current one (each key presses that item's own button or link).
  var items = Array.prototype.slice.call(document.querySelectorAll("[data-triage]"));
  if (items.length) {
    var current = 0;
    var hint = document.querySelector(".keys-hint");
    if (hint) hint.hidden = false;
    var show = function (index) {
      items[current].classList.remove("current");
      current = Math.max(0, Math.min(items.length - 1, index));
      items[current].classList.add("current");
      items[current].focus();
    };
    show(0);
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) return;
      if (event.key === "j") show(current + 1);
      else if (event.key === "k") show(current - 1);
      else {
        var action = items[current].querySelector('[data-key="' + event.key + '"]');
        if (!action) return;
        action.click();
      }
      event.preventDefault();
    });
  }

  // Forms that destroy something ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });

  // Suggested disproof paragraphs get a button that appends them to the disproof field.
  document.querySelectorAll("button[data-insert]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-insert"));
      var text = button.getAttribute("data-text");
      field.value = field.value.trim() ? field.value.trim() + "\n\n" + text : text;
      button.textContent = button.getAttribute("data-added");
      button.disabled = true;
      field.focus();
    });
  });

  // The import form uploads with a progress bar, then shows the server's report page.
  var importForm = document.getElementById("import-form");
  if (importForm && window.XMLHttpRequest && window.FormData) {
    importForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var box = importForm.querySelector(".progress");
      var bar = document.getElementById("upload-progress");
      var status = document.getElementById("upload-status");
      var request = new XMLHttpRequest();
      box.hidden = false;
      importForm.querySelector("button[type=submit]").disabled = true;
      request.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round((100 * e.loaded) / e.total);
          status.textContent = status.getAttribute("data-uploading") + " " + bar.value + "%";
        }
      });
      request.upload.addEventListener("load", function () {
        bar.removeAttribute("value"); // indeterminate while the server imports
        status.textContent = status.getAttribute("data-importing");
      });
      request.addEventListener("load", function () {
        document.open();
        document.write(request.responseText);
        document.close();
      });
      request.addEventListener("error", function () {
        status.textContent = status.getAttribute("data-failed");
        importForm.querySelector("button[type=submit]").disabled = false;
      });
      request.open("POST", importForm.action);
      request.send(new FormData(importForm));
    });
  }
})();
