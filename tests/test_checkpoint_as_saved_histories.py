"""A checkpoint plan of a standard directory whose medium holds its backups as they were made is
never refused as one the medium no longer holds as saved (not_as_saved.py), whatever history made
them: generated histories of a local source (fidelity histories' files, sparse files, hard-link
groups joined and split, symlinks, retargeted too with their time kept, FIFOs, xattrs and ACLs,
kinds replaced, names of any byte and 255 bytes; the directory standard or archive from one backup
to the next, the database lost and rebuilt from the media between them, a checkpoint burnt and a
cleanup deleting what retention lets go between them, the plan not refused after it either); and
damage put in one file of the last backup (cut, grown, written into in place, removed, a symlink, a
FIFO or a directory in its place), or in one symlink or FIFO (removed, a file in its place, a
symlink pointed elsewhere), is always named. The same of an archive directory (union_as_saved.py):
its last backup an archive one, the damage put in its union, where a file or entry removed is read
from the backup that saved it. A restore from the medium of the first and of the last backup (if
retention kept it) ends well (exit 0). Real rsync; more examples with AS_SAVED_HISTORIES=N."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import Phase, given, settings
from hypothesis import strategies as st
import pytest

from rabtui import fmt
from rabtui.checkpoint import prepare
from rabtui.cli import main
from rabtui.errors import UsageError, WorkFailed
from rabtui.media import medium_layout
from tests.test_fidelity_histories import CHANGE, CREATE, OP, _apply, _dir_times
from tests.trees import Lab, in_memory

T0 = datetime(2026, 7, 1, 3, 0)
DAMAGE = ("cut", "grown", "rewritten", "removed", "symlink", "fifo", "dir", "entry removed", "entry a file",
          "entry retargeted")
# a symlink pointed elsewhere on the source between backups, its time kept (rsync tells it by its target)
RETARGET = "retarget"
ROUND = st.tuples(st.lists(st.tuples(st.sampled_from((*CHANGE, RETARGET, RETARGET)), OP), min_size=1, max_size=5),
                  st.sampled_from(["standard", "standard", "archive"]), st.booleans(),
                  st.sampled_from([False, False, True]))


def _config(lab: Lab, kind: str):
    return lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{lab.src / "data"}"\n'
                     f'kind = "{kind}"\nallow_empty = true\n'
                     f'[checkpoint]\ndisc = "dvd+r"\ndrive = "images:{lab.tmp / "iso"}"\n'
                     '[retention]\nkeep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n'
                     'keep_monthly_months = 0\nkeep_yearly_years = 0\n')


def _files(top: bytes, entries: bool = False) -> list[bytes]:
    """The regular files below `top`; `entries`: its symlinks and FIFOs instead."""
    out = []
    for dirpath, _dirs, names in os.walk(top):
        out += [os.path.join(dirpath, n) for n in names
                if stat.S_ISREG(os.lstat(os.path.join(dirpath, n)).st_mode) != entries]
    return sorted(out)


def _symlinks(top: bytes) -> list[bytes]:
    return [f for f in _files(top, entries=True) if stat.S_ISLNK(os.lstat(f).st_mode)]


def _change(root: bytes, verb: str, op) -> None:
    """_apply's change, or a symlink retargeted with its time kept."""
    if verb != RETARGET:
        _apply(root, verb, op)
        return
    links = _symlinks(root)
    if not links:
        return
    path, target = links[op[0] % len(links)], op[4]
    st_ = os.lstat(path)
    old = os.readlink(path)
    os.unlink(path)
    os.symlink(target if target != old else old + b"~", path)
    os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns), follow_symlinks=False)


def _damage(path: bytes, how: str) -> None:
    if how == "rewritten":      # in place, its size kept: its time is now
        with open(path, "r+b") as f:
            f.write(b"X")
        return
    if how in ("cut", "grown"):
        size = os.lstat(path).st_size
        os.truncate(path, size + 7 if how == "grown" or size == 0 else size - 1)
        return
    if how == "entry retargeted":
        os.unlink(path)
        os.symlink(b"/etc/passwd", path)
        return
    os.unlink(path)
    if how == "entry a file":
        with open(path, "wb") as f:
            f.write(b"planted")
    if how == "symlink":
        os.symlink(b"/etc/passwd", path)
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "dir":
        os.mkdir(path)


def _refused(lab: Lab, cfg) -> str | None:
    try:
        prepare.compute(cfg, lab.store(), asked={"*"})
    except WorkFailed as exc:
        return str(exc)
    except UsageError as exc:       # a history that left no file
        assert "nothing to write" in str(exc), exc
    return None


@pytest.mark.slow      # tens of seconds: handed out first (conftest)
@settings(max_examples=int(os.environ.get("AS_SAVED_HISTORIES", "4")), deadline=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(first=st.lists(st.tuples(st.sampled_from(CREATE), OP), min_size=3, max_size=14),
       rounds=st.lists(ROUND, min_size=1, max_size=3), dir_mtime=st.sampled_from((0, 1_700_000_000_000_000_000)),
       pick=st.integers(0, 99), how=st.sampled_from(DAMAGE), last=st.sampled_from(["standard", "archive"]))
def test_an_undamaged_medium_is_never_refused_and_a_damaged_file_always_named(first, rounds, dir_mtime, pick, how,
                                                                              last):
    with in_memory("rabtui-as-saved-") as tmp:
        lab = Lab(Path(tmp), media_count=1)
        data = lab.src / "data"
        data.mkdir()
        root = os.fsencode(data)
        # the last backup `last`: a checkpoint of a standard directory reads its tree, of an archive
        # one the medium's union (union_as_saved)
        names = []
        plan = [(first, "standard", False, False), *rounds[:-1], (rounds[-1][0], last, rounds[-1][2], False)]
        for n, (ops, kind, rebuilt, cleanup) in enumerate(plan):
            for verb, op in ops:
                _change(root, verb, op)
            _dir_times(root, dir_mtime + n)
            cfg = _config(lab, kind)
            done = lab.backup(cfg, now=T0 + timedelta(days=n))
            names.append(done.path.name)
            # an archive's union says what it replaced by the source's newer kind of entry
            assert done.status == "completed" or (kind == "archive" and done.status == "warnings"
                                                  and "of the archive of medium m1 replaced" in done.reason), done.reason
            if rebuilt:
                lab.lose_database()
                assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
            # retention deletes what a verified checkpoint holds (an archive's only copy too)
            if cleanup and main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes", "--now"]) == 0:
                assert main(["--config", str(lab.config_path), "cleanup", "--now",
                             (T0 + timedelta(days=n, hours=12)).isoformat()]) == 0
                assert _refused(lab, cfg) is None, f"after the cleanup following backup {n}"
        assert _refused(lab, cfg) is None
        kept = {r["name"] for r in lab.store().all("SELECT name FROM backups WHERE status<>'deleted'")}
        for i, name in {0: names[0], len(names) - 1: names[-1]}.items():     # nor a restore from the medium
            if name not in kept:
                continue
            assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--backup", name, "--to",
                         str(lab.tmp / f"restored{i}")]) == 0, name
        entries = how.startswith("entry")
        if last == "archive":
            medium = lab.media[0][1]
            files = _files(os.fsencode(medium_layout.archive_root(medium, "loc", str(data))), entries)
            top = os.fsencode(medium_layout.archive_root(medium, "loc", "/"))
        else:
            files = _files(os.fsencode(medium_layout.backup_data_path(done.path, str(data))), entries)
            top = os.fsencode(medium_layout.backup_data_path(done.path, "/"))
        if how == "entry retargeted":
            files = [f for f in files if stat.S_ISLNK(os.lstat(f).st_mode) and os.readlink(f) != b"/etc/passwd"]
        if not files:
            return
        hit = files[pick % len(files)]
        ino = os.lstat(hit).st_ino
        group = [f for f in files if os.lstat(f).st_ino == ino] if how in ("cut", "grown", "rewritten") else [hit]
        _damage(hit, how)
        said = _refused(lab, cfg)
        if last == "archive" and how in ("removed", "entry removed"):
            # a file or entry the union lost is read from the backup that saved it, which holds it still
            assert said is None, said
            return
        names = [os.path.relpath(f, top) for f in group]
        assert said is not None and any(f"e.g. /{fmt.name(n)}: " in said for n in names), (said, names)


def test_a_time_past_the_year_9999_is_not_taken_for_a_file_written_into():
    """rsync prints a time past the year 9999 with the tens of its seconds only, and the catalog
    holds that: the medium's time of such a file (10000-01-01 00:00:03, which a tmpfs holds, ext4
    not) is the one saved, so the plan goes through and a restore from the medium gives the file
    back, alone too."""
    with in_memory("rabtui-far-") as tmp:
        _far_time_restored(Path(tmp))


def _far_time_restored(tmp_path: Path) -> None:
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    data.mkdir()
    (data / "far").write_bytes(b"far")
    os.utime(data / "far", (253_402_300_803, 253_402_300_803))
    cfg = _config(lab, "standard")
    done = lab.backup(cfg, now=T0)
    assert done.status == "completed", done.reason
    assert _refused(lab, cfg) is None
    for rel in (data, data / "far"):
        out = tmp_path / f"out-{rel.name}"
        assert main(["--config", str(lab.config_path), "restore", "loc", str(rel), "--to", str(out)]) == 0
        assert (out / str(data / "far").lstrip("/")).read_bytes() == b"far"
