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
