"""Pieces shared by the `xiaoan` sub-command modules (`xiaoan tickets`, `xiaoan alerts`, ...).

Usage::

    @group.command("list")
    @since_option("只列出此时间之后创建的工单（ISO-8601，无时区按上海时间）。")
    @friendly_errors(lambda: {RulesError: lambda exc: click.ClickException(f"规则文件有误：{exc}")})
    def list_command(since: dt.datetime | None) -> None:   # already parsed, timezone-aware
        ...   # a database down or without schema, or a RulesError: one clear line, exit status 1
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import signal
import threading
import unicodedata
from typing import Any, Callable, Mapping

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from xiaoan.db import SHANGHAI

#: What SQLAlchemy raises when the server is down or the schema was never created.
DATABASE_ERRORS = (OperationalError, ProgrammingError)


def parse_since(value: str | None) -> dt.datetime | None:
    """An ISO-8601 date or date-time; without an offset it is Shanghai time.

    Args:
        value: "2026-11-26", "2026-11-26T08:00", "2026-11-26T00:00:00Z", "...+08:00", or None.

    Returns:
        A timezone-aware datetime (a bare date is its midnight in Shanghai), or None for None.

    Raises:
        click.BadParameter: when it is not ISO-8601 (click exits with status 2).
    """
    if value is None:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        if len(text) == 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"不是 ISO-8601 日期或时间：{value!r}（例如 2026-11-26 或 2026-11-26T08:00:00+08:00）",
                                 param_hint="--since") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment


def since_option(help_text: str) -> Callable:
    """The `--since` option; the command receives the parsed datetime (or None).

    Args:
        help_text: The option's help in Chinese (what "since" limits in this command).
    """
    return click.option("--since", help=help_text, callback=lambda ctx, param, value: parse_since(value))


def echo_json(data: Any) -> None:
    """Print data as indented JSON with Chinese characters kept readable (`--json` output)."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def display_width(text: str) -> int:
    """Terminal columns of text: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, width: int) -> str:
    """text followed by spaces up to `width` terminal columns."""
    return text + " " * (width - display_width(text))


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table whose columns line up in a terminal, Chinese included."""
    widths = [max([display_width(h)] + [display_width(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(pad(h, w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(pad(c, w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def echo_listing(items: list, as_json: bool, *, empty: str, headers: list[str], row: Callable[[Any], list[str]],
                 as_dict: Callable[[Any], Any] = lambda item: item) -> None:
    """A sub-command's listing: with --json every item as JSON (through `as_dict`), else the `empty`
    line when there is none, else a `table` of `headers` with one `row(item)` per item."""
    if as_json:
        echo_json([as_dict(item) for item in items])
    elif not items:
        click.echo(empty)
    else:
        click.echo(table(headers, [row(item) for item in items]))


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: a long-running command's loop stops at its next check."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def database_error(exc: OperationalError | ProgrammingError) -> click.ClickException:
    """The one-line message (exit status 1) for a database that is down or has no schema yet."""
    orig = exc.orig if exc.orig is not None else exc
    lines = str(orig).strip().splitlines()
    return click.ClickException(
        f"数据库不可用或尚未初始化（请先运行 xiaoan db upgrade）：{orig.__class__.__name__}: {lines[0] if lines else ''}"
    )


#: What `friendly_errors` is given: per exception class, the click exception it becomes.
ErrorMessages = Mapping[type, Callable[[Exception], click.ClickException]]


def usage_error(exc: Exception) -> click.UsageError:
    """A bad setting or argument, said as it is (exit status 2)."""
    return click.UsageError(str(exc))


def friendly_errors(messages: Callable[[], ErrorMessages] | None = None) -> Callable[[Callable], Callable]:
    """Decorate a command so that the problems it expects end it with one clear line instead of a
    traceback: a database that is down or has no schema (`database_error`), and each exception
    class of `messages()` (called when the command runs, so the command module can import its
    services lazily) as the click exception it maps to."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            known = dict(messages()) if messages is not None else {}
            try:
                return func(*args, **kwargs)
            except DATABASE_ERRORS as exc:
                raise database_error(exc) from exc
            except tuple(known) as exc:
                kind = next(kind for kind in known if isinstance(exc, kind))
                raise known[kind](exc) from exc

        return wrapper

    return decorate
