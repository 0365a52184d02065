// The segments page: choosing another "compare by" fetches that attribute's
// groups at once (the page works without this: the button does the same).
(function () {
  "use strict";
  var select = document.querySelector("select[data-resets]");
  if (!select || !select.form) return;
  select.addEventListener("change", function () {
    select.getAttribute("data-resets").split(" ").forEach(function (id) {
      var other = document.getElementById(id);
      if (other) other.disabled = true; // left out: the server picks the groups
    });
    var hint = document.getElementById("s-hint");
    if (hint) hint.hidden = true;
    select.form.submit();
  });
})();

// The analysis filters: on a phone the form starts folded under the line that
// names the active filters, so the first figure shows without scrolling past
// it; wider, the form is always open (its summary line is hidden there).
// Loaded right after the form, before the page is drawn.
(function () {
  "use strict";
  var box = document.getElementById("filter-box");
  if (!box || !window.matchMedia) return;
  var wide = window.matchMedia("(min-width: 40.01rem)");
  if (!wide.matches) box.open = false;
  var reopen = function () { if (wide.matches) box.open = true; };
  if (wide.addEventListener) wide.addEventListener("change", reopen);
  else if (wide.addListener) wide.addListener(reopen);
})();
