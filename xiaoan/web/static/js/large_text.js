/* 大字模式 of the chat page: bigger text (>= 20 px), higher contrast, bigger buttons and numbered
 * choices (the citizen can type the number). Loaded in <head> so that a remembered choice applies
 * before the page is drawn; the class "large-text" on <html> switches chat.css's large-text rules.
 * Every choice button gets data-choice="1", "2"... (its number within its group; chat.css shows it
 * in 大字模式, and it is part of the button's accessible name there), so the number a citizen
 * types matches the button (the channels map typed numbers to the buttons: docs/choices.md).
 * Remembered per browser in localStorage ("xiaoan.largeText" = "1"); without storage it still works
 * for the page. */
(function () {
  "use strict";
  var KEY = "xiaoan.largeText";
  var root = document.documentElement;

  function stored() {
    try { return window.localStorage.getItem(KEY) === "1"; } catch (e) { return false; }
  }

  function apply(on) {
    root.classList.toggle("large-text", on);
    var button = document.getElementById("large-text");
    if (button) {
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? "标准字" : "大字";
      button.title = on ? "恢复标准字号" : "放大文字和按钮，提高对比度（本浏览器会记住）";
    }
  }

  function number(scope) {
    Array.prototype.forEach.call(scope.querySelectorAll(".options"), function (group) {
      Array.prototype.forEach.call(group.querySelectorAll(".option"), function (option, i) {
        option.setAttribute("data-choice", String(i + 1));
      });
    });
  }

  apply(stored());
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("large-text");
    var log = document.getElementById("log");
    apply(root.classList.contains("large-text"));
    if (log && window.MutationObserver) {
      number(log);
      new MutationObserver(function () { number(log); }).observe(log, { childList: true, subtree: true });
    }
    if (!button) { return; }
    button.addEventListener("click", function () {
      var on = !root.classList.contains("large-text");
      apply(on);
      try { window.localStorage.setItem(KEY, on ? "1" : "0"); } catch (e) { /* private mode: this page only */ }
    });
  });
})();
