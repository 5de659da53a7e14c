"""The action server's door (issue 12): loopback by default, and only Rasa may call it.

rasa-sdk 3.6 serves every custom action to anyone who reaches port 5055 (``POST /webhook`` runs
any action on a tracker the caller writes, e.g. ``action_submit_complaint`` with forged slots)
and binds to all interfaces unless ``SANIC_HOST`` is set. This module is a rasa-sdk plugin
(hook ``attach_sanic_app_extensions``, :mod:`rasa_sdk.plugin`) that:

- refuses every route but ``/health`` (so ``/webhook`` and ``/actions``) without the header ``X-Xiaoan-Action-Secret``
  (:data:`xiaoan.config.ACTION_SECRET_HEADER`) carrying ``XIAOAN_ACTION_SECRET`` (development:
  generated into ``var/action_secret``); Rasa sends it from ``endpoints.yml``
  (``action_endpoint.headers``). ``/health`` stays open: it tells nothing;
- builds the process's settings once when the server starts (:mod:`xiaoan.services`) and starts
  its background workers (:mod:`xiaoan.workers`);
- warms the process up before it serves (issue 13): the knowledge-base index, the sentence
  encoder and jieba's dictionary load when the server starts, not on the first citizen's question
  (:func:`warm_up`; a failure is logged and the first question loads them instead);
- binds the server to ``XIAOAN_ACTIONS_HOST`` (default 127.0.0.1): rasa-sdk reads ``SANIC_HOST``
  after the plugins ran, so the plugin sets it; a different ``SANIC_HOST`` is overridden with a
  warning (one bind-address setting per process).

rasa-sdk discovers plugins only through a top-level ``rasa_sdk_plugins`` module, which would
depend on the working directory; instead the ``actions`` package registers this plugin when it is
imported (:func:`install`), which rasa-sdk does before it calls the hook, so the actions are never
served without it.
"""

from __future__ import annotations

import hmac
import logging
import os
from typing import Any, Optional

import pluggy

from xiaoan.config import ACTION_SECRET_HEADER, LOOPBACK, action_secret

logger = logging.getLogger(__name__)

hookimpl = pluggy.HookimplMarker("rasa_sdk")

PLUGIN_NAME = "xiaoan-action-server-guard"
OPEN_PATHS = ("/health",)
"""The only paths served without the secret (everything else, /webhook and /actions included, needs it)."""
NOT_AUTHENTICATED = "未授权的请求：动作服务仅供小安的 Rasa 服务调用。"


def _secret_ok(given: Any, expected: str) -> bool:
    if not isinstance(given, str) or not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def bind_host(environ: Optional[dict] = None) -> str:
    """Set ``SANIC_HOST`` (read by ``rasa_sdk.endpoint.run``) from ``XIAOAN_ACTIONS_HOST``.

    Args:
        environ: The environment to read and update (default ``os.environ``).

    Returns:
        The address the action server will bind to.
    """
    environ = os.environ if environ is None else environ
    host = (environ.get("XIAOAN_ACTIONS_HOST") or "").strip() or LOOPBACK
    previous = environ.get("SANIC_HOST")
    if previous and previous != host:
        logger.warning("SANIC_HOST=%s is ignored: the action server binds to XIAOAN_ACTIONS_HOST=%s", previous, host)
    environ["SANIC_HOST"] = host
    return host


#: A question whose search touches everything a first answer needs (tokenizer, index, encoder).
WARM_UP_QUERY = "个体户营业执照怎么办理"


def warm_up(search=None) -> Optional[float]:
    """Load the knowledge-base search of this process now: the database's published entries into
    the index, the sentence encoder, jieba's dictionary (one search runs them all).

    Args:
        search: the search function (default the process's ``get_search_service().search``).

    Returns:
        The seconds it took, or None when it failed (logged; the first question loads instead).
    """
    import time

    started = time.perf_counter()
    try:
        if search is None:
            from xiaoan.kb.service import get_search_service

            search = get_search_service().search
        search(WARM_UP_QUERY, intent="ask_business_registration")
        from xiaoan.understanding import names

        names.preload()  # jieba's full dictionary for the name answers (3 s on the first name)
    except Exception:  # noqa: BLE001 - a cold first answer is better than no action server
        logger.exception("action server: the knowledge-base warm-up failed; the first question will load it")
        return None
    elapsed = time.perf_counter() - started
    logger.info("action server: knowledge base warmed up in %.1f s", elapsed)
    return elapsed


class ActionServerGuard:
    """The rasa-sdk plugin: the shared-secret check and the bind address.

    Args:
        secret: The secret Rasa sends; default :func:`xiaoan.config.action_secret`, read when
            the hook runs (server start-up).
    """

    def __init__(self, secret: Optional[str] = None) -> None:
        self._secret = secret

    @hookimpl
    def attach_sanic_app_extensions(self, app: Any) -> None:
        """Attach the secret check to the action server's Sanic app and choose its bind address."""
        from sanic import response

        secret = self._secret or action_secret()
        host = bind_host()

        async def require_secret(request: Any) -> Any:
            if request.method in ("GET", "HEAD") and request.path.rstrip("/") in OPEN_PATHS:
                return None
            if _secret_ok(request.headers.get(ACTION_SECRET_HEADER), secret):
                return None
            logger.warning("action server: a call without the shared secret was refused (%s %s)",
                           request.method, request.path)
            return response.json({"error": NOT_AUTHENTICATED, "reason": "NotAuthenticated"}, status=401)

        app.register_middleware(require_secret, "request")

        async def warm_up_before_serving(app: Any, loop: Any) -> None:
            # before the port opens, so /health answering means the first answer is warm
            await loop.run_in_executor(None, warm_up)

        app.register_listener(warm_up_before_serving, "before_server_start")
        logger.info("action server: every route but /health requires %s; binding to %s", ACTION_SECRET_HEADER, host)
        app.register_listener(_start_process, "before_server_start")
        app.register_listener(_stop_process, "after_server_stop")


def _start_process(app: Any, _loop: Any = None) -> None:
    """The action server's start: its settings, built once (`xiaoan.services`), and its background
    workers (`xiaoan.workers`: the outbox thread with `XIAOAN_OUTBOX_MODE=thread`)."""
    from xiaoan import services, workers

    app.ctx.xiaoan_workers = workers.start(services.configure())


def _stop_process(app: Any, _loop: Any = None) -> None:
    from xiaoan import services

    started = getattr(app.ctx, "xiaoan_workers", None)
    if started is not None:
        started.stop()
    services.reset()


def install(manager: Any = None) -> Any:
    """Register :class:`ActionServerGuard` with rasa-sdk's plugin manager (once).

    Args:
        manager: A ``pluggy.PluginManager`` (default rasa-sdk's ``plugin_manager()``).

    Returns:
        The registered plugin.
    """
    if manager is None:
        from rasa_sdk.plugin import plugin_manager

        manager = plugin_manager()
    plugin = manager.get_plugin(PLUGIN_NAME)
    if plugin is None:
        plugin = ActionServerGuard()
        manager.register(plugin, name=PLUGIN_NAME)
    return plugin
