/* 小安 chat page: evidence attachments (issue 15). The attach button shows while a complaint or
 * report form runs (GET /api/chat/attachments says so; asked again whenever the transcript changes);
 * each chosen file is checked for size here, then sent to POST /api/chat/attachments, which sniffs,
 * cleans and stores it. Messages come from the server (domain.yml); text only via textContent. */
(function () {
  "use strict";

  var URL = "/api/chat/attachments";
  var NETWORK_ERROR = window.xiaoanChat.NETWORK_ERROR;  // static/js/csrf.js: the requests and their CSRF token
  var UPLOADING = "正在上传…";

  var button = document.getElementById("attach");
  var input = document.getElementById("attach-input");
  var panel = document.getElementById("attachments");
  var status = document.getElementById("attach-status");
  var list = document.getElementById("attach-list");
  var log = document.getElementById("log");
  if (!button || !input || !panel || !log) { return; }

  var state = { enabled: false, max_bytes: 0, max_count: 9, too_big: "", too_many: "", attachments: [] };
  var busy = false;
  var refreshTimer = null;

  function setStatus(text, isError) {
    status.textContent = text || "";
    status.classList.toggle("error", !!isError);
    if (text) { panel.hidden = false; }
  }

  function render() {
    button.hidden = !state.enabled;
    button.disabled = busy;
    if (state.accept) { input.setAttribute("accept", state.accept); }
    list.textContent = "";
    (state.attachments || []).forEach(function (item) {
      var li = document.createElement("li");
      li.textContent = item.name;
      li.title = item.name;
      list.appendChild(li);
    });
    panel.hidden = !(state.enabled && (state.attachments.length || status.textContent));
  }

  function refresh() {
    refreshTimer = null;
    window.xiaoanChat.send("GET", URL).then(function (reply) {
      var data = reply.ok ? reply.data : null;
      if (!data) { return; }
      state = data;
      if (!state.enabled) { setStatus(""); }
      render();
    }, function () { /* the chat shows connection problems itself */ });
  }

  function scheduleRefresh() {
    // the conversation moved on: a "received" line is no longer news (an error stays until the next try)
    if (!busy && !status.classList.contains("error")) { status.textContent = ""; }
    if (refreshTimer) { clearTimeout(refreshTimer); }
    refreshTimer = setTimeout(refresh, 300);
  }

  function upload(file) {
    if (state.max_bytes && file.size > state.max_bytes) {
      return Promise.resolve({ ok: false, error: state.too_big.replace("{name}", file.name) });
    }
    var body = new FormData();
    body.append("file", file, file.name);
    return window.xiaoanChat.send("POST", URL, body, { "X-Attachment-Name": encodeURIComponent(file.name) })
      .then(function (reply) {
        if (!reply.ok) {
          return { ok: false, error: (reply.data && reply.data.error) || NETWORK_ERROR };
        }
        return { ok: true, data: reply.data };
      }, function () {
        return { ok: false, error: NETWORK_ERROR };
      });
  }

  function uploadAll(files) {
    busy = true;
    setStatus(UPLOADING, false);
    render();
    var chain = Promise.resolve(true);
    files.forEach(function (file) {
      chain = chain.then(function (goOn) {
        if (!goOn) { return false; }
        return upload(file).then(function (result) {
          if (result.ok) {
            state.attachments = result.data.attachments;
            setStatus(result.data.message, false);
          } else {
            setStatus(result.error, true);
          }
          render();
          return result.ok;
        });
      });
    });
    return chain.then(function () {
      busy = false;
      render();
    });
  }

  button.addEventListener("click", function () {
    if (!busy) { input.click(); }
  });

  input.addEventListener("change", function () {
    var files = Array.prototype.slice.call(input.files || []);
    input.value = "";
    if (files.length) { uploadAll(files); }
  });

  // the transcript changed (a reply, a reload, an agent's message): the form may have started or ended
  new MutationObserver(scheduleRefresh).observe(log, { childList: true });
  refresh();
})();
