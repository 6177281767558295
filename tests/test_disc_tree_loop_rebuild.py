"""rebuild-state reading the discs of a checkpoint of two, the directory tree of one of them looping
(a directory's extent its parent's). Read first, xorriso loads that tree until its memory runs out:
nothing bounds it before the disc's catalog is read (checkpoint/disc_tree.py), and the image is
named with what xorriso met. The rebuild goes on with the other disc, reads the checkpoint's catalog
there and verifies each image again, bounded by its rows of the catalog: the disc that loops is
failed by name. The entries each disc's catalog lists are kept (discs.entries): they bound the
tree of the discs of the checkpoint rebuilt, whose filler is not known, so its verification fails a
disc that loops by name, where xorriso loaded the tree until its memory ran out, which was taken for
this machine's failure and left the disc unjudged; a restore from it fails naming the disc. Real
backup and checkpoint, real xorriso on an `images:` drive, its memory bounded by prlimit, as the
machine's would be."""

from __future__ import annotations

import shutil

import pytest

from rabtui.cli import main
from rabtui.errors import WorkFailed
from rabtui.state.store import Store
from tests.test_disc_tree_loop import _loop_the_tree
from tests.test_disc_verify_unjudged import READS, _verify_again, wrap_reader
from tests.trees import Lab, write_files

pytestmark = pytest.mark.slow      # tens of seconds: handed out first (conftest)

LOOPS = "directory tree holds more entries than were written: it loops or is damaged"


@pytest.fixture
def bounded_memory(monkeypatch):
    """Each xorriso reading a disc run with 40 MB of address space."""
    from rabtui.rebuild import disc_text
    from rabtui.restore import disc_drive, disc_extract

    for builder in READS:
        wrap_reader(monkeypatch, builder, ["prlimit", "--as=40000000", "--"])
    for module, builders in ((disc_drive, ("xorriso_volid_argv",)), (disc_extract, ("xorriso_extract_argv",)),
                             (disc_text, ("xorriso_extract_argv",))):
        for builder in builders:
            real = getattr(module, builder)
            monkeypatch.setattr(module, builder,
                                lambda *a, real=real, **k: ["prlimit", "--as=40000000", "--", *real(*a, **k)])


def _rebuilt(lab, argv, capsys) -> tuple[int, str]:
    lab.lose_database()
    capsys.readouterr()
    code = main([*argv, "rebuild-state"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_disc_whose_tree_loops_fails_by_name_as_a_rebuilt_checkpoint_is_read(tmp_path, bounded_memory, capsys):
    if not shutil.which("prlimit"):
        pytest.skip("needs prlimit")
    from rabtui.restore import run as R

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"big.bin": 6_000_000, "x": b"x"})     # cut across two discs
    assert lab.backup(cfg).status == "completed"
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "checkpoint", "burn", "--yes", "--now"]) == 0
    _rebuilt(lab, argv, capsys)
    store = Store(lab.state)
    listed = {r["disc"]: r["entries"] for r in store.all("SELECT disc, entries FROM discs WHERE number=1")}
    assert listed.keys() == {1, 2} and all(listed.values()), listed
    _loop_the_tree(tmp_path / "iso" / "RAB1D01.iso")

    with pytest.raises(WorkFailed) as got:
        R.restore(cfg, store, "loc", str(lab.src / "data"), checkpoint=1, to=tmp_path / "out")
    assert "RAB1D01 (checkpoint 1 disc 1) cannot be read" in str(got.value) and LOOPS in str(got.value), got.value
    assert not (tmp_path / "out").exists()
    q, state = _verify_again(cfg, store, 1)
    assert state == "failed" and LOOPS in q.text and "could not be verified" not in q.text, (state, q.text)
    store.close()

    # rebuilt again, that disc looping: read first, it gives no volume id (xorriso fails, its memory
    # bounded here), and is named so; the checkpoint is read off its other disc, and the one that
    # loops is failed as it is verified again, bounded by its catalog's rows
    code, said = _rebuilt(lab, argv, capsys)
    assert code == 3, said
    store = Store(lab.state)
    states = {r["disc"]: (r["state"], r["entries"]) for r in store.all("SELECT * FROM discs WHERE number=1")}
    assert states == {1: ("failed", listed[1]), 2: ("verified", listed[2])}, states
    assert LOOPS in store.one("SELECT message FROM discs WHERE number=1 AND disc=1")["message"]
    named = [line for line in said.splitlines() if "RAB1D01.iso: xorriso " in line]
    assert named and "directory tree loops" in named[0] and "volume id None" not in said, said
