"""The SSH logins of a run's sources begun ahead of their backups, to overlap what comes before:
the first source's with choosing and checking the day's medium, each later one's with the backups
under way."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from rabtui.config import Config
from rabtui.errors import RabtuiError
from rabtui.ssh.shared import SharedConnection


class LoginsAhead:
    """The SSH logins (step 1) of a run's sources begun ahead of their turns: as a source's turn
    comes, the login of the next source without one begins, and so overlaps the backups under way
    instead of holding up its own (a login is about 0.2 s, half of it waiting): a login waits for each
    backup under way at most, the one whose place it will take, as its turns come after that one's.
    The sources of the first turns (`max_parallel`) start at once and log in themselves, but for the
    first, whose login begins with the run (here), before the medium is chosen. Used as a context: the
    logins of the turns that never came are closed at its end."""

    def __init__(self, cfg: Config, ids: list[str]):
        self._cfg = cfg
        self._lock = threading.Lock()
        # None: a local source, or a login being begun
        self._begun: dict[str, SharedConnection | None] = {ids[0]: start_login(cfg, ids[0])}
        self._later = list(ids[max(1, cfg.rabtui.max_parallel):])     # not begun, in the run's order
        self._closed = False

    def __enter__(self) -> LoginsAhead:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextlib.contextmanager
    def turn(self, sid: str) -> Iterator[SharedConnection | None]:
        """`sid`'s turn: its login begun ahead (None: step 1 begins it), closed when the turn ends
        (the backup closes it itself, unless it never began: done meanwhile, its source held ...)."""
        login = self._take(sid)
        try:
            yield login
        finally:
            if login is not None:
                login.close()

    def _take(self, sid: str) -> SharedConnection | None:
        """`sid`'s login, begun ahead (None: step 1 begins it); the next one begins now."""
        with self._lock:
            login = self._begun.pop(sid, None)
            if sid in self._later:
                self._later.remove(sid)
            following = self._later.pop(0) if self._later and not self._closed else None
            if following is not None:
                self._begun[following] = None
        if following is not None:
            begun = start_login(self._cfg, following)
            with self._lock:
                if following in self._begun and not self._closed:
                    if begun is None:     # a local source, or its login could not start: none waits
                        del self._begun[following]
                    else:
                        self._begun[following], begun = begun, None
            if begun is not None:     # its turn came meanwhile (step 1 began its own), or the run ended
                begun.close()
        return login

    def close(self) -> None:
        """The logins of sources whose turn never came (the run ended first): closed."""
        with self._lock:
            self._closed = True
            left, self._begun = [login for login in self._begun.values() if login is not None], {}
        for login in left:
            login.close()


def start_login(cfg: Config, sid: str) -> SharedConnection | None:
    """Source `sid`'s SSH login (step 1), begun now, ahead of its backup (None for a local source).
    Should it not even start, step 1 tries again and records why."""
    source = cfg.source(sid)
    if source.is_local:
        return None
    login = SharedConnection(cfg, source)
    try:
        login.start()
    except (RabtuiError, OSError):
        login.close()
        return None
    return login
