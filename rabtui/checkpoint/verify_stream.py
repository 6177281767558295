"""A disc read back without room to extract it (checkpoint/verify.py): each regular file streamed
off the disc by xorriso, cut at the catalog's sizes, and hashed against the catalog's sha256."""

from __future__ import annotations

import hashlib
import os

from rabtui.checkpoint import disc_tree, xorriso, xorriso_output
from rabtui.checkpoint.content import MARKS
from rabtui.checkpoint.layout import Row
from rabtui.events import PROGRESS, Emit, Event

# files per xorriso run when they are streamed (its arguments stay far below the system's limit)
STREAM_BATCH = 200


def read_back(exe: str, indev: str, volid: str, rows: list[Row], emit: Emit, cancel,
              silence: float | None = None) -> tuple[list[bytes], list[str]]:
    """Each regular file of the disc read with xorriso's -concat onto its standard output, in
    batches, the stream cut at the catalog's sizes and each piece's sha256 compared with it; the
    files whose content differs or did not come, and the runs of xorriso that failed. One that failed
    for this machine (killed, short of file descriptors or memory) raises MachineFailed."""
    mismatched: list[bytes] = []
    failed: list[str] = []
    files = [r for r in rows if r.sha256 not in MARKS]
    total = sum(r.size for r in files)
    done_bytes = 0
    for i in range(0, len(files), STREAM_BATCH):
        batch = files[i:i + STREAM_BATCH]
        cut = Cutter(batch)
        done = disc_tree.run(xorriso.concat_argv(exe, indev, volid, [b"/" + r.disc_path for r in batch]),
                             on_stdout_data=cut.feed, cancel=cancel, silence=silence, busy=True)
        xorriso_output.raise_machine_failure(done, "reading files back from the disc")   # the disc not judged
        mismatched += cut.finish()
        if not done.ok:
            failed.append(f"reading files back failed (exit {done.returncode}): {done.stderr_said(200)}")
        done_bytes += sum(r.size for r in batch)
        emit(Event(PROGRESS, data={"done_bytes": done_bytes, "total_bytes": total,
                                   "percent": 100.0 * done_bytes / total if total else 100.0,
                                   "current": os.fsdecode(batch[-1].disc_path)}))
    return mismatched, failed


class Cutter:
    """Takes a stream of files one after the other and hashes each at its catalog size."""

    def __init__(self, rows: list[Row]):
        self.rows, self.k = rows, 0
        self.left = rows[0].size if rows else 0
        self.h = hashlib.sha256()
        self.bad: list[bytes] = []
        self._skip_empty()

    def _skip_empty(self) -> None:
        # a file of size 0 ends where it starts
        while self.k < len(self.rows) and self.left == 0:
            self._close()

    def _close(self) -> None:
        row = self.rows[self.k]
        if self.h.hexdigest() != row.sha256:
            self.bad.append(row.disc_path)
        self.k += 1
        self.h = hashlib.sha256()
        self.left = self.rows[self.k].size if self.k < len(self.rows) else 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.k >= len(self.rows):
                self.bad.append(b"(more data than the files hold)")
                return
            take = min(self.left, len(view))
            self.h.update(view[:take])
            view = view[take:]
            self.left -= take
            if self.left == 0:
                self._close()
                self._skip_empty()

    def finish(self) -> list[bytes]:
        """The files whose content differed or did not come (the stream ended early)."""
        self.bad += [row.disc_path for row in self.rows[self.k:]]
        self.k = len(self.rows)
        return self.bad
