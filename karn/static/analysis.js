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

