"""Generated histories of an archive directory whose backups are complete or kept (post-backup
commands failed), the source turning a few names into files, directories, symlinks, FIFOs and back
between them: a restore as of each backup gives what it saved; the checkpoint taken after them is
written and verified, and a restore from its discs, the medium gone, gives the tree a restore from
the medium gives. Real rsync and xorriso, an `images:` drive, a local source; more examples with
KEPT_HISTORIES=N."""

from __future__ import annotations

import os
import shutil
import stat
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st
import pytest

from rabtui.cli import main
from tests.test_kept_entries_attacks import _lab, restored_both_ways
from tests.test_kept_data import _post_commands
from tests.trees import in_memory

T0 = datetime(2026, 7, 1, 3, 0)
LEAF = st.sampled_from(["none", "file", "link", "fifo", "empty"])
# a name not UTF-8 among them (as os.fsdecode gives it)
Y = os.fsdecode(b"y-\xff\xe9")
TOP = st.one_of(LEAF, st.fixed_dictionaries({"x": LEAF, Y: LEAF}))
STATE = st.fixed_dictionaries({"a": TOP, "b": TOP})
RUNS = st.lists(st.tuples(STATE, st.booleans()), min_size=2, max_size=4)


def _clear(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _make(path: Path, kind, step: int) -> None:
    """`kind` at `path` (a dict: a directory of those), each file and time of its own step."""
    _clear(path)
    if kind == "none":
        return
    if isinstance(kind, dict):
        path.mkdir()
        for name, sub in kind.items():
            _make(path / name, sub, step)
    elif kind == "file":
        path.write_bytes(b"v" * (step + 1) + os.fsencode(path.name))
    elif kind == "link":
        os.symlink(f"../target-{step}", path)
    elif kind == "fifo":
        os.mkfifo(path, 0o600 + step)
    else:
        path.mkdir()
    t = 1_600_000_000 + step * 1000
    os.utime(path, (t, t), follow_symlinks=False)


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirs, files, dfd in os.fwalk(root):
        for name in dirs + files:
            st_ = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if stat.S_ISLNK(st_.st_mode):
                out[rel] = "link " + os.readlink(name, dir_fd=dfd)
            elif stat.S_ISREG(st_.st_mode):
                with open(os.open(name, os.O_RDONLY, dir_fd=dfd), "rb") as f:
                    out[rel] = f.read().decode(errors="surrogateescape")
            else:
                out[rel] = f"{oct(st_.st_mode)} {int(st_.st_mtime)}"
    return out


@pytest.mark.slow      # tens of seconds: handed out first (conftest)
@settings(max_examples=int(os.environ.get("KEPT_HISTORIES", "3")), deadline=None)
@given(runs=RUNS)
# a file kept data saved, a symlink at its name in the union after it: the discs held the file
@example(runs=[({"a": {"x": "file", Y: "none"}, "b": "none"}, True),
               ({"a": {"x": "link", Y: "none"}, "b": "none"}, False)])
# a file, then a directory (empty, or holding a file), then gone: the medium gave the older file
@example(runs=[({"a": "file", "b": "none"}, False), ({"a": {"x": "none", Y: "none"}, "b": "none"}, False),
               ({"a": "none", "b": "none"}, False)])
@example(runs=[({"a": "file", "b": "none"}, False), ({"a": {"x": "none", Y: "file"}, "b": "none"}, False),
               ({"a": "none", "b": "none"}, False)])
def test_a_restore_from_the_discs_gives_what_one_from_the_medium_gives_after_kept_backups(runs):
    with in_memory("rabtui-history-") as tmp:
        tmp_path = Path(tmp)
        lab = _lab(tmp_path)
        photos = lab.src / "photos"
        (photos / "first.jpg").write_bytes(b"one")
        made = []
        for step, (state, kept) in enumerate(runs + [(runs[-1][0], False)]):
            for name, kind in state.items():
                _make(photos / name, kind, step)
            done = lab.backup(_post_commands(lab, kept), now=T0 + timedelta(days=step))
            # the union's file or symlink where the source has a directory now is said as a warning
            assert done.status in (("failed",) if kept else ("completed", "warnings")), done.reason
            made.append((done, state, step))
        for done, state, step in made[:-1]:
            restored = tmp_path / f"as-of-{step}"
            assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--backup", done.path.name,
                         "--to", str(restored)]) in (0, 3)
            _as_saved(_tree(restored / str(photos).lstrip("/")), state, step)
        from_medium, from_discs = restored_both_ways(lab, tmp_path, photos, medium_exits=(0, 3))
        assert _tree(from_discs) == _tree(from_medium)
        _as_saved(_tree(from_medium), *made[-1][1:])


def _as_saved(tree: dict[str, str], state: dict, step: int, top: str = "") -> None:
    """A restore as of the backup of `step` holds each file, symlink and FIFO it saved (each of
    them anew: its content, target or time is the step's) as it saved it, and a directory where it
    had one (an empty one may be missing: the union holds no directory without entries)."""
    for name, kind in state.items():
        rel = os.path.join(top, name)
        if isinstance(kind, dict):
            assert tree.get(rel, "0o40").startswith("0o40"), (rel, tree)
            _as_saved(tree, kind, step, rel)
        elif kind == "file":
            assert tree.get(rel) == "v" * (step + 1) + name, (rel, tree)
        elif kind == "link":
            assert tree.get(rel) == f"link ../target-{step}", (rel, tree)
        elif kind == "fifo":
            assert tree.get(rel, "").startswith("0o10") and tree[rel].endswith(f" {1_600_000_000 + step * 1000}"), \
                (rel, tree)
        elif kind == "empty":
            assert tree.get(rel, "0o40").startswith("0o40"), (rel, tree)
