"""The configuration file as the console keeps it: read again off the UI thread (ctrl+r, after a
save, a hand edit seen by the watch), one read at a time; the file looked at on each tick for hand
edits, in a thread too. Its checks resolve each medium path and local source directory, and a stat
on a file system that hangs (an NFS server away) would otherwise hold every key."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from textual import work
from textual.screen import ModalScreen
from textual.worker import get_current_worker

from rabtui import config as configmod
from rabtui import fmt
from rabtui.config import conflict_kept
from rabtui.errors import RabtuiError, UsageError
from rabtui.tui.messages import ConfigChanged


class ConfigWatch:
    """RabtuiApp's part that reads its `cfg` again (a mixin of the App)."""

    def watch_config_file(self) -> None:
        """From __init__, the config read just now."""
        self._config_seen = _file_key(self.cfg.path)    # the file is at hand
        self._looking = False            # a look at the config file under way (see _watch_config)
        self._reloading = False          # a read of the config under way (see reload_config)
        self._reload_again = False       # and another asked for meanwhile, with these to call after it
        self._reload_then: list[Callable[[bool], None]] = []

    @work(thread=True, group="config-watch", exit_on_error=False)
    def name_unsaid_conflicts(self) -> None:
        """From on_mount: the hand edits a save killed before saying so kept aside are named, once."""
        path = self.cfg.path
        pending = conflict_kept.unsaid(path) if path else []
        if pending and not get_current_worker().is_cancelled:
            self.call_from_thread(self.notify, fmt.name(conflict_kept.unsaid_note(path, pending)),
                                  severity="warning", timeout=30)
            conflict_kept.said(pending)

    def reload_config(self, then: Callable[[bool], None] | None = None) -> None:
        """Read the file again, in a worker: its check resolves each medium path and local source
        directory, and one on a file system that hangs (an NFS server away) keeps no key waiting.
        `then(loaded)` on the UI thread: whether it could be loaded (else the config in use stays,
        and the reason is said). One read at a time: asked for while one runs, the file is read
        again after it (ctrl+r held down on a hung mount starts one thread, not one per key)."""
        if then is not None:
            self._reload_then.append(then)
        if self._reloading:
            self._reload_again = True
            return
        self._reloading, self._reload_again = True, False
        thens, self._reload_then = self._reload_then, []
        self._load_config(self.cfg.path, thens)

    @work(thread=True, group="config", exit_on_error=False)
    def _load_config(self, path: Path, thens: list[Callable[[bool], None]]) -> None:
        cancel = get_current_worker().cancelled_event   # the app closing
        try:
            seen = _file_key(path)       # before the read: an edit made meanwhile is seen by the watch
            cfg, error = configmod.load(path, check_media=False), None
        except RabtuiError as exc:
            cfg, error = None, exc
        except BaseException:
            self.call_from_thread(self._reloaded)
            raise

        def loaded() -> None:
            if cancel.is_set():
                return
            self._config_seen = seen
            moved = cfg is not None and cfg.state_dir != self.cfg.state_dir
            self.state_dir_moved = cfg.state_dir if moved else None
            if cfg is None:    # edited by hand meanwhile: keep the one we have, say why
                self.notify(f"{error} (the configuration read before stays in use)", severity="error", timeout=10)
            elif moved:
                self.notify(self._moved_text(), severity="error", timeout=30)
            else:
                self.cfg = cfg
                self.screen.post_message(ConfigChanged())
            self._reloaded()
            for then in thens:
                then(cfg is not None and not moved)

        self.call_from_thread(loaded)

    state_dir_moved: Path | None = None     # the state_dir the file names now, when not the one in use

    def _moved_text(self) -> str:
        return (f"{self.cfg.path}: state_dir is now {self.state_dir_moved}; this console stays on"
                f" {self.cfg.state_dir}, where its jobs and backups are, and starts no job there (a job"
                " reads the file, and would look for its own record in the other): quit and start rabtui again")

    def state_dir_kept(self) -> None:
        """UsageError when the file names another state directory than the console's: a job started
        now would read that one's database, not find its own row in it, and never run."""
        if self.state_dir_moved is not None:
            raise UsageError(self._moved_text())

    def _reloaded(self) -> None:
        """A read of the file ended (a failure is said by on_worker_state_changed): the next one
        asked for meanwhile starts now."""
        self._reloading = False
        if self._reload_again:
            self.reload_config()

    def _watch_config(self) -> None:
        """Hand edits of the configuration file come into the UI (not under an open dialog, whose
        save checks the file itself). The file is looked at in a thread, one look at a time: on a
        file system that hangs (an NFS server away) the look waits there, never a key."""
        if self._looking or self._reloading or isinstance(self.screen, ModalScreen):
            return
        self._looking = True
        self._look_at_config(self.cfg.path)

    @work(thread=True, group="config-watch", exit_on_error=False)
    def _look_at_config(self, path: Path | None) -> None:
        seen = None
        try:
            seen = _file_key(path)
        finally:
            if not get_current_worker().is_cancelled:    # the app ended while it waited: nothing to tell
                self.call_from_thread(self._looked_at_config, path, seen)

    def _looked_at_config(self, path: Path | None, seen: tuple | None) -> None:
        self._looking = False
        if (not self.is_running or path != self.cfg.path or seen == self._config_seen or self._reloading
                or isinstance(self.screen, ModalScreen)):
            return
        self.reload_config(lambda ok: ok and self.notify(f"{self.cfg.path} changed on disk: reloaded", timeout=4))


def _file_key(path: Path | None) -> tuple | None:
    try:
        st = path.stat() if path else None
    except OSError:
        return None
    return st and (st.st_ino, st.st_size, st.st_mtime_ns)
