"""The copies of an archive directory compared in SQL (state/archive_held.py) name exactly what
they named read whole into Python (as places given two shapes beyond MANY_SHAPED still are), over
generated histories of real backups onto two media and checkpoints onto discs: files added,
removed, changed, directories renamed, files made directories and back, symlinks, FIFOs and empty
directories, names that are not UTF-8, hold `%`, `_` or `\\`, of 255 bytes, 20 directories deep;
for every directory of it restored, from every copy chosen. Real rsync and xorriso."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rabtui.restore import archive_elsewhere
from rabtui.restore.copies import copies_of
from rabtui.state import catalog
from rabtui.state.store import Store
from tests.trees import Lab, burn_due

T0 = datetime(2026, 3, 1, 2, 0, 0)
NAMES = [b"a", b"caf\xe9", b"50%", b"x_y", b"back\\slash", b"n" * 255, b"a0", b"-"]
DIRS = [b"", b"d", b"d/e", b"a", b"q%", b"q_", b"/".join([b"deep"] * 20)]
OPS = ["file", "file", "gone", "link", "fifo", "empty", "rmdir", "rename"]

ops = st.tuples(st.sampled_from(OPS), st.sampled_from(DIRS), st.sampled_from(NAMES))
steps = st.lists(st.tuples(st.lists(ops, min_size=1, max_size=5), st.sampled_from(["m1", "m2"]),
                           st.sampled_from([False, False, True])),
                 min_size=2, max_size=4)


def _clear(path: bytes) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _apply(root: bytes, op: str, d: bytes, name: bytes, n: int) -> None:
    """One change of the source below `root`: `op` at `d`/`name` (of directory `d`, for rmdir and rename)."""
    path = os.path.join(root, d, name) if d else os.path.join(root, name)
    if op in ("rmdir", "rename"):
        at = os.path.join(root, d or b"a")
        if op == "rmdir" or not os.path.isdir(at) or os.path.islink(at):
            _clear(at)
        elif not os.path.lexists(at + b"-%d" % n):
            os.rename(at, at + b"-%d" % n)
        return
    if op == "gone":
        _clear(path)
        return
    up = root
    for part in os.path.dirname(os.path.relpath(path, root)).split(b"/") if b"/" in os.path.relpath(path, root) else []:
        up = os.path.join(up, part)
        if os.path.lexists(up) and (os.path.islink(up) or not os.path.isdir(up)):
            os.unlink(up)      # a file made a directory
        os.makedirs(up, exist_ok=True)
    _clear(path)               # a directory made a file, a file a symlink, ...
    if op == "file":
        with open(path, "wb") as f:
            f.write(b"v%d" % n)
    elif op == "link":
        os.symlink(b"to-" + name[:100], path)
    elif op == "fifo":
        os.mkfifo(path)
    else:
        os.mkdir(path)


def _lacking_both_ways(cfg, store: Store, source, rel: bytes, chosen, copies) -> tuple[list[str], list[str]]:
    in_sql = archive_elsewhere.lacking(cfg, store, source, rel, chosen, copies)
    many = archive_elsewhere.MANY_SHAPED
    archive_elsewhere.MANY_SHAPED = -1      # every place read whole, in Python
    try:
        return in_sql, archive_elsewhere.lacking(cfg, store, source, rel, chosen, copies)
    finally:
        archive_elsewhere.MANY_SHAPED = many


HISTORY = [([("file", b"d", b"caf\xe9"), ("file", b"q%", b"x_y"), ("file", b"a", b"a"), ("link", b"", b"back\\slash"),
             ("file", b"/".join([b"deep"] * 20), b"n" * 255)], "m2", False),
           ([("gone", b"d", b"caf\xe9"), ("rename", b"q%", b""), ("file", b"a/a", b"a0"), ("fifo", b"", b"50%"),
             ("file", b"", b"back\\slash")], "m1", False),
           ([("empty", b"d", b"a"), ("gone", b"a/a", b"a0"), ("file", b"a", b"a")], "m2", True)]


@settings(max_examples=3, deadline=None)
@given(steps)
@example(HISTORY)
def test_the_comparison_in_sql_names_what_the_whole_read_names(history):
    with tempfile.TemporaryDirectory(prefix="rabtui-elsewhere-") as tmp:
        lab = Lab(Path(tmp), media_count=2)
        cfg = lab.with_discs("4MiB", [("photos", "archive")])
        (lab.tmp / "iso").mkdir()
        root = os.fsencode(lab.src / "photos")
        for day, (changes, medium, burn) in enumerate(history):
            for n, (op, d, name) in enumerate(changes):
                _apply(root, op, d, name, day * 10 + n)
            assert lab.backup(cfg, now=T0 + timedelta(days=day), medium_id=medium).status == "completed"
            if burn:
                burn_due(cfg, lab.store(), {"*"})
        store = Store(lab.state)
        source = cfg.sources[0]
        top = catalog.rel_path(source.directories[0].path)
        rels = {top} | {bytes(r["path"]).rsplit(b"/", 1)[0] for r in store.all("SELECT path FROM paths")}
        said = []
        for rel in sorted(rels):
            copies = copies_of(store, source, rel)
            for chosen in copies:
                in_sql, whole = _lacking_both_ways(cfg, store, source, rel, chosen, copies)
                assert in_sql == whole, (rel, chosen.describe())
                said += in_sql
        store.close()
        if history == HISTORY:
            assert len(said) > 5, said
