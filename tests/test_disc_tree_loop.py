"""A disc whose directory tree loops (a directory record gone wrong, a
directory's extent its parent's) is a bad disc. xorriso loads such a tree for ever, its memory
growing (some 9 MB a second here) until the OOM killer kills it (SIGKILL) or an allocation fails
and it crashes (SIGSEGV): today either is taken for this machine's failure, so the disc is never
failed and no rewrite is ever offered (retry, skip or abort, run after run). Real backup, real
xorriso, an `images:` drive; xorriso's memory is bounded by prlimit, as the machine's would be."""

from __future__ import annotations

import shutil
import subprocess
import threading
import struct

import pytest

from tests.test_disc_verify_unjudged import READS, _verified_disc, _verify_again, wrap_reader

SECTOR = 2048


def _records(image: bytearray, lba: int):
    """(offset, name, extent, flags) of each record of the ISO 9660 directory at `lba`."""
    start = lba * SECTOR
    size = struct.unpack("<I", image[start + 10:start + 14])[0]
    at = start
    while at < start + size:
        length = image[at]
        if length == 0:
            at = (at // SECTOR + 1) * SECTOR
            continue
        name = bytes(image[at + 33:at + 33 + image[at + 32]])
        yield at, name, struct.unpack("<I", image[at + 2:at + 6])[0], image[at + 25]
        at += length


def _loop_the_tree(path) -> None:
    """The first directory of the disc's root made to hold the root again."""
    image = bytearray(path.read_bytes())
    root = struct.unpack("<I", image[16 * SECTOR + 158:16 * SECTOR + 162])[0]
    at = next(at for at, name, _, flags in _records(image, root) if flags & 2 and name not in (b"\0", b"\1"))
    image[at + 2:at + 10] = struct.pack("<I", root) + struct.pack(">I", root)
    path.write_bytes(bytes(image))


def test_a_disc_whose_tree_loops_is_failed_and_a_rewrite_offered(tmp_path, monkeypatch):
    if not shutil.which("prlimit"):
        pytest.skip("needs prlimit")
    from rabtui.events import REWRITE

    cfg, store, number, iso = _verified_disc(tmp_path)
    _loop_the_tree(iso / f"RAB{number}D01.iso")
    for builder in READS:
        wrap_reader(monkeypatch, builder, ["prlimit", "--as=40000000", "--"])
    q, state = _verify_again(cfg, store, number)
    assert state == "failed" and REWRITE in q.choices, (state, q.choices, q.text)
    assert "directory tree holds more entries than were written: it loops or is damaged" in q.text, q.text
    assert "could not be verified" not in q.text, q.text


def _looped_image(tmp_path, volid: str):
    """A disc image of a directory and a file, named RAB1D01.iso, its tree looped, its volume id `volid`."""
    (tmp_path / "src" / "d").mkdir(parents=True)
    (tmp_path / "src" / "d" / "f").write_bytes(b"x")
    (tmp_path / "iso").mkdir()
    image = tmp_path / "iso" / "RAB1D01.iso"
    subprocess.run(["xorriso", "-no_rc", "-outdev", f"stdio:{image}", "-volid", volid, "-map", str(tmp_path / "src"),
                    "/", "-commit", "-end"], check=True, capture_output=True)
    _loop_the_tree(image)
    return f"images:{tmp_path / 'iso'}"


@pytest.mark.parametrize("volid", ["RAB1D01", "RAB9D01"])
def test_a_tree_that_loops_past_the_volume_id_fails_the_disc_and_another_disc_is_said_as_such(tmp_path, monkeypatch,
                                                                                           volid):
    """Each xorriso that reads the disc loads its tree: the check of every block, with the volume id
    read (RAB1D01), is stopped as the tree grows past what was written, and the disc is failed. A
    disc whose volume id cannot be read for its tree is told apart by its table of contents (read
    without the tree): RAB9D01, another disc (which may hold far more entries than this one), is a
    wrong disc, not judged. xorriso's memory is bounded, as the machine's would be."""
    if not shutil.which("prlimit"):
        pytest.skip("needs prlimit")
    from rabtui.checkpoint import verify

    drive = _looped_image(tmp_path, volid)
    for builder in READS:
        wrap_reader(monkeypatch, builder, ["prlimit", "--as=40000000", "--"])
    if volid == "RAB1D01":
        monkeypatch.setattr(verify, "read_volid", lambda *a, **k: (volid, ""))
    res = verify.verify_disc(drive, "RAB1D01", [], tmp_path / "state", emit=lambda e: None, cancel=threading.Event())
    assert not res.ok and res.found_volid == volid, res
    if volid == "RAB1D01":
        assert [m for m in res.messages if "directory tree holds more entries than were written" in m], res.messages
    else:
        assert res.wrong_disc and not res.messages, res


def test_the_entries_a_disc_may_hold_count_its_rows_and_their_directories_twice():
    from rabtui.checkpoint import disc_tree

    paths = [b"data/s/a/b/f", b"data/s/a/b/g", b"data/s/a/h", b"README.txt"]
    assert disc_tree.most(paths) == 2 * (4 + 4) + disc_tree.SLACK     # data, data/s, data/s/a, data/s/a/b
