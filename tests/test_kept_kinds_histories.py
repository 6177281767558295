"""Generated histories of one path `b` of an archive directory, complete and kept backups (post-
backup commands failed: never linked into the union) each saving another kind there (a file, a
symlink, a FIFO, a directory holding `f`, an empty directory, or nothing), then `b` gone from the
source: the newest entry saved at `b` wins, whatever its kind and whichever backup saved it. A
restore from the medium (exit 0: an older shape is left out in silence), Browse and a restore from
the checkpoint's discs, the medium gone, give the same tree, and the plan warns of nothing. Real
rsync and xorriso, an `images:` drive, a local source; more examples with KEPT_KINDS=N."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st
import pytest

from rabtui.checkpoint import prepare
from rabtui.cli import main
from rabtui.events import WARNING
from tests.test_archive_shapes_as_saved import _listed
from tests.test_kept_data import _post_commands
from tests.test_kept_entries_attacks import _lab, restored_both_ways
from tests.test_kept_histories import T0, _make, _tree
from tests.trees import in_memory

KIND = st.sampled_from(["none", "file", "link", "fifo", "dir", "empty"])
# an empty directory a complete backup saved is not in the union (README: the backup's own tree
# gives it, which the last one, without `b`, does not hold): only kept data's are kept
RUNS = st.lists(st.tuples(KIND, st.booleans()).filter(lambda run: run != ("empty", False)), min_size=1, max_size=3)


def _shape(kind: str):
    return {"x": "file"} if kind == "dir" else kind


@pytest.mark.slow      # tens of seconds: handed out first (conftest)
@settings(max_examples=int(os.environ.get("KEPT_KINDS", "2")), deadline=None)
@given(runs=RUNS)
# a kept directory holding `f`, then a kept symlink or FIFO `b`
@example(runs=[("dir", True), ("link", True)])
# the union's directory, then a kept FIFO
@example(runs=[("dir", False), ("fifo", True)])
# the union's file, then a kept symlink, then a kept directory
@example(runs=[("file", False), ("link", True), ("dir", True)])
# a kept directory replaced by a kept file
@example(runs=[("dir", True), ("file", True)])
def test_the_newest_entry_saved_at_a_path_is_what_the_medium_browse_and_the_discs_give(runs):
    with in_memory("rabtui-history-") as tmp:
        tmp_path = Path(tmp)
        lab = _lab(tmp_path)
        photos = lab.src / "photos"
        (photos / "first.jpg").write_bytes(b"one")
        for step, (kind, kept) in enumerate(runs + [("none", False)]):
            _make(photos / "b", _shape(kind), step)
            done = lab.backup(_post_commands(lab, kept), now=T0 + timedelta(days=step))
            assert done.status in (("failed",) if kept else ("completed", "warnings")), done.reason
        last = done
        newest = next((kind for kind, _ in reversed(runs) if kind != "none"), None)
        step = max((i for i, (kind, _) in enumerate(runs) if kind != "none"), default=None)
        listed = _listed(lab, last, photos)
        in_b = sorted(_listed(lab, last, photos / "b")) if listed.get(b"b", (False,))[0] else None
        warned = []
        prepare.compute(lab.load(), lab.store(), asked={"*"}, emit=warned.append)
        assert [e.message for e in warned if e.kind == WARNING and "kept data" in e.message] == []
        assert main(["--config", str(lab.config_path), "restore", "loc", str(photos / "b"), "--backup",
                     last.path.name, "--to", str(tmp_path / "b-alone")]) == (0 if newest else 1)
        from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
        medium = _tree(from_medium)
        assert _tree(from_discs) == medium
        shown = medium.get("b")
        if newest is None:
            assert shown is None, medium
        elif newest == "file":
            assert shown == "v" * (step + 1) + "b" and "b/f" not in medium and "b/x" not in medium, medium
        elif newest == "link":
            assert shown == f"link ../target-{step}", medium
        elif newest == "fifo":
            assert shown.startswith("0o10") and shown.endswith(f" {1_600_000_000 + step * 1000}"), medium
        else:
            assert shown.startswith("0o40"), medium
        if newest == "dir":
            assert medium.get("b/x") == "v" * (step + 1) + "x", medium
        assert sorted(listed) == sorted(os.fsencode(n) for n in medium if "/" not in n), (listed, medium)
        if "b" in listed:
            assert listed[b"b"][0] == shown.startswith("0o40"), (listed, medium)
        if shown is not None and shown.startswith("0o40"):
            assert in_b == sorted(os.fsencode(n[2:]) for n in medium if n.startswith("b/")), (in_b, medium)
        alone = tmp_path / "b-alone" / str(photos).lstrip("/")
        # the entries, not the times of the directories (`b` alone: as the backup holding the newest
        # file below it has it, not the newest backup holding it)
        assert {k: v for k, v in medium.items() if k == "b" or k.startswith("b/")}.keys() == \
            (_tree(alone) if alone.is_dir() else {}).keys(), medium
        assert {k: v for k, v in medium.items() if k.startswith("b/") or (k == "b" and not v.startswith("0o40"))} \
            == {k: v for k, v in (_tree(alone) if alone.is_dir() else {}).items()
                if k.startswith("b/") or (k == "b" and not v.startswith("0o40"))}
