// The copy buttons of the device pages (endpoint URLs, keys): <button data-copy="ID"> copies the text of
// the element with that id. navigator.clipboard needs a secure context (HTTPS or localhost); on plain HTTP
// inside the property's network the text is selected instead, for Ctrl+C.
(function () {
  "use strict";
  function select(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) { return; }
    event.preventDefault();
    var node = document.getElementById(button.getAttribute("data-copy"));
    if (!node) { return; }
    var done = function () { button.textContent = button.getAttribute("data-done"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(node.textContent.trim()).then(done, function () { select(node); });
    } else {
      select(node);
    }
  });
}());
