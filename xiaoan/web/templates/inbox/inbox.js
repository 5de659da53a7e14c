{% raw -%}
/* The agents' inbox (/console/inbox): polls the queue and the open conversation, sends replies.
 *
 * Served by xiaoan/handoff/inbox.py as a file of this site (the CSP forbids inline scripts).
 * Uses window.xiaoan.api from static/js/console.js (JSON with the CSRF token). Text is always
 * inserted with textContent, never as HTML. */
(function () {
  "use strict";
  var api = window.xiaoan && window.xiaoan.api;
  if (!api) { return; }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function delayOf(root, fallback) {
    var seconds = parseFloat(root.getAttribute("data-poll-seconds"));
    return (isFinite(seconds) && seconds > 0 ? seconds : fallback) * 1000;
  }

  // --- the queue page ---------------------------------------------------------------------------

  function queueRow(item) {
    var row = el("tr", "queue-row" + (item.urgent ? " urgent" : ""));
    row.setAttribute("data-session-id", String(item.id));
    row.appendChild(el("td", null, String(item.position)));
    var reasonCell = el("td");
    reasonCell.appendChild(el("span", "reason reason-" + item.reason, item.reason_label));
    row.appendChild(reasonCell);
    row.appendChild(el("td", null, item.channel_label));
    row.appendChild(el("td", null, item.waiting_since_local));
    row.appendChild(el("td", null, item.wait_minutes + " 分钟"));
    var actions = el("td", "row-actions");
    var view = el("a", null, "查看");
    view.href = item.url;
    actions.appendChild(view);
    var form = el("form", "inline-form");
    form.method = "post";
    form.action = item.take_url;
    var token = el("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = window.xiaoan.csrfToken;
    form.appendChild(token);
    var button = el("button", "button small primary-inline", "接入");
    button.type = "submit";
    form.appendChild(button);
    actions.appendChild(form);
    row.appendChild(actions);
    return row;
  }

  function sessionItem(item) {
    var li = el("li");
    var link = el("a", null, "会话 #" + item.id);
    link.href = item.url;
    li.appendChild(link);
    li.appendChild(document.createTextNode(" · " + item.reason_label + " · " + item.channel_label +
      " · 开始等待 " + item.waiting_since_local));
    return li;
  }

  function renderQueue(state) {
    var body = document.getElementById("queue-body");
    body.textContent = "";
    state.queue.forEach(function (item) { body.appendChild(queueRow(item)); });
    document.getElementById("queue-count").textContent = String(state.queue.length);
    document.getElementById("queue-empty").hidden = state.queue.length > 0;
    var mine = document.getElementById("mine-list");
    mine.textContent = "";
    state.mine.forEach(function (item) { mine.appendChild(sessionItem(item)); });
    document.getElementById("mine-count").textContent = String(state.mine.length);
    document.getElementById("mine-empty").hidden = state.mine.length > 0;
    document.getElementById("agents-online").textContent = String(state.agents_online);
    document.getElementById("callbacks-open").textContent = String(state.callbacks_open);
  }

  function startQueue(root) {
    var url = root.getAttribute("data-poll-url");
    var delay = delayOf(root, 5);
    function poll() {
      api(url).then(renderQueue, function () { /* keep the last view; next poll retries */ })
        .then(function () { setTimeout(poll, delay); });
    }
    setTimeout(poll, delay);
  }

  // --- one conversation -------------------------------------------------------------------------

  var WHO = { user: "市民", bot: "小安" };

  function transcriptItem(m) {
    var li = el("li", "tmsg tmsg-" + m.kind);
    if (m.kind !== "system") {
      li.appendChild(el("span", "tmsg-who", m.kind === "agent" ? "坐席 · " + (m.agent || "") : WHO[m.kind]));
      li.appendChild(el("span", "tmsg-time", m.time || ""));
      if (m.intent) { li.appendChild(el("span", "tmsg-intent", m.intent)); }
    }
    li.appendChild(el("p", "tmsg-text", m.text || ""));
    if (m.choice) {
      li.appendChild(el("p", "tmsg-choice", "（选择了“" + m.choice + "”）"));
    }
    if (m.buttons && m.buttons.length) {
      li.appendChild(el("p", "tmsg-buttons", "选项：" + m.buttons.join(" / ")));
    }
    return li;
  }

  function startConversation(root) {
    var transcriptUrl = root.getAttribute("data-transcript-url");
    var replyUrl = root.getAttribute("data-reply-url");
    var cursor = parseFloat(root.getAttribute("data-cursor")) || 0;
    var status = root.getAttribute("data-status");
    var delay = delayOf(root, 2);
    var list = document.getElementById("transcript");
    var notice = document.getElementById("status-notice");
    var form = document.getElementById("reply-form");
    var text = document.getElementById("reply-text");
    var send = document.getElementById("reply-send");
    var error = document.getElementById("reply-error");
    var timer = null;
    var polling = false;

    function scrollToEnd() { list.scrollTop = list.scrollHeight; }

    function showStatus(data) {
      if (data.status && data.status !== status) {
        status = data.status;
        document.getElementById("session-status").textContent = data.status_label;
        if (status !== "active" && status !== "waiting") {
          notice.textContent = "该会话已" + data.status_label.replace(/^已/, "") + "，不能再回复。";
          notice.hidden = false;
          if (form) { text.disabled = true; send.disabled = true; }
        }
      }
      if (data.latest_intent) { document.getElementById("latest-intent").textContent = data.latest_intent; }
    }

    function poll() {
      timer = null;
      if (polling) { return; }
      polling = true;
      api(transcriptUrl + "?after=" + encodeURIComponent(cursor)).then(function (data) {
        (data.messages || []).forEach(function (m) { list.appendChild(transcriptItem(m)); });
        if (data.messages && data.messages.length) { scrollToEnd(); }
        if (typeof data.cursor === "number") { cursor = data.cursor; }
        showStatus(data);
      }, function () { /* Rasa or the network is down: try again at the next tick */ })
        .then(function () { polling = false; schedule(delay); });
    }

    function schedule(ms) {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(poll, ms);
    }

    function showError(message) {
      error.textContent = message;
      error.hidden = !message;
    }

    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var value = text.value.trim();
        if (!value) { showError("请输入要发送的内容。"); return; }
        send.disabled = true;
        showError("");
        api(replyUrl, { method: "POST", body: { text: value } }).then(function () {
          text.value = "";
          schedule(0);
        }, function (err) {
          showError(err.message);  // the typed text stays in the box
        }).then(function () { send.disabled = status !== "active"; });
      });
      text.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          form.requestSubmit ? form.requestSubmit() : send.click();
        }
      });
    }
    scrollToEnd();
    schedule(delay);
  }

  var queueRoot = document.getElementById("inbox-index");
  if (queueRoot) { startQueue(queueRoot); }
  var conversationRoot = document.getElementById("conversation");
  if (conversationRoot) { startConversation(conversationRoot); }
})();
{%- endraw %}
