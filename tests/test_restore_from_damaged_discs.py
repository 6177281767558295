"""A restore from checkpoint discs checks every file it read against the catalog's sha256: a disc
with a changed byte, or another server's disc that has the same volume id, fails the restore with
the file's name and what to do, and nothing is written into the target."""

from __future__ import annotations

import os
import shutil

import pytest

from rabtui.errors import WorkFailed
from rabtui.restore import run as R
from rabtui.state.store import Store
from tests.trees import Lab, burn_due, write_files


def _checkpoint(lab, content: bytes):
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"a.txt": content, "b.bin": 100})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    return cfg, store, burn_due(cfg, store)


def test_a_changed_byte_on_the_disc_fails_the_restore_by_name(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg, store, number = _checkpoint(lab, b"GOOD-CONTENT " * 4000)
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    data = bytearray(iso.read_bytes())
    at = data.find(b"GOOD-CONTENT GOOD-CONTENT")
    data[at + 3] ^= 0x01
    iso.write_bytes(bytes(data))
    target = str(lab.src / "data" / "a.txt")
    with pytest.raises(WorkFailed) as got:
        R.restore(cfg, store, "loc", target, checkpoint=number, to=tmp_path / "out")
    text = str(got.value)
    assert "a.txt" in text and "sha256" in text and "checkpoint verify" in text
    assert not (tmp_path / "out" / target.lstrip("/")).exists()
    # the whole directory too: the damaged file is named, the others are not
    with pytest.raises(WorkFailed) as got:
        R.restore(cfg, store, "loc", str(lab.src / "data"), checkpoint=number, to=tmp_path / "out2")
    assert "a.txt" in str(got.value) and "b.bin" not in str(got.value)


def test_another_servers_disc_with_the_same_volume_id_is_refused(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg, store, number = _checkpoint(lab, b"OURS " * 1000)
    ours = tmp_path / "state-ours"
    store.close()
    shutil.copytree(lab.state, ours)
    # another server with the same source id and path writes its own checkpoint 1
    shutil.rmtree(lab.state)
    shutil.rmtree(tmp_path / "iso")
    shutil.rmtree(lab.media[0][1])
    lab.media[0][1].mkdir()
    write_files(lab.src / "data", {"a.txt": b"THEIRS " * 1000})
    assert lab.backup(cfg).status == "completed"
    theirs = lab.store()
    assert burn_due(cfg, theirs) == number
    theirs.close()
    shutil.rmtree(lab.state)
    shutil.copytree(ours, lab.state)
    store = Store(lab.state)
    target = str(lab.src / "data" / "a.txt")
    with pytest.raises(WorkFailed) as got:
        R.restore(cfg, store, "loc", target, checkpoint=number, to=tmp_path / "out")
    assert "a.txt" in str(got.value) and "another server" in str(got.value)
    assert not os.path.exists(tmp_path / "out" / target.lstrip("/"))


def test_what_a_disc_holds_beyond_the_catalog_fails_the_restore_by_name(tmp_path):
    """A disc of the same volume id that holds every recorded file as recorded, and more: a file and a
    symlink to /etc/passwd that the checkpoint never wrote. They are named, and nothing is written."""
    import subprocess

    lab = Lab(tmp_path, media_count=1)
    cfg, store, number = _checkpoint(lab, b"OURS " * 1000)
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    tree = tmp_path / "tree"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(tree)], check=True,
                   capture_output=True)
    on_disc = tree / "data" / "loc" / str(lab.src / "data").lstrip("/")
    (on_disc / "planted.txt").write_bytes(b"not ours")
    os.symlink("/etc/passwd", on_disc / "passwd")
    iso.unlink()
    subprocess.run(["xorriso", "-outdev", str(iso), "-volid", f"RAB{number}D01", "-rockridge", "on", "-joliet", "on",
                    "-map", str(tree), "/", "-commit"], check=True, capture_output=True)
    with pytest.raises(WorkFailed) as got:
        R.restore(cfg, store, "loc", str(lab.src / "data"), checkpoint=number, to=tmp_path / "out")
    text = str(got.value)
    assert "planted.txt: not in the checkpoint's catalog" in text and "passwd: not in the checkpoint's catalog" in text
    assert "a.txt" not in text and "nothing was restored" in text
    assert not (tmp_path / "out" / str(lab.src / "data").lstrip("/")).exists()
    # a file of the catalog is still restored from that disc: it is what was written
    R.restore(cfg, store, "loc", str(lab.src / "data" / "a.txt"), checkpoint=number, to=tmp_path / "one")
    assert (tmp_path / "one" / str(lab.src / "data" / "a.txt").lstrip("/")).read_bytes() == b"OURS " * 1000


def test_a_truncated_disc_image_fails_the_restore_with_xorrisos_reason(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"big.bin": 6_000_000, "x": b"x"})     # cut across two discs
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    iso = tmp_path / "iso" / f"RAB{number}D02.iso"
    os.truncate(iso, iso.stat().st_size // 2)
    with pytest.raises(WorkFailed) as got:
        R.restore(cfg, store, "loc", str(lab.src / "data"), checkpoint=number, to=tmp_path / "out")
    assert str(got.value).startswith(f"xorriso could not extract data/loc/{str(lab.src / 'data').lstrip('/')} from"
                                     f" RAB{number}D02: Cannot read all bytes from ISO file")
    assert f"rabtui checkpoint verify {number}" in got.value.hint
    assert not (tmp_path / "out" / str(lab.src / "data").lstrip("/")).exists()
