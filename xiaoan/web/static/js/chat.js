/* 小安 citizen chat page: sends messages to /api/chat/message, restores the transcript from
 * /api/chat/history and polls /api/chat/updates for a human agent's replies; "结束对话" asks
 * /api/chat/end to forget the conversation and reloads an empty page.
 * Plain DOM, no framework; text is always inserted with textContent (never as HTML). */
(function () {
  "use strict";

  var POLL_MS = 2500;
  var POLL_HIDDEN_MS = 15000;
  var GENERIC_ERROR = "发送失败，请稍后再试。";
  var EMPTY_MESSAGE = "请输入您想咨询的内容。";

  var log = document.getElementById("log");
  var intro = document.getElementById("intro");
  var form = document.getElementById("composer");
  var input = document.getElementById("input");
  var sendButton = document.getElementById("send");
  var alertBox = document.getElementById("alert");
  var counter = document.getElementById("counter");
  var endButton = document.getElementById("end");
  var maxChars = parseInt(form.getAttribute("data-max-chars"), 10) || 500;

  var cursor = null;        // timestamp of the latest tracker event seen (for /updates)
  var sending = false;
  var sendGeneration = 0;   // bumps on every send: a poll started before a send is discarded
  var pollTimer = null;
  var alertKind = null;
  var pollPausedUntil = 0;  // Date.now() before which polling waits (HTTP 429 Retry-After)

  function ChatError(message, status, retryAfter) {
    this.message = message;
    this.status = status || 0;
    this.retryAfter = retryAfter || 0;  // seconds (HTTP 429 Retry-After)
  }

  function api(method, url, body) {  // static/js/csrf.js sends it with the CSRF token
    return window.xiaoanChat.send(method, url, body).then(function (reply) {
      if (!reply.ok) {
        throw new ChatError((reply.data && reply.data.error) || GENERIC_ERROR, reply.status, reply.retryAfter);
      }
      return reply.data;
    }, function () {
      throw new ChatError(window.xiaoanChat.NETWORK_ERROR, 0);
    });
  }

  // --- rendering ---------------------------------------------------------------------------

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function hideIntro() {
    if (intro && !intro.hidden) {
      intro.hidden = true;
    }
  }

  function addMessage(message, sender) {
    var row = document.createElement("div");
    var agent = sender === "bot" && message.agent ? message.agent : null;
    row.className = "msg msg-" + sender + (agent ? " msg-agent" : "");
    if (sender === "bot") {
      var avatar = document.createElement("div");
      avatar.className = "msg-avatar";
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = agent ? "人" : "安";
      row.appendChild(avatar);
    }
    var body = document.createElement("div");
    body.className = "msg-body";
    if (agent) {
      var name = document.createElement("p");
      name.className = "msg-name";
      name.textContent = "人工坐席 · " + agent;
      body.appendChild(name);
    }
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    var label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = agent ? "人工坐席：" : (sender === "bot" ? "小安：" : "我：");
    bubble.appendChild(label);
    if (message.text) {
      var text = document.createElement("p");
      text.className = "bubble-text";
      text.textContent = message.text;
      bubble.appendChild(text);
    }
    if (message.image) {
      var image = document.createElement("img");
      image.className = "bubble-image";
      image.alt = "";
      image.src = message.image;
      bubble.appendChild(image);
    }
    body.appendChild(bubble);
    if (message.buttons && message.buttons.length) {
      var group = document.createElement("div");
      group.className = "options";
      message.buttons.forEach(function (button) {
        var option = document.createElement("button");
        option.type = "button";
        option.className = "option";
        option.textContent = button.title;
        option.setAttribute("data-payload", button.payload);
        option.addEventListener("click", function () { sendPayload(option, group, button); });
        group.appendChild(option);
      });
      body.appendChild(group);
    }
    row.appendChild(body);
    log.appendChild(row);
    scrollToEnd();
    return row;
  }

  function addMessages(list) {
    (list || []).forEach(function (m) { addMessage(m, m.sender || "bot"); });
  }

  /* Buttons answer the bot's latest question only: once the citizen says anything, older
   * option groups are switched off. */
  function retireOptions() {
    var groups = log.querySelectorAll(".options:not(.retired)");
    Array.prototype.forEach.call(groups, function (group) {
      group.classList.add("retired");
      Array.prototype.forEach.call(group.querySelectorAll("button"), function (b) { b.disabled = true; });
    });
  }

  /* After a reload: highlight the option the citizen picked (their next words are its title). */
  function markChosen(text) {
    var groups = log.querySelectorAll(".options");
    if (!groups.length) { return; }
    Array.prototype.forEach.call(groups[groups.length - 1].querySelectorAll("button"), function (b) {
      if (b.textContent === text) { b.classList.add("chosen"); }
    });
  }

  function showTyping() {
    var row = document.createElement("div");
    row.className = "msg msg-bot typing";
    row.setAttribute("aria-label", "小安正在输入");
    var avatar = document.createElement("div");
    avatar.className = "msg-avatar";
    avatar.setAttribute("aria-hidden", "true");
    avatar.textContent = "安";
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    for (var i = 0; i < 3; i++) {
      bubble.appendChild(document.createElement("span")).className = "typing-dot";
    }
    row.appendChild(avatar);
    row.appendChild(bubble);
    log.appendChild(row);
    scrollToEnd();
    return row;
  }

  function showAlert(message, kind) {
    alertBox.textContent = message;
    alertBox.hidden = false;
    alertKind = kind;
  }

  function clearAlert(kind) {
    if (!kind || kind === alertKind) {
      alertBox.hidden = true;
      alertBox.textContent = "";
      alertKind = null;
    }
  }

  // --- sending -----------------------------------------------------------------------------

  function setBusy(busy) {
    sending = busy;
    input.readOnly = busy;
    form.classList.toggle("busy", busy);
    updateComposer();
  }

  function updateComposer() {
    var length = input.value.length;
    sendButton.disabled = sending || input.value.trim() === "";
    if (length > maxChars * 0.8) {
      counter.hidden = false;
      counter.textContent = length + " / " + maxChars;
    } else {
      counter.hidden = true;
    }
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 128) + "px";
  }

  /* One round trip: show the citizen's words at once, then the replies; on failure take the
   * pending bubble back and say why (the typed text stays in the input box). */
  function deliver(body, shownText, onFailure) {
    hideIntro();
    sendGeneration += 1;
    setBusy(true);
    var pending = addMessage({ text: shownText }, "user");
    pending.classList.add("pending");
    var typing = showTyping();
    return api("POST", "/api/chat/message", body).then(function (data) {
      pending.classList.remove("pending");
      retireOptions();
      clearAlert();
      typing.remove();
      addMessages(data.messages);
      cursor = data.cursor != null ? data.cursor : Date.now() / 1000;
      return true;
    }, function (error) {
      typing.remove();
      pending.remove();
      if (!log.querySelector(".msg") && intro) { intro.hidden = false; }
      showAlert(error.message, error.status === 400 ? "input" : "connection");
      if (onFailure) { onFailure(); }
      return false;
    }).then(function (ok) {
      setBusy(false);
      schedulePoll(POLL_MS);
      return ok;
    });
  }

  function sendText(text) {
    if (sending) { return; }
    if (!text.trim()) {
      showAlert(EMPTY_MESSAGE, "input");
      return;
    }
    deliver({ text: text }, text.trim()).then(function (ok) {
      if (ok) {
        input.value = "";
        updateComposer();
      }
      input.focus();
    });
  }

  function sendPayload(option, group, button) {
    if (sending || group.classList.contains("retired")) { return; }
    option.classList.add("chosen");
    var buttons = group.querySelectorAll("button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    deliver({ payload: button.payload, title: button.title }, button.title, function () {
      option.classList.remove("chosen");
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    sendText(input.value);
  });

  input.addEventListener("keydown", function (event) {
    // Enter sends; Shift+Enter is a new line; Enter while an IME is composing picks characters
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      sendText(input.value);
    }
  });

  input.addEventListener("input", function () {
    if (alertKind === "input") { clearAlert("input"); }
    updateComposer();
  });

  Array.prototype.forEach.call(document.querySelectorAll(".chip"), function (chip) {
    chip.addEventListener("click", function () {
      sendText(chip.getAttribute("data-text"));
    });
  });

  /* End the conversation: the server forgets it, the page is replaced (not kept in history) by
   * an empty one, so the next person at this computer sees nothing of it. */
  endButton.addEventListener("click", function () {
    if (endButton.disabled) { return; }
    endButton.disabled = true;
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
    api("POST", "/api/chat/end", {}).then(function () {
      Array.prototype.forEach.call(log.querySelectorAll(".msg"), function (row) { row.remove(); });
      window.location.replace("/?ended=1");
    }, function (error) {
      endButton.disabled = false;
      showAlert(error.message, "connection");
      schedulePoll(POLL_MS);
    });
  });

  // --- history and polling -----------------------------------------------------------------

  function schedulePoll(delay) {
    if (pollTimer) { clearTimeout(pollTimer); }
    pollTimer = setTimeout(poll, delay);
  }

  function nextDelay() {
    return document.hidden ? POLL_HIDDEN_MS : POLL_MS;
  }

  function poll() {
    pollTimer = null;
    if (sending || cursor === null) {
      schedulePoll(nextDelay());
      return;
    }
    var generation = sendGeneration;
    api("GET", "/api/chat/updates?after=" + encodeURIComponent(cursor)).then(function (data) {
      if (generation !== sendGeneration || sending) { return; }  // a send's reply carries the cursor
      clearAlert("connection");
      if (data.messages && data.messages.length) {
        addMessages(data.messages);
      }
      if (data.cursor != null) { cursor = data.cursor; }
    }, function (error) {
      if (error.status === 429) {  // polled too often (several tabs): wait as told, quietly
        var wait = Math.max(nextDelay(), error.retryAfter * 1000);
        pollPausedUntil = Date.now() + wait;
        schedulePoll(wait);
        return;
      }
      if (generation === sendGeneration && !sending && error.status !== 400) {
        showAlert(error.message, "connection");
      }
    }).then(function () {
      if (!pollTimer) { schedulePoll(nextDelay()); }
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !sending && Date.now() >= pollPausedUntil) { schedulePoll(0); }
  });

  function loadHistory() {
    api("GET", "/api/chat/history").then(function (data) {
      var list = data.messages || [];
      if (list.length) {
        hideIntro();
        var lastUser = -1;
        list.forEach(function (m, i) { if (m.sender === "user") { lastUser = i; } });
        list.forEach(function (m, i) {
          if (m.sender === "user") { markChosen(m.text); }
          addMessage(m, m.sender);
          if (i < lastUser) { retireOptions(); }
        });
      }
      cursor = data.cursor;
    }, function (error) {
      showAlert(error.message, "connection");
    }).then(function () {
      schedulePoll(POLL_MS);
    });
  }

  if (window.location.search.indexOf("ended=1") !== -1 && window.history.replaceState) {
    window.history.replaceState(null, "", "/");  // a reload shows no "ended" notice again
  }
  updateComposer();
  loadHistory();
})();
