"""Checkpoints whose entries cost more on a disc than their bytes, or that a disc cannot hold as
named: each plan either burns (every image within its disc, every disc verified) or is refused at
plan time with a UsageError naming the cause (real backups, real xorriso, `images:` discs)."""

from __future__ import annotations

import os
import threading

import pytest

from rabtui.checkpoint import prepare, questions, run
from rabtui.errors import UsageError
from rabtui.events import READY, ScriptedPrompter
from tests.trees import Lab, write_files


def _lab(tmp_path, disc, fill):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs(disc)
    fill(lab.src / "data")
    assert lab.backup(cfg).status == "completed"
    return cfg, lab.store()


def _burn(tmp_path, cfg, store):
    """Plan, record and burn; every image within its disc."""
    c = prepare.compute(cfg, store)
    number = prepare.record(cfg, store, c, drive=cfg.checkpoint.drive)
    prompter = ScriptedPrompter(lambda q: READY if q.kind == questions.INSERT else "abort")
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=prompter)
    failed = [q.text[:300] for q in prompter.asked if q.kind != questions.INSERT]
    isos = sorted((tmp_path / "iso").glob("*.iso"))
    assert res.status == "completed", failed
    assert isos and all(p.stat().st_size <= c.disc_sectors * 2048 for p in isos)
    return c


def test_empty_directories_are_counted_as_directories_and_fit_their_disc(mem_path):
    """3,000 empty directories take ISO and Joliet extents and path table entries, ~12 MB:
    they are planned onto as many discs as that takes, and every disc burns."""
    def fill(d):
        for i in range(3000):
            os.makedirs(d / f"e{i:05d}")
        write_files(d, {f"f{i}": 500_000 for i in range(10)})
    c = _burn(mem_path, *_lab(mem_path, "8MiB", fill))
    assert len(c.plan.discs) >= 2


@pytest.mark.slow
def test_symlink_targets_are_counted_and_fit_their_disc(mem_path):
    """2,000 symlinks with 960-byte targets hold their targets in continuation areas (~4 MB):
    counted, so that every disc burns. (The state kept on each disc holds the targets too: a disc
    of 8 MiB has no room left beside it.)"""
    def fill(d):
        for i in range(2000):
            os.symlink("x/" * 480 + str(i), d / f"a{i:05d}")
        write_files(d, {f"f{i}": 1_000_000 for i in range(10)})
    c = _burn(mem_path, *_lab(mem_path, "16MiB", fill))
    assert len(c.plan.discs) >= 2


@pytest.mark.parametrize("target", ["x/" * 512, "y" * 256], ids=["1024-bytes", "a-256-byte-name"])
def test_a_symlink_target_a_disc_cannot_hold_is_refused_by_name(tmp_path, target):
    """libisofs refuses a target of 1,024 bytes or more, or with a name over 255 bytes in it
    (Linux allows 4,095): refused at plan time, naming the link."""
    def fill(d):
        os.symlink(target, d / "long-link")
        write_files(d, {"f": 1000})
    cfg, store = _lab(tmp_path, "8MiB", fill)
    with pytest.raises(UsageError, match="long-link"):
        prepare.compute(cfg, store)


def test_a_file_cut_into_parts_whose_part_names_are_too_long_is_refused_by_name(tmp_path):
    """A legal 250-byte name larger than a disc: NAME.part01-of-02 would be 263 bytes, which no
    disc holds (xorriso would shorten it); refused at plan time, naming the file."""
    def fill(d):
        write_files(d, {"n" * 250: 9_000_000})
    cfg, store = _lab(tmp_path, "8MiB", fill)
    with pytest.raises(UsageError, match="n" * 250 + ".*cut into parts.*longer than the 255"):
        prepare.compute(cfg, store)


@pytest.mark.parametrize("alike", ["big.part02-of-03", "big.part03-of-03", "big.part07-of-09"])
def test_a_file_named_like_a_part_of_a_cut_file_is_refused_naming_both(tmp_path, alike):
    """`big` (9 MB, cut into 3 parts on 4 MiB discs) beside a real file named like a part: the
    README's recipe (`cat NAME.part[0-9][0-9]-of-MM > NAME`) would join it in, and on the disc
    of that part it would take the part's place; refused at plan time, naming both and what to do."""
    def fill(d):
        write_files(d, {"big": 9_000_000, alike: b"I am a real file\n"})
    cfg, store = _lab(tmp_path, "4MiB", fill)
    with pytest.raises(UsageError, match=f"'big' is larger than a disc.*'{alike}' beside it") as info:
        prepare.compute(cfg, store)
    assert "rename" in info.value.hint


def test_a_file_named_like_a_part_of_another_file_is_kept(tmp_path):
    """A name like a part of a file that is not cut (or of no file) is an ordinary name."""
    def fill(d):
        write_files(d, {"big": 3_000_000, "big.part01-of-02": b"real\n", "other.part01-of-02": b"x"})
    _burn(tmp_path, *_lab(tmp_path, "4MiB", fill))


def test_the_sector_model_bounds_what_xorriso_writes_for_links_and_empty_directories(tmp_path):
    """isosize counts a symlink's target (continuation areas, no Joliet record) and an empty
    directory (extents, path tables) at least as xorriso writes them, and not far above."""
    import re
    import subprocess

    from rabtui.checkpoint import isosize
    from rabtui.checkpoint.xorriso import ISO_SETTINGS

    root = tmp_path / "t"
    root.mkdir()
    tree = isosize.TreeSize()
    tree.add_dir(b"data")
    for i in range(300):
        target = "x/" * 480 + str(i)
        os.symlink(target, root / f"l{i:04d}")
        tree.add_link(b"data/l%04d" % i, os.fsencode(target))
    for i in range(500):
        os.mkdir(root / f"e{i:04d}")
        tree.add_dir(b"data/e%04d" % i)
    out = subprocess.run(["xorriso", "-no_rc", "-outdev", "stdio:/dev/null", "-padding", "0", *ISO_SETTINGS,
                          "-map", str(root), "/data", "-commit"], capture_output=True, text=True)
    actual = int(re.search(r"ISO image produced: (\d+) sectors", out.stdout + out.stderr).group(1))
    assert actual <= tree.sectors() <= actual * 1.05 + 8, (tree.sectors(), actual)
