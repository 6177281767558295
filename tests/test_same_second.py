"""A file rewritten within the second its last backup read it, its size unchanged, is copied again
(rsync's quick check compares whole seconds unless told otherwise), on a medium that keeps
nanoseconds; on one that keeps only seconds, unchanged files are still linked, not copied again."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest

from rabtui import rsync
from rabtui.checkpoint import prepare
from rabtui.checkpoint import run as checkpoint_run
from rabtui.events import READY, ScriptedPrompter
from rabtui.media import medium as media, medium_layout
from rabtui.media import medium_fs
from rabtui.restore import run as restore
from tests.trees import Lab, ext2_mounted, ssh_source_lines

SECOND = 1_700_000_000 * 10**9


def _write(path, content: str, ns: int) -> None:
    path.write_text(content)
    os.utime(path, ns=(ns, ns))


def _argvs(lab: Lab) -> list[list[str]]:
    return [e.data["argv"] for e in lab.events if "argv" in e.data]


def _ssh_lab(tmp_path, sshd, extra: str = "", kind: str = "standard"):
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    data.mkdir()
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{data}"\nkind = "{kind}"\n' + extra)
    lab.trust(sshd)
    return lab, cfg, data


@pytest.mark.parametrize("kind,over", [("standard", "local"), ("archive", "local"), ("standard", "ssh")])
def test_a_file_rewritten_within_the_same_second_is_backed_up_again(tmp_path, request, kind, over):
    if over == "ssh":
        lab, cfg, data = _ssh_lab(tmp_path, request.getfixturevalue("sshd"), kind=kind)
        source = "web"
    else:
        lab = Lab(tmp_path, media_count=1)
        cfg, data, source = lab.local([("data", kind)]), lab.src / "data", "loc"
    _write(data / "changed", "first", SECOND + 100)
    _write(data / "same", "untouched", SECOND + 100)
    first = lab.backup(cfg, source, medium_id="m1")
    assert first.status == "completed", first.reason
    _write(data / "changed", "again", SECOND + 500)     # same size, same second
    second = lab.backup(cfg, source, medium_id="m1")
    assert second.status == "completed", second.reason

    assert all("--modify-window=-1" in argv for argv in _argvs(lab))
    old, new = (medium_layout.backup_data_path(r.path, str(data)) for r in (first, second))
    assert (new / "changed").read_text() == "again"
    assert os.stat(new / "changed").st_mtime_ns == SECOND + 500
    if kind == "standard":    # the unchanged file is still a link to the first backup's copy
        assert os.stat(new / "same").st_ino == os.stat(old / "same").st_ino
    else:                     # an archive backup holds only what the medium lacked
        assert not (new / "same").exists()
    # the catalog places the copy each backup holds: the second backup's is a version of its own
    versions = lab.store().all("SELECT v.first_backup, v.last_backup FROM versions v JOIN paths p ON p.id = v.path_id"
                               " WHERE p.path = ? ORDER BY v.id", (os.fsencode(data / "changed").lstrip(b"/"),))
    assert [tuple(v) for v in versions] == [(first.backup_id, first.backup_id), (second.backup_id, second.backup_id)]


def test_restoring_onto_the_source_replaces_a_file_rewritten_within_the_same_second(tmp_path, sshd):
    lab, cfg, data = _ssh_lab(tmp_path, sshd)
    _write(data / "f", "saved", SECOND + 100)
    assert lab.backup(cfg, "web", medium_id="m1").status == "completed"
    _write(data / "f", "wrong", SECOND + 900)
    restore.restore(cfg, lab.store(), "web", str(data / "f"), to_source=True, overwrite=True)
    assert (data / "f").read_text() == "saved"
    assert os.stat(data / "f").st_mtime_ns == SECOND + 100


def seconds_file_system(where: Path):
    """An ext2 file system with 128-byte inodes, which keeps times to the second, mounted (empty) at
    `where` (root only)."""
    return ext2_mounted(where, "-I", "128")


def test_a_medium_that_keeps_only_seconds_links_unchanged_files_and_says_so(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    for i in range(5):
        _write(data / f"f{i}", f"file {i}", SECOND + 123_456_789)
    with seconds_file_system(lab.media[0][1]):
        first = lab.backup(cfg, medium_id="m1")
        second = lab.backup(cfg, medium_id="m1")
        assert first.status == second.status == "completed", (first.reason, second.reason)
        holds = media.read_label(cfg.medium("m1").path)["holds"]
        assert holds["nanoseconds"] is False and holds["hardlinks"] is True
        assert not any("--modify-window=-1" in argv for argv in _argvs(lab))
        old, new = (medium_layout.backup_data_path(r.path, str(data)) for r in (first, second))
        for i in range(5):     # compared to the nanosecond, every file would have been copied again
            assert os.stat(new / f"f{i}").st_ino == os.stat(old / f"f{i}").st_ino
        assert any("cannot hold times finer than a second" in m for m in lab.messages("warning"))


def test_a_medium_copied_onto_a_file_system_that_keeps_only_seconds_is_tried_again(tmp_path):
    """Its label, copied with it, says nanoseconds: the label is not trusted for that, or every
    backup would copy every file again."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    for i in range(5):
        _write(data / f"f{i}", f"file {i}", SECOND + 123_456_789)
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    path = lab.media[0][1]
    assert media.read_label(path)["holds"]["nanoseconds"] is True
    old = path.rename(tmp_path / "old-disk")
    path.mkdir()
    with seconds_file_system(path):
        subprocess.run(["cp", "-a", f"{old}/.", str(path)], check=True)     # the operator's migration
        second = lab.backup(cfg, medium_id="m1")
        third = lab.backup(cfg, medium_id="m1")
        assert second.status == third.status == "completed", (second.reason, third.reason)
        assert media.read_label(path)["holds"]["nanoseconds"] is False
        a, b = (medium_layout.backup_data_path(r.path, str(data)) for r in (second, third))
        assert all(os.stat(a / f"f{i}").st_ino == os.stat(b / f"f{i}").st_ino for i in range(5))


@pytest.mark.parametrize("copy", ["medium keeping seconds", "checkpoint disc"])
def test_a_restore_from_a_copy_with_whole_seconds_finds_an_unchanged_source_unchanged(tmp_path, sshd, copy):
    """Compared to the nanosecond, every file of the source would differ from such a copy: a restore
    without overwrite refused, one with it writing everything again and cutting the times."""
    disc = f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n'
    lab, cfg, data = _ssh_lab(tmp_path, sshd, disc if copy == "checkpoint disc" else "")
    for i in range(3):
        _write(data / f"f{i}", f"file {i}", SECOND + 123_456_789)
    with ExitStack() as stack:
        where: dict = {}
        if copy == "checkpoint disc":
            assert lab.backup(cfg, "web", medium_id="m1").status == "completed"
            store = lab.store()
            number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
            burnt = checkpoint_run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                                   prompter=ScriptedPrompter(lambda q: READY))
            assert burnt.status == "completed", burnt.message
            where = {"checkpoint": number, "prompter": ScriptedPrompter(lambda q: READY)}
        else:
            stack.enter_context(seconds_file_system(lab.media[0][1]))
            assert lab.backup(cfg, "web", medium_id="m1").status == "completed"
        restore.restore(cfg, lab.store(), "web", str(data), to_source=True, **where)   # no clash
        again = restore.restore(cfg, lab.store(), "web", str(data), to_source=True, overwrite=True, **where)
        assert again.written.files == 0, again.summary
        assert all(os.stat(data / f"f{i}").st_mtime_ns == SECOND + 123_456_789 for i in range(3))


def test_a_label_from_before_the_time_probe_is_probed_again_at_first_use(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    medium = cfg.medium("m1")
    older = {k: True for k in medium_fs.WHAT if k != "nanoseconds"}
    (medium.path / media.LABEL).write_text(json.dumps({"id": "m1", "holds": older}))
    info = media.check_medium(medium)
    assert info["label"]["holds"]["nanoseconds"] is True
    assert json.loads((medium.path / media.LABEL).read_text())["holds"]["nanoseconds"] is True


def test_times_are_compared_to_the_nanosecond_only_when_asked():
    assert "--modify-window=-1" in rsync.build_argv("/s/", "/d/", exact_times=True)
    assert not any(a.startswith("--modify-window") for a in rsync.build_argv("/s/", "/d/"))
    assert medium_fs.keeps_nanoseconds({"nanoseconds": True})
    assert not medium_fs.keeps_nanoseconds({"nanoseconds": None}) and not medium_fs.keeps_nanoseconds(None)
    assert not medium_fs.keeps_nanoseconds(["nanoseconds"])
