// The exit survey works without this script; with it, questions that do not
// apply are hidden and answers are saved while the respondent types.
(function () {
  "use strict";
  var form = document.getElementById("survey-form");
  if (!form) { return; }

  function chosenValues(name) {
    var values = [];
    form.querySelectorAll('[name="' + name + '"]').forEach(function (input) {
      if ((input.type === "radio" || input.type === "checkbox") ? input.checked : input.value) {
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

  var saveUrl = form.getAttribute("data-save-url");
  var state = document.getElementById("save-state");
  var timer = null;
  function save() {
    if (!saveUrl || !window.fetch) { return; }
    fetch(saveUrl, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) {
        if (response.ok && state) { state.textContent = state.getAttribute("data-saved") || ""; }
      })
      .catch(function () { /* the answers are sent with the form anyway */ });
  }
  function soon() {
    clearTimeout(timer);
    timer = setTimeout(save, 600);
  }

  form.addEventListener("change", function () { applyConditions(); soon(); });
  form.addEventListener("input", soon);
  window.addEventListener("pagehide", save);
  applyConditions();
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
