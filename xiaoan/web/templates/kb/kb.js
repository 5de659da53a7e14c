/* Knowledge-base console: live chat preview of the answer, confirmation of risky buttons.
 * Text goes into the preview with textContent only (never as HTML). */
(function () {
  "use strict";
  var source = document.querySelector("[data-preview-source]");
  var target = document.querySelector("[data-preview-target]");
  if (source && target) {
    var update = function () { target.textContent = source.value; };
    source.addEventListener("input", update);
    update();
  }
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });
})();
