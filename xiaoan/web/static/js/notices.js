/* 小安 chat page: notices about the citizen's tickets (status changes reported by the work-order
 * platform) and the satisfaction question after closure, from /api/notices (xiaoan/notify/web.py).
 * Shown at the top of the conversation on the next visit; answers go to
 * /api/notices/<id>/satisfaction. Text is always inserted with textContent. */
(function () {
  "use strict";

  var log = document.getElementById("log");
  var intro = document.getElementById("intro");
  if (!log) { return; }

  function post(url, body) {  // static/js/csrf.js sends it with the CSRF token
    return window.xiaoanChat.send("POST", url, body).then(function (reply) {
      return { ok: reply.ok, data: reply.data || {} };
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  function survey(card, notice) {
    var group = el("div", "options notice-choices");
    var reasonBox = el("div", "notice-reason");
    reasonBox.hidden = true;
    var label = el("label", "visually-hidden", notice.reason_placeholder);
    var reason = el("textarea", "notice-reason-input");
    reason.id = "notice-reason-" + notice.id;
    label.setAttribute("for", reason.id);
    reason.maxLength = 500;
    reason.rows = 2;
    reason.placeholder = notice.reason_placeholder;
    var submit = el("button", "option notice-submit", notice.submit);
    submit.type = "button";
    reasonBox.appendChild(label);
    reasonBox.appendChild(reason);
    reasonBox.appendChild(submit);
    var result = el("p", "notice-result");
    result.setAttribute("role", "status");

    function send(level, text) {
      Array.prototype.forEach.call(card.querySelectorAll("button"), function (b) { b.disabled = true; });
      post("/api/notices/" + notice.id + "/satisfaction", { level: level, reason: text || null }).then(function (r) {
        result.textContent = r.ok ? r.data.message : (r.data.error || "");
        if (r.ok) { group.remove(); reasonBox.remove(); }
        else { Array.prototype.forEach.call(card.querySelectorAll("button"), function (b) { b.disabled = false; }); }
      }, function () {
        Array.prototype.forEach.call(card.querySelectorAll("button"), function (b) { b.disabled = false; });
      });
    }

    notice.choices.forEach(function (choice) {
      var button = el("button", "option", choice.title);
      button.type = "button";
      button.setAttribute("data-level", choice.level);
      button.addEventListener("click", function () {
        if (choice.level === "dissatisfied") { reasonBox.hidden = false; reason.focus(); return; }
        send(choice.level, null);
      });
      group.appendChild(button);
    });
    submit.addEventListener("click", function () { send("dissatisfied", reason.value.trim()); });
    card.appendChild(group);
    card.appendChild(reasonBox);
    card.appendChild(result);
  }

  function show(notices) {
    if (!notices || !notices.length) { return; }
    var box = el("section", "notices");
    box.id = "notices";
    box.setAttribute("aria-label", "工单进度通知");
    notices.forEach(function (notice) {
      var card = el("div", "notice notice-" + notice.kind);
      card.setAttribute("data-ticket", notice.ticket_no || "");
      card.appendChild(el("p", "notice-text", notice.text));
      if (notice.kind === "survey" && notice.choices) { survey(card, notice); }
      box.appendChild(card);
    });
    log.insertBefore(box, intro || log.firstChild);
  }

  window.xiaoanChat.send("GET", "/api/notices")
    .then(function (reply) { show(reply.ok && reply.data ? reply.data.notices : []); },
          function () { /* notices are a bonus: stay quiet */ });
})();
