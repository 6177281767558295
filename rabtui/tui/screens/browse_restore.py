"""Restoring from Browse: the selected file or directory of a backup, or a version found by name
(from the newest copy at hand), as a detached job; each such job is said when it ends."""

from __future__ import annotations

import os

from textual import work
from textual.widgets import DataTable

from rabtui.errors import RabtuiError
from rabtui.actions import jobs as jobviews
from rabtui.state import queries
from rabtui.tui.dialogs.restore import RestoreDialog, RestoreRequest
from rabtui.tui.messages import JobsPolled


class RestoreFromBrowse:
    """BrowseScreen's restores (see browse.py)."""

    def action_restore(self) -> None:
        from rabtui.actions.restore import directory_of

        table = self.query_one("#browse", DataTable)
        i = table.cursor_row
        if self.on_the_way():
            return
        if self.level == "find" and 0 <= i < len(self.keys):
            self._restore_found(self.keys[i])
            return
        if self.level != "dir" or self.backup is None or not (0 <= i < len(self.keys)):
            self.notify("open a backup, select a file or directory in its tree, then press r to restore it")
            return
        entry = self.keys[i]
        rel = os.path.join(self.rel, entry.name) if self.rel else entry.name
        try:
            directory_of(self.app.cfg.source(self.source), rel)
        except RabtuiError:
            self.notify(f"/{os.fsdecode(rel)} is not inside a directory of {self.source}: open it and"
                        " select a file or directory below", severity="warning")
            return
        b = self.backup
        name, bid, note = b["name"], b.get("id"), ""
        if b.get("root"):
            name, bid = b.get("restore_from"), b.get("restore_from_id")
            if not name:
                self.notify(f"no complete backup of {self.source} on {b['medium']} to restore from", severity="warning")
                return
            note = f"(the archive's merged view: from {name}, or the union tree if {name} lacks it)"
        dialog = RestoreDialog(self.source, rel, name, b["medium"], entry.is_dir, note=note, backup_id=bid)

        def confirmed(req: RestoreRequest | None) -> None:
            if req is not None:
                self._start_restore(req)

        self.app.push_screen(dialog, confirmed)

    def _restore_found(self, row: dict) -> None:
        """A version found by name: restored from the newest backup holding it on a medium at hand,
        else from the newest verified checkpoint holding it (the job asks for its discs)."""
        self._find_copy(row)

    @work(thread=True, group="restore", exit_on_error=False)
    def _find_copy(self, row: dict) -> None:
        """Which copy a restore reads (the database, and which media are mounted) is looked up here."""
        from rabtui.actions.restore import copy_of_version

        try:
            copy = copy_of_version(self.app.cfg, self.app.store, self.app.cfg.source(row["source"]),
                                   bytes(row["path"]), row["size"], row["mtime"])
        except RabtuiError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        self.app.call_from_thread(self._offer_restore, row, copy)

    def _offer_restore(self, row: dict, copy) -> None:
        if copy is None:
            self.notify("no backup on a medium and no verified checkpoint disc holds this version", severity="warning")
            return

        def confirmed(req: RestoreRequest | None) -> None:
            if req is not None:
                self._start_restore(req)

        if copy.kind == "disc":
            dialog = RestoreDialog(row["source"], bytes(row["path"]), None, ", ".join(v for _, v in copy.discs),
                                   False, checkpoint=copy.checkpoint,
                                   note="the job asks for each disc that is not in the drive (a: answer)")
        else:
            dialog = RestoreDialog(row["source"], bytes(row["path"]), copy.backup["name"], copy.medium, False,
                                   backup_id=copy.backup["id"])
        self.app.push_screen(dialog, confirmed)

    @work(thread=True, group="restore", exit_on_error=False)
    def _start_restore(self, req: RestoreRequest) -> None:
        title = req.title()
        try:
            self.app.state_dir_kept()
            job_id = jobviews.start(self.app.store, self.app.cfg.path, "restore", req.source, title, req.args())
        except (RabtuiError, OSError) as exc:
            self.app.call_from_thread(self.notify, f"cannot start {title}: {exc}", severity="error", timeout=8)
            return
        self.app.call_from_thread(self._restore_started, job_id, title)

    def _restore_started(self, job_id: int, title: str) -> None:
        self.restores[job_id] = title
        self.notify(f"job {job_id} started: {title} (see Runs)")
        self.app.poll_jobs()

    def on_jobs_polled(self, message: JobsPolled) -> None:
        super().on_jobs_polled(message)
        running = {j["id"] for j in message.snapshot.running}
        ended = [j for j in self.restores if j not in running]
        if ended:
            self._restores_ended(ended)

    @work(thread=True, group="restore-end", exit_on_error=False)
    def _restores_ended(self, ids: list[int]) -> None:
        rows = [queries.job(self.app.store, j) for j in ids]
        self.app.call_from_thread(self._say_ended, [r for r in rows if r is not None])

    def _say_ended(self, rows: list[dict]) -> None:
        for r in rows:
            if r["status"] in ("running", "waiting", "queued") or r["id"] not in self.restores:
                continue
            title = self.restores.pop(r["id"])
            severity = {"completed": "information", "warnings": "warning"}.get(r["status"], "error")
            self.notify(f"job {r['id']} {r['status']}: {r['summary'] or title}", severity=severity, timeout=10)
