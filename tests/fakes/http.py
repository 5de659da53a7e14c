"""What the fake HTTP services share: a JSON answer, a server on a free loopback port in a thread."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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
