{% raw -%}
/* Agent assist in the inbox conversation page (#assist, xiaoan/handoff/assist_console.py).
 *
 * Polls the assist API; when the transcript moved on it redraws the summary, the knowledge-base
 * suggestions and the canned replies. "插入回复框" puts the text into #reply-text at the cursor and
 * focuses it: nothing is sent until the agent presses 发送. Wording comes from the API (the labels
 * file), text is always inserted with textContent, never as HTML. */
(function () {
  "use strict";
  var api = window.xiaoan && window.xiaoan.api;
  var root = document.getElementById("assist");
  if (!api || !root) { return; }

  var url = root.getAttribute("data-assist-url");
  var seconds = parseFloat(root.getAttribute("data-poll-seconds"));
  var delay = (isFinite(seconds) && seconds > 0 ? seconds : 3) * 1000;
  var cursor = 0;
  var polls = 0;
  var FULL_EVERY = 10;  // now and then redraw anyway: a supervisor may have changed the canned replies

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function show(id, text) {
    var node = document.getElementById(id);
    node.textContent = text || "";
    node.hidden = !text;
  }

  function insert(text) {
    var box = document.getElementById("reply-text");
    if (!box || box.disabled) { return; }
    var start = typeof box.selectionStart === "number" ? box.selectionStart : box.value.length;
    var end = typeof box.selectionEnd === "number" ? box.selectionEnd : box.value.length;
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    var caret = start + text.length;
    box.focus();
    box.setSelectionRange(caret, caret);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function insertButton(label, text, className) {
    var button = el("button", "button small " + className, label);
    button.type = "button";
    button.disabled = !document.getElementById("reply-text");  // only the agent holding it replies
    button.addEventListener("click", function () { insert(text); });
    return button;
  }

  function renderSummary(rows, labels) {
    var list = document.getElementById("assist-summary");
    list.textContent = "";
    rows.forEach(function (row) {
      list.appendChild(el("dt", null, row.label));
      var dd = el("dd", row.level ? "assist-mood-" + row.level : null, row.value);
      dd.setAttribute("data-field", row.key);
      if (row.source) { dd.appendChild(el("span", "assist-source", row.source)); }
      list.appendChild(dd);
    });
    // only topic and mood: the citizen has said nothing the parsers could read yet
    var said = rows.filter(function (r) { return r.key !== "topic" && r.key !== "mood"; }).length;
    show("assist-summary-empty", said ? "" : labels.empty_summary);
  }

  function renderSuggestions(data) {
    var labels = data.labels;
    var list = document.getElementById("assist-suggestions");
    list.textContent = "";
    show("assist-question", data.question || "");
    data.suggestions.forEach(function (s) {
      var li = el("li", "assist-item");
      li.setAttribute("data-entry-id", s.id);
      var head = el("div", "assist-item-head");
      head.appendChild(el("strong", "assist-title", s.title));
      head.appendChild(el("span", "assist-score", s.score.toFixed(2)));
      if (s.confident) { head.appendChild(el("span", "assist-confident", labels.confident)); }
      li.appendChild(head);
      var answer = el("p", "assist-answer", s.answer);
      answer.tabIndex = 0;  // a scrolling box: reachable by keyboard
      li.appendChild(answer);
      li.appendChild(insertButton(labels.insert, s.answer, "assist-insert"));
      list.appendChild(li);
    });
    var empty = "";
    if (data.search_error) { empty = data.search_error; }
    else if (!data.question) { empty = labels.empty_no_question; }
    else if (!data.suggestions.length) { empty = labels.empty_suggestions; }
    show("assist-suggestions-empty", empty);
  }

  function renderCanned(data) {
    var box = document.getElementById("assist-canned");
    box.textContent = "";
    data.canned.forEach(function (group) {
      var section = el("div", "canned-group");
      section.appendChild(el("p", "canned-group-title", group.topic));
      var buttons = el("div", "canned-buttons");
      group.replies.forEach(function (reply) {
        var button = insertButton(reply.title, reply.text, "canned-insert");
        button.title = reply.text;
        button.setAttribute("data-canned-id", String(reply.id));
        buttons.appendChild(button);
      });
      section.appendChild(buttons);
      box.appendChild(section);
    });
    show("assist-canned-empty", data.canned.length ? "" : data.labels.empty_canned);
  }

  function poll() {
    var after = polls++ % FULL_EVERY === 0 ? 0 : cursor;
    api(url + "?after=" + encodeURIComponent(after)).then(function (data) {
      show("assist-error", "");
      if (typeof data.cursor === "number") { cursor = data.cursor; }
      if (!data.changed) { return; }
      renderSummary(data.summary, data.labels);
      renderSuggestions(data);
      renderCanned(data);
      root.setAttribute("data-ready", "true");
    }, function (err) {
      show("assist-error", err && err.message);  // keep the last panel; the next poll retries
    }).then(function () { setTimeout(poll, delay); });
  }

  poll();
})();
{%- endraw %}
