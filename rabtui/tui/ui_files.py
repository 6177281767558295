"""The console's own files: ui.json (the theme, when failures were last acknowledged; see settings)
and keymap.toml, read and written in workers. The state directory may be on a file system that hangs
(an NFS server away): the console starts and answers every key meanwhile, as it was (the default
theme and keys, no failures shown until it is known since when), and takes them on once they come.
One save at a time: the changes asked for meanwhile are saved together after it."""

from __future__ import annotations

import time
from pathlib import Path

from textual import work
from textual.worker import get_current_worker

from rabtui import privacy
from rabtui.tui import keymap, settings
from rabtui.tui.keymap import keymap_path

QUIT_WAIT = 3.0     # seconds quitting waits for the settings still to be saved (a file system that hangs)


class UiFiles:
    """RabtuiApp's part that reads and writes its files (a mixin of the App)."""

    def read_ui_files(self) -> None:
        """From on_load (the app's failed_since stays None until ui.json says since when)."""
        self._ui_chosen: set[str] = set()        # settings changed here before ui.json was read
        self._ui_on_disk: dict | None = None     # ui.json as read or last saved here
        self._ui_saving = False
        self._ui_to_save: dict = {}
        self._ui_quitting = False
        # where it is now: a worker that runs later (the environment changed meanwhile) uses the same file
        self._ui_path = settings.settings_path()
        self._read_settings()
        self._read_keymap(keymap_path())

    @work(thread=True, group="ui-files", exit_on_error=False)
    def _read_settings(self) -> None:
        saved = settings.load(self._ui_path)
        if not get_current_worker().is_cancelled:       # the app ended while it waited
            self.call_from_thread(self._settings_read, saved)

    def _settings_read(self, saved: dict) -> None:
        self._ui_on_disk = saved
        theme = saved.get("theme")
        if "theme" not in self._ui_chosen and isinstance(theme, str) and theme in self.available_themes:
            self.theme = theme
        if self.failed_since is None:        # not acknowledged meanwhile
            since = settings.acknowledged_at(saved, self._state_key(), time.time())
            if since is not None:
                self.failed_since = since
                self.poll_jobs()
            else:
                self.acknowledge_failures()

    def watch_theme(self, old: str, new: str) -> None:
        # (the theme's signal, which saves it, comes after the message that chose it: a read of
        # ui.json delivered in between would put its own theme over the one chosen)
        if old != new and self._ui_on_disk is None:
            self._ui_chosen.add("theme")

    def acknowledge_failures(self) -> None:
        self.failed_jobs.clear()
        self.failed_since = time.time()
        self.save_ui(acknowledged={self._state_key(): self.failed_since})

    def _state_key(self) -> str:
        return str(self.cfg.state_dir)

    def _keep_theme(self, theme) -> None:
        """The theme chosen (command palette: "Change theme") is the one of the next start."""
        if (self._ui_on_disk or {}).get("theme") != theme.name:
            self.save_ui(theme=theme.name)

    def save_ui(self, **changes) -> None:
        """Keep `changes` in ui.json, in a worker; with what another console saved meanwhile."""
        if self._ui_on_disk is None:
            self._ui_chosen.update(changes)
        self._ui_to_save = settings.merged(self._ui_to_save, changes)
        if not self._ui_saving:
            self._ui_saving = True
            changes, self._ui_to_save = self._ui_to_save, {}
            self._save_settings(changes)

    def exit_once_saved(self) -> None:
        """Quit once the settings asked for (a theme chosen an instant before) are saved, at most
        QUIT_WAIT seconds; asked again meanwhile, at once."""
        if self._ui_quitting or not (self._ui_saving or self._ui_to_save):
            self.exit()
            return
        self._ui_quitting = True
        self.notify("saving the console's settings before quitting (q again quits now)", timeout=QUIT_WAIT)
        self.set_timer(QUIT_WAIT, self.exit_unless_cancels)

    @work(thread=True, group="ui-save", exit_on_error=False)
    def _save_settings(self, changes: dict) -> None:
        problem = "failed"      # (said by on_worker_state_changed)
        try:
            problem = settings.save(changes, self._ui_path, get_current_worker().cancelled_event)
        finally:
            if not get_current_worker().is_cancelled:
                self.call_from_thread(self._settings_saved, changes, problem)

    def _settings_saved(self, changes: dict, problem: str | None) -> None:
        self._ui_saving = False
        if problem and problem != "failed":
            self.notify(problem, severity="warning", timeout=8)
        elif problem is None and self._ui_on_disk is not None:
            self._ui_on_disk = settings.merged(self._ui_on_disk, changes)
        if self._ui_to_save:
            self.save_ui()
        elif self._ui_quitting:
            self.exit_unless_cancels()

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """The command palette's screenshot (what the screen shows: hosts, paths), never into a
        folder another user can change (their ~/Downloads, for a `sudo rabtui` that kept their
        HOME): Textual opens its file by name, through a symlink of theirs."""
        from platformdirs import user_downloads_path

        folder = path or str(user_downloads_path())
        why = privacy.others_can_change(folder)
        if why:
            self.notify(f"screenshot not saved in {folder}: {why}", severity="error", timeout=10)
            return None
        return super().deliver_screenshot(filename, path, time_format)

    @work(thread=True, group="ui-files", exit_on_error=False)
    def _read_keymap(self, path: Path) -> None:
        entries, problems = keymap.read(path)
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self._keymap_read, path, entries, problems)

    def _keymap_read(self, path: Path, entries: dict[str, str], problems: list[str]) -> None:
        """Keys can be remapped by binding id in `keymap.toml` next to the user config file,
        e.g. `"goto.runs" = "f4"` (the ids are listed in README.md); an entry that would take
        another action's key is not used, and said (see rabtui.tui.keymap)."""
        usable, refused = keymap.checked(entries, keymap.scopes(type(self), self.MODES.values()))
        if problems or refused:
            self.notify("\n".join(f"{path}: {line}" for line in problems + refused), severity="warning", timeout=15)
        if usable:
            self.set_keymap(usable)
