"""Retention invariants over histories whose clock jumps between backups: back by an hour, days or
years (NTP stepping a clock that was ahead, an RTC that lost its battery), ahead by years, then
on. On top of test_retention_invariants' checks, after each cleanup, walking the media: the backup
made last on each medium (whatever its date) is still there, complete, and holds the standard
directory as the source had it then."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule
import pytest

from rabtui.media import medium_layout
from rabtui.state.store import COMPLETE
from tests.test_retention_invariants import RetentionHistory

pytestmark = pytest.mark.slow      # tens of seconds: handed out first (conftest)

JUMPS = [timedelta(hours=-1), timedelta(days=-2), timedelta(days=-400), timedelta(days=3 * 365), timedelta(days=-3 * 365)]


def _tree(root) -> dict[bytes, str]:
    out = {}
    for dirpath, _dirs, files in os.walk(os.fsencode(root)):
        for f in files:
            full = os.path.join(dirpath, f)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, os.fsencode(root))] = hashlib.sha256(fh.read()).hexdigest()
    return out


class ClockJumpHistory(RetentionHistory):
    def nest(self):
        """Not a rule here: the directories' changes are RetentionHistory's; the draws of these
        histories stay those they were without it."""
        super().nest()

    @rule(jump=st.sampled_from(JUMPS))
    def clock_jumps(self, jump):
        self.clock += jump

    @rule(ahead=st.sampled_from([timedelta(days=3 * 365), timedelta(days=30), timedelta(hours=5)]))
    def one_night_with_the_clock_ahead(self, ahead):
        """A backup under a clock that is ahead, then, the clock right again, a night on each medium
        and one more, then a cleanup."""
        self.lab.backup(self.cfg, now=self.clock + ahead)
        self.note_the_backups_made()
        for _ in range(len(self.lab.media) + 1):
            self.clock += timedelta(hours=20)
            self.lab.backup(self.cfg, now=self.clock)
            self.runs += 1
        self.note_the_backups_made()
        self._cleanup()

    @invariant()
    def note_the_backups_made(self):
        """Per medium, the complete backup made last and the standard directory as the source had it
        (a rule's backups all see the source as its changes left it)."""
        if not hasattr(self, "store"):
            return
        self.last_made = getattr(self, "last_made", {})
        self.seen = getattr(self, "seen", 0)
        for row in self.store.all("SELECT id, medium, path, status FROM backups WHERE id>? ORDER BY id", (self.seen,)):
            self.seen = row["id"]
            if row["status"] in COMPLETE:
                self.last_made[row["medium"]] = (row["path"], _tree(self.lab.src / "std"))

    def _cleanup(self):
        plan = super()._cleanup()
        for medium, (path, tree) in getattr(self, "last_made", {}).items():
            info = medium_layout.read_backup_json(path)
            assert info and info.get("status") in COMPLETE, f"{medium}: {path}, made last, deleted"
            assert _tree(medium_layout.backup_data_path(path, str(self.lab.src / "std"))) == tree
        return plan


# few, short histories (each step runs real rsync); a failing one is reported as found, not shrunk:
# shrinking such histories takes minutes
ClockJumpHistory.TestCase.settings = settings(max_examples=10, stateful_step_count=6, deadline=None,
                                              phases=[Phase.explicit, Phase.reuse, Phase.generate])
test_retention_clock_jumps = ClockJumpHistory.TestCase
