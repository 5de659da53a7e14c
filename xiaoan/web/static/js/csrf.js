/* 小安 chat page: the one fetch wrapper its scripts share (chat.js, attachments.js, notices.js), loaded
 * before them. The staff console has its own (console.js: it also sends a signed-out user to sign in).
 *
 *   xiaoanChat.send("POST", "/api/chat/message", { message: "..." })
 *     .then(function (reply) { ... reply.ok, reply.status, reply.data, reply.retryAfter ... },
 *           function () { ... xiaoanChat.NETWORK_ERROR ... });
 *
 * Same-origin, asks for JSON and sends the page's CSRF token (X-CSRFToken, from <meta name="csrf-token">)
 * with every request but GET and HEAD; a FormData body goes as it is, any other body as JSON; `headers`
 * adds headers. The promise resolves with the reply whatever its status (`data` null when the body is
 * not JSON, `retryAfter` the Retry-After seconds or 0) and rejects only when the network failed. */
(function () {
  "use strict";

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = meta ? meta.getAttribute("content") : "";

  function send(method, url, body, headers) {
    var init = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET" && method !== "HEAD") {
      init.headers["X-CSRFToken"] = csrfToken;
    }
    Object.keys(headers || {}).forEach(function (name) { init.headers[name] = headers[name]; });
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        var retryAfter = parseInt(response.headers.get("Retry-After"), 10);
        return { ok: response.ok, status: response.status, data: data, retryAfter: isNaN(retryAfter) ? 0 : retryAfter };
      });
    });
  }

  window.xiaoanChat = { send: send, NETWORK_ERROR: "网络连接失败，请检查网络后重试。" };
})();
