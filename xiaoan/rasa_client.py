"""Client of the Rasa server's HTTP API, shared by the web chat and the agents' inbox.

Usage::

    from xiaoan.rasa_client import RasaClient, RasaUnavailable

    client = RasaClient(services.settings())
    try:
        replies = client.send_message("web-3f2a...", "网购七天无理由退货怎么算")
    except RasaUnavailable:
        ...  # tell the citizen to try again later or call 12345

Each network call is one small method so that tests can point the client at a local fake
server (`tests.fakes.rasa_server.FakeRasa`) or replace a single method.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import requests

from xiaoan.config import REST_SECRET_HEADER, Settings, rasa_token, rest_secret

# (connect, read) seconds. A reply can take a while: NLU, policies and custom actions run first.
DEFAULT_MESSAGE_TIMEOUT = (3.05, 20.0)
DEFAULT_API_TIMEOUT = (3.05, 10.0)


class RasaError(Exception):
    """Rasa answered, but not in a usable way (e.g. a rejected token or a malformed request)."""


class RasaRateLimited(RasaError):
    """Rasa's channel refused the call for now (HTTP 429); `retry_after` in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RasaUnavailable(RasaError):
    """Rasa could not be reached, timed out, failed (5xx) or answered something unreadable."""


class RasaClient:
    """The subset of Rasa's HTTP API that the project uses.

    Args:
        settings: the project settings; `settings.rasa_url` is where Rasa listens.
        token: the Rasa API token; default `xiaoan.config.rasa_token()`, read on first use.
        rest_secret: the REST channel's shared secret (header `X-Xiaoan-Rest-Secret`); default
            `xiaoan.config.rest_secret()`, read on first use.
        message_timeout: `requests` timeout of the REST channel call.
        api_timeout: `requests` timeout of the tracker calls.
        session: a `requests.Session` to use; by default each thread gets its own (the web app
            serves requests from several threads and a Session is not thread-safe).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        token: str | None = None,
        rest_secret: str | None = None,
        message_timeout: float | tuple[float, float] = DEFAULT_MESSAGE_TIMEOUT,
        api_timeout: float | tuple[float, float] = DEFAULT_API_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = settings.rasa_url.rstrip("/")
        self._token = token
        self._rest_secret = rest_secret
        self.message_timeout = message_timeout
        self.api_timeout = api_timeout
        self._session = session
        self._local = threading.local()

    @property
    def token(self) -> str:
        """The API token (resolved lazily so that constructing a client never touches `var/`)."""
        if self._token is None:
            self._token = rasa_token()
        return self._token

    @property
    def rest_secret(self) -> str:
        """The REST channel's shared secret (resolved lazily, like the token)."""
        if self._rest_secret is None:
            self._rest_secret = rest_secret()
        return self._rest_secret

    def send_message(self, sender_id: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict]:
        """Send one user message through the REST channel (with its shared secret) and return the bot's replies.

        Args:
            sender_id: the conversation id.
            text: the user's text, or a button payload such as `/affirm`.
            metadata: passed to Rasa as the user message's metadata.

        Returns:
            The REST channel's list of messages: dicts with `recipient_id` and any of `text`,
            `buttons` (`[{"title", "payload"}]`), `image`, `custom`.

        Raises:
            RasaUnavailable: Rasa is down, timed out or failed.
            RasaError: Rasa rejected the request.
        """
        body: dict[str, Any] = {"sender": sender_id, "message": text}
        if metadata:
            body["metadata"] = metadata
        result = self._request("POST", "/webhooks/rest/webhook", json=body, timeout=self.message_timeout,
                               headers={REST_SECRET_HEADER: self.rest_secret})
        if result is None:  # Rasa answers an empty body when nothing is uttered
            return []
        if not isinstance(result, list):
            raise RasaUnavailable("REST channel answered something other than a list")
        return [m for m in result if isinstance(m, dict)]

    def get_tracker(self, conversation_id: str) -> dict:
        """The conversation's tracker (`sender_id`, `events`, `slots`, `paused`, ...).

        Raises:
            RasaUnavailable: Rasa is down, timed out or failed.
            RasaError: Rasa rejected the request (e.g. a wrong token).
        """
        result = self._request(
            "GET", f"/conversations/{_quote(conversation_id)}/tracker", params={"token": self.token},
            timeout=self.api_timeout,
        )
        if not isinstance(result, dict):
            raise RasaUnavailable("tracker endpoint answered something other than an object")
        return result

    def append_events(
        self, conversation_id: str, events: list[dict], output_channel: str | None = None,
    ) -> dict:
        """Append events (e.g. `{"event": "bot", "text": ...}`) to a conversation's tracker.

        Args:
            conversation_id: the conversation id.
            events: Rasa events as dicts.
            output_channel: when given (e.g. `"latest"` or a channel name), Rasa also delivers
                the appended bot messages through that channel (`execute_side_effects`).

        Returns:
            The updated tracker.

        Raises:
            RasaUnavailable: Rasa is down, timed out or failed.
            RasaError: Rasa rejected the request.
        """
        params = {"token": self.token}
        if output_channel:
            params["output_channel"] = output_channel
            params["execute_side_effects"] = "true"
        result = self._request(
            "POST", f"/conversations/{_quote(conversation_id)}/tracker/events", params=params,
            json=list(events), timeout=self.api_timeout,
        )
        if not isinstance(result, dict):
            raise RasaUnavailable("append events answered something other than an object")
        return result

    def _http(self) -> requests.Session:
        if self._session is not None:
            return self._session
        http = getattr(self._local, "session", None)
        if http is None:
            http = self._local.session = requests.Session()
        return http

    def _request(self, method: str, path: str, *, timeout, **kwargs) -> Any:
        """One HTTP call; returns the decoded JSON body (None when empty)."""
        url = self.base_url + path
        try:
            resp = self._http().request(method, url, timeout=timeout, **kwargs)
        except requests.Timeout as exc:
            raise RasaUnavailable(f"Rasa timed out on {method} {path}") from exc
        except requests.RequestException as exc:
            raise RasaUnavailable(f"Rasa not reachable on {method} {path}: {exc.__class__.__name__}") from exc
        if resp.status_code >= 500:
            raise RasaUnavailable(f"Rasa failed on {method} {path}: HTTP {resp.status_code}")
        if resp.status_code == 429:
            try:
                retry_after = max(1, int(resp.headers.get("Retry-After", "60")))
            except ValueError:
                retry_after = 60
            raise RasaRateLimited(f"Rasa rate-limited {method} {path}", retry_after)
        if resp.status_code >= 400:
            # never include the URL: its query string carries the token
            raise RasaError(f"Rasa rejected {method} {path}: HTTP {resp.status_code}")
        if not resp.content.strip():
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise RasaUnavailable(f"Rasa answered non-JSON on {method} {path}") from exc


def _quote(conversation_id: str) -> str:
    return quote(conversation_id, safe="")

