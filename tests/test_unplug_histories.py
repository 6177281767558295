"""Media unplugged in step 7, as a property: over generated histories of backups of a local source
(a standard and an archive directory, files changed) onto one medium, a real ext2 image
loop-mounted, some unplugged (`umount -l`) at a point of step 7 and plugged back at once, later or
from another device before the run ends, cleanups and rebuild-state (while the medium is away too)
and backups tried while it is away, checked at the end,
once a backup has found the medium back, against the medium itself:

- every archive file version a backup saved whole (complete, or unplugged after its transfer ended)
  is on the medium with its content;
- each run unplugged after its transfer ended is kept (or complete); no run is left running; the catalog says what the medium holds; backup.json and the database
  agree; each complete backup's directories restore as it shows them, byte for byte;
- nothing was ever written on the empty mount point while the medium was away."""

from __future__ import annotations

import os
import signal
import subprocess

from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from rabtui.backup import records
from rabtui.media import medium_layout
from rabtui.state.store import RESTORABLE
from tests import invariants
from tests.test_medium_identity import _killed, _rabtui, _stopped_at
from tests.trees import Lab, ext2_mounted, next_second, write_files

POINTS = ("backup.union_linking", "backup.archive_linked", "backup.catalog", "backup.json_written")

change = st.tuples(st.sampled_from(("data", "arch")), st.sampled_from(("a", "b", "sub/c")))
op = st.one_of(
    st.tuples(st.just("backup"), st.lists(change, min_size=1, max_size=2)),
    # plugged back at once, or left away for what comes next, or back from another device (an image
    # of it made then) before the run ends
    st.tuples(st.just("unplugged"), st.lists(change, min_size=1, max_size=2), st.sampled_from(POINTS),
              st.sampled_from(("now", "later", "elsewhere"))),
    st.tuples(st.just("cleanup"),),
    st.tuples(st.just("rebuild-state"),),
)


class History:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.lab = Lab(tmp_path, media_count=1)
        self.medium = self.lab.media[0][1]
        self.image = self.medium.parent / f"{self.medium.name}.ext2"
        self.lab.local([("data", "standard"), ("arch", "archive")])
        self.away = False
        self.n = 0
        self.saved: set[tuple[str, bytes]] = set()     # (arch file, content) a backup saved whole
        self.whole: list[str] = []      # the runs unplugged after their transfer ended: their data kept

    def change(self, changes) -> None:
        for top, name in changes:
            self.n += 1
            write_files(self.lab.src / top, {name: f"{name} {self.n}".encode()})

    def _arch_now(self) -> set[tuple[str, bytes]]:
        top = self.lab.src / "arch"
        out = set()
        for dirpath, _, names in os.walk(top):
            for name in names:
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    out.add((os.path.relpath(path, top), f.read()))
        return out

    def plug(self) -> None:
        if self.away:
            assert not os.listdir(self.medium), f"written on the empty mount point: {os.listdir(self.medium)}"
            subprocess.run(["mount", "-o", "loop", str(self.image), str(self.medium)], check=True)
            self.away = False

    def step(self, step) -> None:
        kind = step[0]
        if kind in ("cleanup", "rebuild-state"):
            done = _rabtui(self.lab, kind)
            assert "Traceback" not in done.stderr, done.stderr
            return
        # an unplugged run has an archive file to link into the union (backup.union_linking)
        self.change([*step[1], *([("arch", "b")] if kind == "unplugged" else [])])
        next_second()
        if kind == "backup":
            done = _rabtui(self.lab, "backup", "loc")
            assert "Traceback" not in done.stderr, done.stderr
            if self.away:
                assert done.returncode != 0, done.stdout
            else:
                assert done.returncode == 0, done.stdout + done.stderr
                self.saved |= self._arch_now()
            return
        _, _, point, back = step
        self.plug()
        run = None
        try:
            run = _stopped_at(self.lab, point, "backup", "loc")
            self.whole.append(self.lab.store().one("SELECT name FROM backups ORDER BY id DESC LIMIT 1")[0])
            if back == "elsewhere":
                os.sync()
                self.n += 1
                again = self.image.with_name(f"again-{self.n}.ext2")
                subprocess.run(["cp", "--sparse=always", str(self.image), str(again)], check=True)
                self.image = again
            subprocess.run(["umount", "-l", str(self.medium)], check=True)
            self.away = True
            if back == "elsewhere":
                self.plug()
            run.send_signal(signal.SIGCONT)
            out = run.communicate(timeout=120)[0].decode()
        finally:
            _killed(run)
        assert "Traceback" not in out, out
        self.saved |= self._arch_now()      # its transfer had ended whole
        if back == "now":
            self.plug()

    def settle(self) -> None:
        self.plug()
        next_second()
        done = _rabtui(self.lab, "backup", "loc")
        assert done.returncode == 0, done.stdout + done.stderr
        self.saved |= self._arch_now()
        cfg, store = self.lab.load(), self.lab.store()
        assert not records.running_rows(store)
        ended = {r["name"]: r["status"] for r in store.all("SELECT name, status FROM backups")}
        assert all(ended[name] in RESTORABLE for name in self.whole), [(n, ended[n]) for n in self.whole]
        arch = str(self.lab.src / "arch")
        held = set()
        for _, path, _info in medium_layout.list_backups(self.medium, "loc"):
            top = medium_layout.backup_data_path(path, arch)
            for dirpath, _, names in os.walk(top):
                for name in names:
                    with open(os.path.join(dirpath, name), "rb") as f:
                        held.add((os.path.relpath(os.path.join(dirpath, name), top), f.read()))
        assert self.saved <= held, f"saved, not on the medium: {sorted(self.saved - held)}"
        invariants.check_json_agrees(cfg, store)
        invariants.check_catalog_is_media(cfg, store)
        into = self.tmp / "restored"
        into.mkdir()
        invariants.check_restores_are_views(cfg, store, into)


# three short histories a run (each step a whole rabtui process on real rsync); a failing one is
# reported as found, not shrunk: shrinking such histories takes minutes
@settings(max_examples=3, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(steps=st.lists(op, min_size=2, max_size=4))
@example(steps=[("unplugged", [("arch", "a")], "backup.archive_linked", "elsewhere"), ("cleanup",)])
def test_media_unplugged_in_step7_lose_nothing(tmp_path_factory, steps):
    tmp = tmp_path_factory.mktemp("unplugs")
    history = History(tmp)
    with ext2_mounted(history.medium):
        history.change([("data", "a"), ("arch", "a")])
        history.step(("backup", []))
        try:
            for step in steps:
                history.step(step)
            history.settle()
        finally:
            history.plug()
