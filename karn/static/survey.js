// The exit survey works without this script; with it, questions that do not
// apply are hidden, the progress follows the answers, and answers are saved
// while the respondent types.
(function () {
  "use strict";
  var form = document.getElementById("survey-form");
  if (!form) { return; }

  function chosenValues(name) {
    var values = [];
    form.querySelectorAll('[name="' + name + '"]').forEach(function (input) {
      if ((input.type === "radio" || input.type === "checkbox") ? input.checked : input.value.trim()) {
        values.push(String(input.value).toLowerCase());
      }
    });
    return values;
  }

  function applyConditions() {
    form.querySelectorAll("[data-show-if]").forEach(function (fieldset) {
      var wanted = fieldset.getAttribute("data-show-values").split("|").map(function (v) {
        return v === "true" ? "yes" : (v === "false" ? "no" : v);
      });
      var show = chosenValues(fieldset.getAttribute("data-show-if")).some(function (v) {
        return wanted.indexOf(v) !== -1;
      });
      fieldset.hidden = !show;
      fieldset.querySelectorAll(".conditional").forEach(function (hint) { hint.hidden = true; });
    });
  }

  // The other reasons never offer the main reason chosen.
  function applyExclusions() {
    form.querySelectorAll("[data-exclude-field]").forEach(function (fieldset) {
      var main = chosenValues(fieldset.getAttribute("data-exclude-field"))[0];
      fieldset.querySelectorAll(".option input").forEach(function (input) {
        var gone = input.value === main;
        if (gone) { input.checked = false; }
        input.disabled = gone;
        input.closest(".option").hidden = gone;
      });
    });
  }

  // The box under "other" shows while "other" is chosen.
  function applyOtherTexts() {
    form.querySelectorAll("[data-other-of]").forEach(function (box) {
      box.hidden = chosenValues(box.getAttribute("data-other-of")).indexOf("other") === -1;
    });
  }

  function fill(template, values) {
    return template.replace(/\{(\w)\}/g, function (all, key) {
      return values.hasOwnProperty(key) ? values[key] : all;
    });
  }

  function answered(fieldset) {
    return Array.prototype.some.call(fieldset.querySelectorAll("input, textarea"), function (input) {
      if (input.closest(".other-text")) { return false; }
      return (input.type === "radio" || input.type === "checkbox") ? input.checked : input.value.trim() !== "";
    });
  }

  var progressText = document.getElementById("progress-text");
  var progressBar = document.getElementById("progress-bar");
  function applyProgress() {
    var shown = Array.prototype.filter.call(form.querySelectorAll("fieldset.question"), function (f) {
      return !f.hidden;
    });
    var total = shown.length;
    var done = shown.filter(answered).length;
    var numberTemplate = form.getAttribute("data-number");
    shown.forEach(function (fieldset, index) {
      var number = fieldset.querySelector(".q-number");
      if (number && numberTemplate) { number.textContent = fill(numberTemplate, { n: index + 1, t: total }); }
    });
    if (progressBar) { progressBar.max = total; progressBar.value = done; }
    if (progressText && form.getAttribute("data-progress")) {
      progressText.textContent = fill(form.getAttribute("data-progress"), { a: done, t: total });
    }
  }

  function applyAll() {
    applyExclusions();
    applyConditions();
    applyOtherTexts();
    applyProgress();
  }

  var saveUrl = form.getAttribute("data-save-url");
  var state = document.getElementById("save-state");
  var timer = null;
  var closed = false;
  function save() {
    if (!saveUrl || closed || !window.fetch) { return; }
    fetch(saveUrl, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) {
        if (response.ok) {
          if (state) { state.textContent = state.getAttribute("data-saved") || ""; }
          return;
        }
        if (response.status === 409 || response.status === 410) {
          // Sent already, or the link expired: say so, and stop saving.
          closed = true;
          return response.json().then(function (body) {
            if (state && body && body.message) {
              state.textContent = body.message;
              state.classList.add("is-closed");
            }
          });
        }
      })
      .catch(function () { /* the answers are sent with the form anyway */ });
  }
  function soon() {
    clearTimeout(timer);
    timer = setTimeout(save, 600);
  }

  form.addEventListener("change", function () { applyAll(); soon(); });
  form.addEventListener("input", function () { applyProgress(); soon(); });
  window.addEventListener("pagehide", save);
  applyAll();
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
