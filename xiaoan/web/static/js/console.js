/* Shared helpers of the staff console pages.
 *
 *   xiaoan.api("/console/api/...", { method: "POST", body: {...} })
 *     .then(function (data) { ... })
 *     .catch(function (error) { alert(error.message); });   // error.message is Chinese
 *
 * Sends JSON with the page's CSRF token (X-CSRFToken header, from <meta name="csrf-token">);
 * a 401 (signed out) sends the browser to the sign-in page. */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = meta ? meta.getAttribute("content") : "";

  function ApiError(message, status, data) {
    this.name = "ApiError";
    this.message = message;
    this.status = status;
    this.data = data;
  }
  ApiError.prototype = Object.create(Error.prototype);

  function api(url, options) {
    options = options || {};
    var method = (options.method || "GET").toUpperCase();
    var init = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET" && method !== "HEAD") {
      init.headers["X-CSRFToken"] = csrfToken;
    }
    if (options.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    return fetch(url, init).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (response.status === 401) {
          window.location.assign("/console/login?next=" + encodeURIComponent(window.location.pathname));
        }
        if (!response.ok) {
          throw new ApiError((data && data.error) || "操作失败，请稍后再试。", response.status, data);
        }
        return data;
      });
    }, function () {
      throw new ApiError("网络连接失败，请检查网络后重试。", 0, null);
    });
  }

  window.xiaoan = window.xiaoan || {};
  window.xiaoan.api = api;
  window.xiaoan.csrfToken = csrfToken;
})();
