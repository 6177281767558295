"""A restore from a checkpoint's discs, one of them a disc whose directory tree loops (a directory's
extent its parent's): xorriso would load that tree until its memory ran out, the restore failing
with a signal or an allocation failure (this machine's, it says), or, with memory to spare, never
ending. Each xorriso reading the disc is stopped once it has read more entries than the catalog
says were written there (checkpoint/disc_tree.py), and the restore fails naming the disc (exit 1),
nothing restored. Real backup and checkpoint, real xorriso on an `images:` drive, its memory bounded
by prlimit, as the machine's would be."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from rabtui.errors import WorkFailed
from rabtui.checkpoint import disc_listing
from rabtui.restore import disc_drive, disc_extract, run as R
from tests.test_disc_tree_loop import _loop_the_tree
from tests.trees import Lab, burn_due, write_files

pytestmark = pytest.mark.skipif(not shutil.which("prlimit"), reason="needs prlimit")


@pytest.fixture(scope="module")
def looped(tmp_path_factory):
    """(lab, config, store, checkpoint number, its disc image, its tree looped)."""
    lab = Lab(tmp_path_factory.mktemp("loop"), media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a": 3000, "b/c": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    iso = lab.tmp / "iso" / f"RAB{number}D01.iso"
    _loop_the_tree(iso)
    return lab, cfg, store, number, iso


@pytest.fixture
def bounded_memory(monkeypatch):
    """Each xorriso of the restore run with 40 MB of address space."""
    for module, builder in ((disc_drive, "xorriso_volid_argv"), (disc_extract, "xorriso_extract_argv"),
                            (disc_listing, "names_argv")):
        real = getattr(module, builder)
        monkeypatch.setattr(module, builder, lambda *a, real=real, **k: ["prlimit", "--as=40000000", "--", *real(*a, **k)])


@pytest.mark.parametrize("where", ["volume id", "extraction"])
def test_a_restore_from_a_disc_whose_tree_loops_fails_naming_the_disc(looped, bounded_memory, monkeypatch, where):
    """Stopped as the volume id is read (the disc's table of contents, read without its tree, says
    it is the disc asked for), or, that read, as the disc is extracted."""
    lab, cfg, store, number, _iso = looped
    volid = f"RAB{number}D01"
    if where == "extraction":
        monkeypatch.setattr(disc_drive, "disc_volid", lambda *a, **k: volid)
    out = lab.tmp / f"out-{where.replace(' ', '-')}"
    with pytest.raises(WorkFailed) as got:
        R.restore(cfg, store, "loc", str(lab.src / "data"), checkpoint=number, to=out)
    text = str(got.value)
    assert volid in text and "directory tree holds more entries than were written: it loops or is damaged" in text, text
    assert "killed by signal" not in text and "Cannot allocate" not in text, text
    assert f"rabtui checkpoint verify {number}" in got.value.hint
    assert not (out / str(lab.src / "data").lstrip("/")).exists()


def test_the_command_exits_1_naming_the_disc(looped, bounded_memory, capsys):
    from rabtui.cli import main

    lab, _cfg, _store, number, _iso = looped
    code = main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data" / "a"),
                 "--checkpoint", str(number), "--to", str(lab.tmp / "out-cli")])
    err = capsys.readouterr().err
    assert code == 1 and f"RAB{number}D01" in err and "it loops or is damaged" in err, (code, err)


def test_another_disc_whose_tree_loops_past_the_bound_is_a_wrong_disc(looped, bounded_memory, tmp_path):
    """A disc put in whose tree holds more entries than this checkpoint's disc (another disc, which
    may be far larger) is told apart by its table of contents: a wrong disc, not a bad one."""
    lab, cfg, store, number, iso = looped
    (tmp_path / "src" / "d").mkdir(parents=True)
    (tmp_path / "src" / "d" / "f").write_bytes(b"x")
    other = tmp_path / "other.iso"
    subprocess.run(["xorriso", "-no_rc", "-outdev", f"stdio:{other}", "-volid", "RAB99D01", "-map",
                    str(tmp_path / "src"), "/", "-commit", "-end"], check=True, capture_output=True)
    _loop_the_tree(other)
    aside = tmp_path / "ours.iso"
    iso.rename(aside)
    try:
        other.rename(iso)
        with pytest.raises(WorkFailed) as got:
            R.restore(cfg, store, "loc", str(lab.src / "data"), checkpoint=number, to=tmp_path / "out")
    finally:
        aside.replace(iso)
    assert str(got.value).startswith(f"wrong disc: the disc in {iso} is RAB99D01, not RAB{number}D01"), got.value


def test_a_disc_whose_tree_loops_is_no_copy_at_hand(looped, bounded_memory, tmp_path):
    """A restore that chooses its copy, the medium gone: the disc, whose tree loops, is not at hand,
    and why is said as it is asked for."""
    from rabtui.events import SKIP, ScriptedPrompter

    lab, cfg, store, number, _iso = looped
    medium = lab.media[0][1]
    aside = tmp_path / "medium-aside"
    asked = []
    medium.rename(aside)
    try:
        with pytest.raises(WorkFailed):
            R.restore(cfg, store, "loc", str(lab.src / "data"), to=tmp_path / "out",
                      prompter=ScriptedPrompter(lambda q: asked.append(q.text) or SKIP))
    finally:
        aside.rename(medium)
    said = [t for t in asked if f"RAB{number}D01 (checkpoint {number} disc 1) cannot be read" in t]
    assert said and "it loops or is damaged" in said[0], asked
