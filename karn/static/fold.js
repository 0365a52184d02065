// Folds the <details> element just before this script on a phone (the main
// menu, the analysis filters), so the page's content shows on the first
// screen; wider, it is open and its summary line hidden (karn.css). Loaded
// right after the element, before the page is drawn; without JavaScript the
// element simply stays open.
(function () {
  "use strict";
  var script = document.currentScript;
  var box = script && script.previousElementSibling;
  if (!box || box.tagName !== "DETAILS" || !window.matchMedia) return;
  var wide = window.matchMedia("(min-width: 40.01rem)");
  if (!wide.matches) box.open = false;
  var reopen = function () { if (wide.matches) box.open = true; };
  if (wide.addEventListener) wide.addEventListener("change", reopen);
  else if (wide.addListener) wide.addListener(reopen);
})();
