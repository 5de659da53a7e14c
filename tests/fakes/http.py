"""What the fake HTTP services share: a JSON answer, a server on a free loopback port in a thread, and
the context-manager life cycle around it (`ServedFake`)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

F = TypeVar("F", bound="ServedFake")


def send_json(handler: BaseHTTPRequestHandler, data: Any, status: int = 200) -> None:
    """Answer `data` as UTF-8 JSON with `status`."""
    payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def serve(handler_class: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Serve `handler_class` on 127.0.0.1 at a free port, in a daemon thread."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return httpd, thread


def shut_down(httpd: ThreadingHTTPServer | None) -> None:
    """Stop a server started by `serve` (nothing when it never started)."""
    if httpd:
        httpd.shutdown()
        httpd.server_close()


class ServedFake:
    """A fake HTTP service used as a context manager: entering serves the request handler class that
    `handler()` makes (on a free loopback port, `serve`), leaving stops it; `base_url` is where it listens."""

    _httpd: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class; it reaches the fake through a closure."""
        raise NotImplementedError

    def __enter__(self: F) -> F:
        self._httpd, _ = serve(self.handler())
        return self

    def __exit__(self, *exc: Any) -> None:
        shut_down(self._httpd)

    @property
    def base_url(self) -> str:
        """E.g. ``http://127.0.0.1:41234``."""
        assert self._httpd is not None, "use the fake as a context manager"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"
