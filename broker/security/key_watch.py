"""A key file a running broker watches, so that ``gbo-broker keys rotate`` needs no restart.

A rotation replaces a key file atomically (a new file renamed over the old one: a new inode).
:class:`WatchedFile` looks at the file's identity (inode, size, modification time) at most every
``interval`` seconds and loads it again when it changed; a file that no longer loads (half a
copy, a typo by hand) keeps the last good keys in use rather than stopping the broker.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from broker.errors import ConfigurationError

T = TypeVar("T")
_log = logging.getLogger("gbo.keys")


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class WatchedFile(Generic[T]):
    """The value ``load()`` makes of ``path``, loaded again when the file changes."""

    def __init__(self, path: Path, load: Callable[[], T], *, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Loads the file now: raises what ``load`` raises (``ConfigurationError``)."""
        self._path, self._load, self._interval, self._clock = path, load, interval, clock
        self._lock = threading.Lock()
        self._seen = _identity(path)
        self._value = load()
        self._checked = clock()

    def get(self) -> T:
        """The current value, after a look at the file if ``interval`` has passed."""
        if self._clock() - self._checked >= self._interval:
            self.refresh()
        return self._value

    def refresh(self) -> T:
        """Look at the file now (a key id nobody knows: a rotation may have just happened)."""
        with self._lock:
            self._checked = self._clock()
            seen = _identity(self._path)
            if seen is not None and seen != self._seen:
                try:
                    self._value = self._load()
                except ConfigurationError as exc:
                    _log.warning("a changed key file does not load; the keys in use stay",
                                 extra={"key_file": self._path.name, "error": exc.code})
                else:
                    _log.info("key file reloaded", extra={"key_file": self._path.name})
                self._seen = seen
            return self._value
