"""Another server's disc with the volume id of one of this server's (each server numbers its
checkpoints from 1) put in the images folder by mistake: rebuild-state records it as it records
any disc, but says, with warnings (exit 3), that the copy of the state on it knows this server's
media by other labels, and takes from it no backup of its media as deleted; the server's own disc
is read without that warning. Real backups, real xorriso onto `images:` drives."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from rabtui.checkpoint import reserve
from rabtui.checkpoint.layout import made_by_line
from rabtui.media import mounts
from tests.test_rebuild_odd_records import _rabtui
from tests.trees import Lab, next_second, write_files


def _server(base, content: bytes, medium: str = "m1") -> Lab:
    base.mkdir()
    lab = Lab(base, media_count=1)
    lab.media = [(medium, path) for _, path in lab.media]
    lab.with_discs("4MiB")
    (base / "iso").mkdir()
    write_files(lab.src / "data", {"a": content})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    assert _rabtui(lab, "checkpoint", "burn", "--now", "--yes").returncode == 0
    return lab


def _rebuilt(lab):
    lab.lose_database()
    return _rabtui(lab, "rebuild-state")


@pytest.mark.parametrize("their_medium", ["m1", "x1"])
def test_another_servers_disc_is_said_as_such_when_rebuilt_from(tmp_path, their_medium):
    """The other server backs up the same paths, under the same source id, onto a medium of the same
    id, or of an id this server has not."""
    _server(tmp_path / "srv", b"theirs", their_medium)
    os.rename(tmp_path / "srv", tmp_path / "theirs")
    next_second()                       # their backup's name is another second's
    ours = _server(tmp_path / "srv", b"ours")
    own = _rebuilt(ours)
    assert own.returncode == 0 and "another server" not in own.stdout, own.stdout + own.stderr
    shutil.copy(tmp_path / "theirs" / "iso" / "RAB1D01.iso", ours.tmp / "iso" / "RAB1D01.iso")
    done = _rebuilt(ours)
    out = done.stdout + done.stderr
    assert done.returncode == 3 and "Traceback" not in out, out
    assert "checkpoint 1:" in done.stdout and "another server's" in done.stdout and f"medium {their_medium}" in done.stdout, out
    store = ours.store()
    assert [r["status"] for r in store.all("SELECT status FROM backups")] == ["completed"]


def _lost(ours: Lab, tmp_path):
    """The whole state directory lost, and every medium of the server away (not mounted)."""
    shutil.rmtree(ours.state)
    for _, path in ours.media:
        os.rename(path, tmp_path / f"{path.name}-away")
        path.mkdir()


def test_another_servers_disc_is_said_as_such_without_its_copy_of_the_state(tmp_path):
    """The disc's own README.txt names the labels of the media of the server that made it: with the
    copy of the state on it removed, it is still told from this server's (exit 3), and this
    server's own disc is still read without that warning."""
    from tests.test_disc_verify_metadata import alter

    _server(tmp_path / "srv", b"theirs")
    os.rename(tmp_path / "srv", tmp_path / "theirs")
    next_second()
    ours = _server(tmp_path / "srv", b"ours")
    alter(ours.tmp / "iso" / "RAB1D01.iso", "-rm", "/rabtui/rabtui.db", "--")
    alter(tmp_path / "theirs" / "iso" / "RAB1D01.iso", "-rm", "/rabtui/rabtui.db", "--")
    own = _rebuilt(ours)
    assert "another server" not in own.stdout and "cannot tell" not in own.stdout, own.stdout + own.stderr
    shutil.copy(tmp_path / "theirs" / "iso" / "RAB1D01.iso", ours.tmp / "iso" / "RAB1D01.iso")
    done = _rebuilt(ours)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "checkpoint 1: the discs say they were made by a server that knew medium m1 (labelled on" in done.stdout, \
        done.stdout


def test_a_disc_whose_server_cannot_be_told_with_every_medium_away_is_said_so(tmp_path):
    """The whole state directory lost and every medium away: nothing here says which labels this
    server's media have, so whether a disc is its own cannot be told. Another server's disc (and
    this server's own) is recorded all the same, and that is said, never taken silently for one of
    its own."""
    _server(tmp_path / "srv", b"theirs")
    os.rename(tmp_path / "srv", tmp_path / "theirs")
    next_second()
    ours = _server(tmp_path / "srv", b"ours")
    shutil.copy(tmp_path / "theirs" / "iso" / "RAB1D01.iso", ours.tmp / "iso" / "RAB1D01.iso")
    _lost(ours, tmp_path)
    done = _rabtui(ours, "rebuild-state")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "checkpoint 1: its discs were made by the server whose media m1 were labelled on" in done.stdout, done.stdout
    assert "cannot tell whether they are this server's" in done.stdout, done.stdout
    assert ours.store().one("SELECT COUNT(*) FROM disc_files WHERE number=1")[0] > 0     # recorded all the same


def test_the_media_line_of_a_discs_readme_is_reserved_for_as_long_as_it_is(tmp_path):
    """A label taken over with `media label --force` may carry a long serial, which README.txt's
    line of the server's media repeats (escaped) on every disc: the plan keeps room for all of it."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    store = lab.store()
    before = reserve.files_beside(cfg, store, ["/srv"])
    serial = "é" * 20_000                     # 6 bytes each as README.txt writes it (\u00e9)
    store.conn.execute("INSERT INTO media(id, label) VALUES (?, ?)",
                       (cfg.media[0].id, json.dumps({"id": cfg.media[0].id, "serial": serial, "created": 1.0})))
    line = made_by_line(mounts.made_by(cfg.media, store))
    assert len(line) > 120_000
    assert reserve.files_beside(cfg, store, ["/srv"]) - before >= len(line) - 200


def test_a_disk_taken_over_from_another_server_keeps_this_servers_older_discs_its_own(tmp_path):
    """`media label m1 --force` takes over another server's disk labelled m1 (its label kept, it
    tells that disk apart), then a disk whose label a hand wrote (labelled anew): the discs this
    server made before, which name m1's earlier label, are still its own to rebuild-state, with the
    database lost and then with the whole state directory lost (the disk's label says it)."""
    from rabtui.config import Medium
    from rabtui.media import medium as mediamod

    ours = _server(tmp_path / "srv", b"ours")
    disk = ours.media[0][1]
    for n, theirs in enumerate(("labelled", "by hand")):
        os.rename(disk, tmp_path / f"away{n}")
        disk.mkdir()
        if theirs == "labelled":       # as another server labelled it
            other = mediamod.write_label(Medium(id="m1", path=disk))
            assert other["serial"] != mediamod.read_label(tmp_path / "away0")["serial"]
        else:
            (disk / ".rabtui-medium").write_text("m1\n")
        taken = _rabtui(ours, "media", "label", "m1", "--force")
        assert taken.returncode == 0 and "from now on" in taken.stdout, taken.stdout + taken.stderr
        if theirs == "labelled":
            assert mediamod.read_label(disk)["serial"] == other["serial"]     # the disk keeps its own
        for lost in ("database", "state directory"):
            if lost == "state directory":
                shutil.rmtree(ours.state)
            done = _rebuilt(ours) if lost == "database" else _rabtui(ours, "rebuild-state")
            out = done.stdout + done.stderr
            assert done.returncode == 0 and "checkpoint 1:" not in out and "Traceback" not in out, (theirs, out)
            assert ours.store().one("SELECT COUNT(*) FROM disc_files WHERE number=1")[0] > 0
