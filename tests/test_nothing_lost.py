"""Nothing lost, as a property over generated histories: a local source with a standard and an
archive directory, changed between backups (files added, rewritten, deleted, older versions put
back); backups onto m1 or m2 in rotation (each day one medium is attached, the other is away: its
path renamed, or an empty mount point left behind); cleanups; checkpoints onto an images: drive when
due or on demand; rebuild-state now and then. The test keeps what the source held at each backup,
and after every step checks, through the restore verb as the CLI runs it (the operator's answers
scripted: plans accepted, discs inserted, a medium asked for fetched from the drawer):

(a) a sample of the file versions `find` lists, those no medium at hand holds first, come back
    byte for byte with their mtime, from the copy Browse picks (copy_of_version) and from another
    of their locations; one whose media are away, or whose backups retention deleted, comes back
    from the discs;
(b) each directory restored without naming a copy is the newest state, or says it is an older
    one, and holds each file as it was as of the backup (or checkpoint) it came from: never
    another version; an archive directory's copy may lack a file only when a disc or another
    medium holds it (retention took it off that medium);
(c) a version `find` no longer lists is one retention was entitled to drop: not a version an
    archive directory saved, not one on a verified disc, not one of the newest backup on a medium.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import stat
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
import pytest

from rabtui.actions import checkpoint as checkpoint_actions
from rabtui.actions import cleanup as cleanup_actions
from rabtui.actions import find as find_actions
from rabtui.actions import restore as restore_actions
from rabtui.actions.rebuild import rebuild_state
from rabtui.checkpoint.content import MARKS
from rabtui.errors import UsageError
from rabtui.events import ABORT, READY, YES, ScriptedPrompter, no_emit
from rabtui.restore.copies import copy_of_version
from rabtui.state.store import COMPLETE, COMPLETE_SQL
from tests import invariants
from tests.trees import Lab, in_memory

pytestmark = pytest.mark.slow      # tens of seconds: handed out first (conftest)

DIRS = {"data": "standard", "arch": "archive"}
NAMES = ("a", "b", "sub/c")          # each directory also holds `keep`, never deleted (an empty
SIZES = (0, 7, 1500, 40000)          # standard directory fails its backup)
T0 = datetime(2026, 1, 5, 3, 0)
# a new content of a size, a deletion (None), or an older version put back (as a restore onto the
# source does: its content and mtime again)
CHANGE = st.tuples(st.sampled_from(sorted(DIRS)), st.sampled_from(NAMES),
                   st.one_of(st.sampled_from(SIZES + (None,)), st.tuples(st.just("old"), st.integers(0, 9))))
AWAY = ("renamed", "empty mount point")


def _content(rel: bytes, size: int, mtime: int) -> bytes:
    seed = b"%s@%d|" % (rel, mtime)
    return (seed * (size // len(seed) + 1))[:size]


class NothingLost(RuleBasedStateMachine):
    @initialize(keep=st.tuples(st.sampled_from([0, 1, 2]), st.sampled_from([0, 3]), st.integers(0, 1)),
                max_size_mb=st.sampled_from([5000, 0]), max_changed=st.sampled_from([2, 5]),
                seed=st.integers(0, 2 ** 32))
    def setup(self, keep, max_size_mb, max_changed, seed):
        self.scratch = contextlib.ExitStack()
        self.tmp = self.scratch.enter_context(in_memory("rabtui-nothing-lost-"))
        self.lab = lab = Lab(self.tmp, media_count=2)
        retention = (f"keep_all_days = {keep[0]}\nkeep_daily_days = {keep[1]}\nkeep_weekly_weeks = {keep[2]}\n"
                     f"keep_monthly_months = 0\nkeep_yearly_years = 0\nmax_size_mb = {max_size_mb}\n")
        self.cfg = lab.with_discs("cd-700", list(DIRS.items()),
                                  more=f"max_changed_files = {max_changed}\n\n[retention]\n{retention}")
        self.store = lab.store()
        self.rng = random.Random(seed)
        self.clock = T0
        self.mtime = int(T0.timestamp()) - 10 ** 6      # every write gets an mtime of its own
        self.live: dict[bytes, tuple] = {}               # path (relative to /) -> (size, mtime), in the source now
        self.contents: dict[tuple, bytes] = {}           # (path, size, mtime) -> content, all ever written
        self.snaps: dict[int, dict[bytes, tuple]] = {}   # backup id -> {path: (size, mtime)} at its time
        self.newest_on: dict[str, int] = {}              # medium -> its newest backup (never deleted)
        self.medium_of: dict[int, str] = {}              # backup id -> its medium
        self.archive_saved: set[tuple] = set()           # archive versions a backup saved
        self.on_discs: set[tuple] = set()                # versions a verified disc holds
        self.taken_from: dict[int, dict[str, int]] = {}  # checkpoint -> directory -> the backup it read
        self.today: str | None = None                    # the medium attached (None: both are)
        self.away_as = AWAY[0]
        self.away: dict[str, str] = {}                   # medium -> how it is away
        self.seen = {"from discs, medium away": 0, "from discs, gone from the media": 0, "older state": 0,
                     "archive file left to other copies": 0}
        for d in DIRS:
            self._change(d, "keep", 100)

    def teardown(self):
        if hasattr(self, "tmp"):
            self.store.close()
            self.scratch.close()

    # --- media in rotation ------------------------------------------------------------------------

    def _medium_path(self, mid: str) -> Path:
        return dict(self.lab.media)[mid]

    def _bring(self, mid: str) -> None:
        """The operator fetches medium `mid` from the drawer and mounts it."""
        how = self.away.pop(mid, None)
        if how is None:
            return
        path = self._medium_path(mid)
        if how == "empty mount point":
            path.rmdir()
        path.with_name(path.name + "-away").rename(path)

    def _put_away(self, mid: str, how: str) -> None:
        path = self._medium_path(mid)
        path.rename(path.with_name(path.name + "-away"))
        if how == "empty mount point":
            path.mkdir()
        self.away[mid] = how

    def _arrange(self) -> None:
        """Today's medium attached, the other away (as it was put away today)."""
        for mid, _ in self.lab.media:
            if self.today is None or mid == self.today:
                self._bring(mid)
            elif mid not in self.away:
                self._put_away(mid, self.away_as)

    def _answer(self, q) -> str:
        """The operator: accepts the plan, inserts the disc asked for (an images: drive has them
        all), fetches the medium asked for; gives up on a question asked again and again."""
        if sum(1 for a in self.prompter.asked if a.text == q.text) > 3:
            return ABORT
        if q.kind == "insert_medium":
            self._bring(q.data["medium"])
        return YES if q.kind == checkpoint_actions.PLAN_QUESTION else READY

    def _operator(self) -> ScriptedPrompter:
        self.prompter = ScriptedPrompter(self._answer)
        return self.prompter

    # --- the source ---------------------------------------------------------------------------------

    def _rel(self, d: str, name: str) -> bytes:
        return os.fsencode(str(self.lab.src / d / name).lstrip("/"))

    def _change(self, d: str, name: str, size) -> None:
        path = self.lab.src / d / name
        rel = self._rel(d, name)
        if size is None:
            if path.exists():
                path.unlink()
            self.live.pop(rel, None)
            return
        if isinstance(size, tuple):
            older = sorted(k for k in self.contents if k[0] == rel and (k[1], k[2]) != self.live.get(rel))
            if not older:
                return
            _, size, mtime = older[size[1] % len(older)]
        else:
            self.mtime += 1
            mtime = self.mtime
            self.contents[(rel, size, mtime)] = _content(rel, size, mtime)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.contents[(rel, size, mtime)])
        os.utime(path, (mtime, mtime))
        self.live[rel] = (size, mtime)

    def _top(self, d: str) -> bytes:
        return os.fsencode(str(self.lab.src / d).lstrip("/"))

    def _in(self, d: str, rel: bytes) -> bool:
        return rel.startswith(self._top(d) + b"/")

    def _state(self, backup_id: int, d: str) -> dict[bytes, tuple]:
        return {rel: v for rel, v in self.snaps[backup_id].items() if self._in(d, rel)}

    # --- the steps ----------------------------------------------------------------------------------

    @rule(medium=st.sampled_from(["m1", "m2"]), changes=st.lists(CHANGE, max_size=4), hours=st.sampled_from([5, 30, 80]),
          away_as=st.sampled_from(AWAY))
    def backup(self, medium, changes, hours, away_as):
        """A day: its medium is attached (the other goes to the drawer), the source changes, a backup."""
        self.clock += timedelta(hours=hours)
        self.today, self.away_as = medium, away_as
        self._arrange()
        for change in changes:
            self._change(*change)
        result = self.lab.backup(self.cfg, medium_id=medium, now=self.clock)
        assert result.status in COMPLETE, result.reason
        snap = self.snaps[result.backup_id] = dict(self.live)
        self.newest_on[medium] = result.backup_id
        self.medium_of[result.backup_id] = medium
        self.archive_saved |= {(rel, *v) for rel, v in snap.items() if self._in("arch", rel)}

    @precondition(lambda self: self.snaps)
    @rule(medium=st.sampled_from(["m1", "m2"]), away_as=st.sampled_from(AWAY))
    def attach(self, medium, away_as):
        """A day without a backup: the operator mounts the other medium (it may hold older backups
        than the one now in the drawer)."""
        self.today, self.away_as = medium, away_as
        self._arrange()

    @precondition(lambda self: self.snaps)
    @rule(days=st.sampled_from([0, 2, 9, 40]))
    def cleanup(self, days):
        self.clock += timedelta(days=days)
        plan = cleanup_actions.plan(self.cfg, self.store, now=self.clock)
        done = cleanup_actions.apply(self.cfg, self.store, plan, now=self.clock)
        assert not done.failed, done.failed

    @precondition(lambda self: self.snaps)
    @rule(on_demand=st.booleans())
    def checkpoint(self, on_demand):
        """A checkpoint when one is due (or asked for), read from the medium at hand (or the one
        fetched when asked), written to ISO images and verified."""
        try:
            out = checkpoint_actions.burn(self.cfg, self.store, no_emit, threading.Event(), self._operator(),
                                          now=[] if on_demand else None)
        except UsageError as exc:
            assert not on_demand and "no directory is due" in str(exc), exc
            return
        finally:
            self._arrange()
        assert out.status == "completed", out.message
        rows = self.store.all("SELECT f.path, f.size, f.mtime, d.state FROM disc_files f JOIN discs d"
                              " ON d.number=f.number AND d.disc=f.disc WHERE f.number=?", (out.number,))
        assert rows and all(r["state"] == "verified" for r in rows)
        self.on_discs |= {(bytes(r["path"]), r["size"], r["mtime"]) for r in rows}
        dirs = {r["path"]: r["backup_id"] for r in self.store.all(
            "SELECT path, backup_id FROM checkpoint_dirs WHERE number=?", (out.number,))}
        self.taken_from[out.number] = {d: dirs[str(self.lab.src / d)] for d in DIRS if str(self.lab.src / d) in dirs}
        # a standard directory's disc copy is the state of the backup it was read from
        if "data" in self.taken_from[out.number]:
            held = {bytes(f["path"]): (f["size"], f["mtime"]) for f in self.store.all(
                f"SELECT path, size, mtime FROM disc_files WHERE number=? AND substr(path, 1, ?)=?"
                f" AND sha256 NOT IN {MARKS!r}", (out.number, len(self._top("data")) + 1, self._top("data") + b"/"))}
            assert held == self._state(self.taken_from[out.number]["data"], "data"), \
                f"checkpoint {out.number}: not the state of the backup it read"

    @precondition(lambda self: self.snaps)
    @rule()
    def rebuild(self):
        """rebuild-state with every medium mounted (as the operator is told to), then the catalog is
        checked against the media, and the day's medium alone is attached again."""
        self.store.close()
        today, self.today = self.today, None
        self._arrange()
        try:
            result = rebuild_state(self.cfg, no_emit, None, self._operator())
            unused = {f"medium {m}: no labelled medium at {p}" for m, p in self.lab.media if m not in self.newest_on}
            assert set(result.report.unmatched) <= unused, result.report.lines()
            self.store = self.lab.store()
            invariants.check_json_agrees(self.cfg, self.store)
            invariants.check_catalog_is_media(self.cfg, self.store)
            invariants.check_backups_hold(self.cfg, self.store, self._copies())
        finally:
            self.today = today
            self._arrange()

    def _copies(self) -> dict[int, dict[str, dict[bytes, bytes]]]:
        """What each backup still complete held, as check_backups_hold takes it."""
        done = {r["id"] for r in self.store.all(f"SELECT id FROM backups WHERE status IN {COMPLETE_SQL}")}
        return {bid: {str(self.lab.src / d): {rel[len(self._top(d)) + 1:]: self.contents[(rel, *v)]
                                              for rel, v in self._state(bid, d).items()} for d in DIRS}
                for bid in self.snaps if bid in done}

    # --- the invariants -----------------------------------------------------------------------------

    def _restore(self, rel: bytes, **where):
        """Restore `rel` (backup=NAME, checkpoint=N, or the newest copy) as `rabtui restore` does,
        into a scratch directory; (outcome, where it landed, scratch)."""
        scratch = Path(tempfile.mkdtemp(prefix="out-", dir=self.tmp))
        try:
            outcome = restore_actions.restore(self.cfg, self.store, no_emit, None, self._operator(), source="loc",
                                              path="/" + os.fsdecode(rel), to=str(scratch), **where)
        finally:
            self._arrange()
        assert not outcome.problems(), outcome.problems()
        return outcome, os.path.join(os.fsencode(scratch), rel), scratch

    def _restores_as_it_was(self, key: tuple, **where) -> None:
        rel, size, mtime = key
        outcome, got, scratch = self._restore(rel, **where)
        try:
            assert outcome.exit_code == 0, (outcome.result.summary, outcome.result.warnings)
            st_ = os.lstat(got)
            assert stat.S_ISREG(st_.st_mode)
            with open(got, "rb") as f:
                assert f.read() == self.contents[key], f"/{os.fsdecode(rel)} {size} {mtime}: other content ({where})"
            assert int(st_.st_mtime) == mtime, f"/{os.fsdecode(rel)}: mtime {int(st_.st_mtime)}, not {mtime} ({where})"
        finally:
            shutil.rmtree(scratch)

    def _listed(self):
        found = find_actions.find(self.cfg, self.store, "*", source="loc")
        return found, {(v.path, v.size, v.mtime): v for v in found.versions}

    @invariant()
    def nothing_lost(self):
        found, listed = self._listed()
        # a disc's catalog also lists its empty directories (one a cleanup emptied in the union
        # too), as entries of size 0: not versions of a file
        marked = {(bytes(r["path"]), r["size"], r["mtime"]) for r in self.store.all(
            f"SELECT path, size, mtime FROM disc_files WHERE sha256 IN {MARKS!r}")}
        phantom = set(listed) - set(self.contents) - marked
        assert not phantom, f"find lists versions the source never had: {sorted(phantom)[:3]}"
        self._kept_as_entitled(listed)
        self._sample_restores(found, listed)
        if self.snaps:
            for d in DIRS:
                self._newest_state_of_a_directory(d, listed)

    def _kept_as_entitled(self, listed: dict) -> None:
        """(c): what is gone from `find` was not the last copy of anything retention must keep."""
        backed_up = {(rel, *v) for snap in self.snaps.values() for rel, v in snap.items()}
        gone = backed_up - set(listed)
        assert not gone & self.archive_saved, f"archive versions lost: {sorted(gone & self.archive_saved)[:3]}"
        assert not gone & self.on_discs, f"versions on verified discs no longer found: {sorted(gone & self.on_discs)[:3]}"
        for medium, bid in self.newest_on.items():
            name = self.store.one("SELECT name FROM backups WHERE id=?", (bid,))["name"]
            for rel, (size, mtime) in self._state(bid, "data").items():
                v = listed.get((rel, size, mtime))
                assert v and any(loc.kind == "backup" and loc.medium == medium and name in loc.backups
                                 for loc in v.locations), \
                    f"/{os.fsdecode(rel)} of {name}, the newest backup on {medium}, is not found there"

    def _sample_restores(self, found, listed: dict) -> None:
        """(a): a few versions, those no medium at hand holds first, each from the copy chosen for
        it and from one other of its locations."""
        def on_hand(v):
            return any(loc.kind == "backup" and loc.backups and loc.medium in found.at_hand for loc in v.locations)

        keys = sorted(k for k in listed if k in self.contents)
        self.rng.shuffle(keys)
        keys.sort(key=lambda k: on_hand(listed[k]))
        source = self.cfg.source("loc")
        for key in keys[:3]:
            v = listed[key]
            copy = copy_of_version(self.cfg, self.store, source, *key)
            assert copy is not None, f"find lists /{os.fsdecode(key[0])} {key[1:]}, but no copy of it can be read"
            media = [loc for loc in v.locations if loc.kind == "backup" and loc.backups]
            discs = [loc for loc in v.locations if loc.kind == "disc" and loc.disc_state == "verified"]
            if not on_hand(v) and discs:
                assert copy.kind == "disc", f"{key}: its media are away, its discs hold it, and {copy.describe()} is chosen"
                self.seen["from discs, medium away" if media else "from discs, gone from the media"] += 1
            where = {"checkpoint": copy.checkpoint} if copy.kind == "disc" else {"backup": copy.backup["name"]}
            self._restores_as_it_was(key, **where)
            others = [{"checkpoint": loc.checkpoint} for loc in discs] + \
                     [{"backup": self.rng.choice(loc.backups)} for loc in media]
            others = [w for w in others if w != where]
            if others:
                self._restores_as_it_was(key, **self.rng.choice(others))

    def _as_of(self, backup_id: int, d: str) -> dict[bytes, tuple]:
        """What directory `d` held as of a backup: a standard one, the source's state then; an
        archive one, every file saved on its medium up to it, each as last seen there."""
        if DIRS[d] == "standard":
            return self._state(backup_id, d)
        medium = self.medium_of[backup_id]
        out: dict[bytes, tuple] = {}
        for bid in sorted(b for b in self.snaps if b <= backup_id and self.medium_of[b] == medium):
            out.update(self._state(bid, d))
        return out

    def _newest_state_of_a_directory(self, d: str, listed: dict) -> None:
        """(b): a directory restored without naming a copy: the newest state, or an older one said
        so; either way the state of the copy it names, each file as it was then. An archive
        directory's copy may lack a file retention took off its medium, one that a disc or another
        medium holds; it never shows another version of a file instead."""
        top = self._top(d)
        outcome, got, scratch = self._restore(top)
        try:
            origin = outcome.result.origin
            if origin.startswith("checkpoint "):
                bid = self.taken_from[int(origin.split()[1])][d]
            else:
                _, name, _, medium = origin.split()
                bid = self.store.one("SELECT id FROM backups WHERE name=? AND medium=?", (name, medium))["id"]
            want = self._as_of(bid, d)
            if outcome.result.warnings:
                self.seen["older state"] += 1
            else:
                assert want == self._as_of(max(self.snaps), d), f"{origin}: an older state of {d}, and no warning says so"
            held = {}
            for dirpath, _dirs, files in os.walk(got):
                for n in files:
                    full = os.path.join(dirpath, n)
                    with open(full, "rb") as f:
                        held[os.path.join(top, os.path.relpath(full, got))] = (f.read(), int(os.lstat(full).st_mtime))
            for rel, (content, mtime) in held.items():
                assert rel in want and (content, mtime) == (self.contents[(rel, *want[rel])], want[rel][1]), \
                    f"/{os.fsdecode(rel)} restored from {origin} is not the version {d} held as of that backup"
            for rel in want.keys() - held.keys():
                v = listed.get((rel, *want[rel]))
                elsewhere = v and [loc for loc in v.locations if loc.kind == "disc" or loc.medium != self.medium_of[bid]]
                assert DIRS[d] == "archive" and elsewhere, f"/{os.fsdecode(rel)} is missing from {d} restored from {origin}"
                self.seen["archive file left to other copies"] += 1
        finally:
            shutil.rmtree(scratch)


# each step runs real rsync, xorriso or restores: a few short histories (about 30 s in all)
NothingLost.TestCase.settings = settings(max_examples=10, stateful_step_count=15, deadline=None)
test_nothing_lost = NothingLost.TestCase


def test_a_history_through_every_case():
    """One history through the cases a few generated ones may miss: a version restored from the
    discs because its medium is away and because retention deleted its backup, an archive file
    left to the discs, a backup kept because without it a later one would show an older version."""
    m = NothingLost()
    m.setup(keep=(0, 0, 0), max_size_mb=5000, max_changed=5, seed=0)
    steps = [
        lambda: m.backup("m1", [("data", "c", 7), ("arch", "a", 7)], 5, AWAY[0]),
        lambda: m.checkpoint(on_demand=True),
        lambda: m.backup("m1", [("data", "c", 1500), ("arch", "b", 7)], 30, AWAY[0]),
        lambda: m.backup("m1", [("arch", "b", 1500)], 30, AWAY[0]),
        lambda: m.checkpoint(on_demand=True),
        lambda: m.backup("m1", [], 30, AWAY[0]),
        lambda: m.backup("m2", [("data", "c", 40000)], 30, AWAY[1]),
        lambda: m.attach("m1", AWAY[1]),
        lambda: m.cleanup(40),
        m.rebuild,
    ]
    try:
        for step in steps:
            step()
            m.nothing_lost()
        assert all(m.seen.values()), m.seen
    finally:
        m.teardown()
