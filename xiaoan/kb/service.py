"""The per-process knowledge-base search service with live reload.

Each process (every action-server worker, the web app, the CLI) keeps one `KbSearchService`
per database URL: an in-memory `KbIndex` of the published entries. Before a search it reads
the revision counter, at most once a second (one primary-key lookup); when another process
published, retired, rolled back or imported something, the counter differs and the index is
rebuilt. A publish therefore reaches every process within about a second plus the rebuild,
with no restart and no retraining.

Usage::

    from xiaoan.kb.service import get_search_service
    result = get_search_service().search("个体户营业执照怎么办", intent="ask_business_registration")
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from sqlalchemy.exc import SQLAlchemyError

from xiaoan import services
from xiaoan.kb.loader import DEFAULT_DIR, read_dir
from xiaoan.kb.repository import KbRepository
from xiaoan.kb.schema import EntryData
from xiaoan.kb.search import Analyzer, KbIndex, SearchResult, SearchSettings, load_encoder, load_settings

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0


class KbSearchService:
    """Search over the published entries of one database, rebuilt when they change.

    Args:
        repository: where entries and the revision counter live.
        settings: search settings (default: the resource files).
        check_interval: seconds between two looks at the revision counter.
        clock: monotonic clock (tests pass a fake one).
        encoder: ``"auto"``, a `SentenceEncoder`, or None for lexical search only.
    """

    def __init__(
        self,
        repository: KbRepository,
        *,
        settings: SearchSettings | None = None,
        check_interval: float = CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        encoder="auto",
    ) -> None:
        self.repository = repository
        self.settings = settings or load_settings()
        self.check_interval = check_interval
        self._clock = clock
        self._encoder = load_encoder(self.settings.encoder) if encoder == "auto" else encoder
        self._analyzer = Analyzer(self.settings)  # kept across rebuilds: it caches entry tokens
        self._index: KbIndex | None = None
        self._revision: int | None = None
        self._checked_at = float("-inf")
        self._build_lock = threading.Lock()
        self.rebuilds = 0

    @property
    def revision(self) -> int | None:
        """The revision the current index was built from (None before the first build)."""
        return self._revision

    def index(self) -> KbIndex:
        """The current index, rebuilt first when the revision counter changed."""
        self._maybe_reload()
        assert self._index is not None
        return self._index

    def search(self, query: str, *, intent: str | None = None, top: int = 3) -> SearchResult:
        """Search the published, in-force entries; see `KbIndex.search`."""
        return self.index().search(query, intent=intent, top=top)

    def get(self, entry_id: str) -> EntryData | None:
        """A published, in-force entry by id (for a button the citizen pressed), else None."""
        return self.index().get(entry_id)

    def reload(self) -> None:
        """Rebuild the index now from the database."""
        with self._build_lock:
            self._rebuild(self.repository.revision())

    def _maybe_reload(self) -> None:
        now = self._clock()
        if self._index is not None and now - self._checked_at < self.check_interval:
            return
        if not self._build_lock.acquire(blocking=self._index is None):
            return  # another thread is checking or rebuilding; keep answering from the old index
        try:
            if self._index is not None and self._clock() - self._checked_at < self.check_interval:
                return
            self._checked_at = self._clock()
            try:
                revision = self.repository.revision()
            except SQLAlchemyError:
                if self._index is None:
                    raise
                log.exception("cannot read the knowledge-base revision; answering from the loaded index")
                return
            if revision != self._revision or self._index is None:
                self._rebuild(revision)
        finally:
            self._build_lock.release()

    def _rebuild(self, revision: int) -> None:
        started = time.perf_counter()
        entries = self.repository.published_entries()
        self._index = KbIndex(entries, self.settings, analyzer=self._analyzer, encoder=self._encoder)
        self._revision = revision
        self.rebuilds += 1
        log.info(
            "knowledge base index rebuilt: revision %s, %d entries, %.0f ms",
            revision,
            len(self._index),
            (time.perf_counter() - started) * 1000,
        )


class StaticSearchService:
    """The same interface over a fixed set of entries (the YAML files, for the CLI on a fresh
    clone whose database has no entries yet)."""

    def __init__(self, entries: list[EntryData], *, settings: SearchSettings | None = None, encoder="auto") -> None:
        self._index = KbIndex.build(entries, settings or load_settings(), encoder=encoder)

    def index(self) -> KbIndex:
        """The index."""
        return self._index

    def search(self, query: str, *, intent: str | None = None, top: int = 3) -> SearchResult:
        """See `KbIndex.search`."""
        return self._index.search(query, intent=intent, top=top)

    def get(self, entry_id: str) -> EntryData | None:
        """See `KbIndex.get`."""
        return self._index.get(entry_id)

    @classmethod
    def from_yaml(cls, directory: Path | None = None) -> "StaticSearchService":
        """Index the valid files of a knowledge-base directory (default ``knowledge_base/``)."""
        result = read_dir(directory or DEFAULT_DIR)
        for error in result.errors:
            log.warning("%s", error)
        return cls(result.entries)


_services: dict[str, KbSearchService] = {}
_services_lock = threading.Lock()


def get_search_service(url: str | None = None) -> KbSearchService:
    """The process's search service for a database (default ``DATABASE_URL``), created on first use."""
    url = url or services.settings().database_url
    with _services_lock:
        service = _services.get(url)
        if service is None:
            service = KbSearchService(KbRepository(url))
            _services[url] = service
        return service


def get_repository(url: str | None = None) -> KbRepository:
    """A repository for a database (default ``DATABASE_URL``)."""
    return KbRepository(url or services.settings().database_url)


def reset_services() -> None:
    """Forget the cached services (tests, and after fork)."""
    with _services_lock:
        _services.clear()
