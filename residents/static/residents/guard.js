// The guards' pages (phone): approve asks once more, and the open queue reloads itself when it changed.
// Our own script, no library: the page works without it (one tap approves, the guard reloads by hand).
(function () {
  "use strict";
  var ARMED_MS = 4000;

  // Approve: the first tap arms the button (its text asks to tap again); the second, within a few
  // seconds, submits. A stray tap in the pocket approves nobody.
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    var label = button.textContent;
    var timer = null;
    button.addEventListener("click", function (event) {
      if (button.dataset.armed === "1") {
        return;
      }
      event.preventDefault();
      button.dataset.armed = "1";
      button.textContent = button.dataset.confirm;
      button.classList.add("armed");
      timer = window.setTimeout(function () {
        button.dataset.armed = "";
        button.textContent = label;
        button.classList.remove("armed");
      }, ARMED_MS);
    });
    button.form.addEventListener("submit", function () { window.clearTimeout(timer); });
  });

  var root = document.querySelector("[data-queue-state]");
  if (!root) {
    return;
  }
  var seconds = parseFloat(root.dataset.pollSeconds) || 15;

  function busy() {
    // Never pull the page from under a guard who is typing a reason or has armed an approval.
    var typing = Array.prototype.some.call(document.querySelectorAll("input[name=reason]"), function (input) {
      return input.value !== "" || input === document.activeElement;
    });
    return typing || document.querySelector("button[data-armed='1']") !== null;
  }

  function poll() {
    fetch(root.dataset.queueState, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (state && state.version !== root.dataset.version && !busy()) {
          window.location.replace(window.location.pathname);
          return;
        }
        window.setTimeout(poll, seconds * 1000);
      })
      .catch(function () { window.setTimeout(poll, seconds * 1000); });
  }
  window.setTimeout(poll, seconds * 1000);
})();
