"""An images: drive on a disk that is unmounted while a checkpoint is written (between two discs):
the next disc is not written onto the file system below the mount point (where the image would
hide under the disk once it is mounted again, and the checkpoint read complete); the operator is
asked, with the reason, and once the disk is back the checkpoint goes on."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from rabtui.checkpoint import prepare, run
from rabtui.checkpoint.questions import WRONG
from rabtui.events import ABORT, READY, ScriptedPrompter
from tests.trees import Lab, write_files


def _backed_up(tmp_path, folder, files: dict):
    """A local source `loc` (src/data holding `files`) backed up, with checkpoints of 4 MiB discs
    onto the images folder `folder`: (its lab, config, store)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(lab._local_source([("data", "standard")], "", "loc")
                    + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{folder}"\n')
    write_files(lab.src / "data", files)
    assert lab.backup(cfg).status == "completed"
    return lab, cfg, lab.store()


def _recorded(cfg, store, asked: set[str] | None = None) -> int:
    return prepare.record(cfg, store, prepare.compute(cfg, store, asked=asked), drive=cfg.checkpoint.drive)


def _burnt(cfg, store, number: int, operator):
    """Checkpoint `number` written, `operator` answering its questions: its result."""
    return run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                               prompter=ScriptedPrompter(operator))


@pytest.mark.parametrize("nested", [False, True])
def test_a_disc_is_not_written_below_an_unmounted_images_disk(tmp_path, tmpfs, bind_mount, nested):
    disk = tmp_path / "usb"
    folder = disk / "iso" if nested else disk
    lab, cfg, store = _backed_up(tmp_path, folder, {f"f{i}": 1_000_000 for i in range(5)})
    number = _recorded(cfg, store)
    assert store.one("SELECT discs FROM checkpoints WHERE number=?", (number,))["discs"] == 2
    kept = tmpfs(tmp_path / "the disk", "size=64m")   # a file system of its own, bound at `disk`: its files stay
    bind_mount(disk, kept)
    disc_2_asked = []

    def operator(q):
        if q.data.get("disc") == 2 and not disc_2_asked:
            subprocess.run(["umount", str(disk)], check=True)    # the disk goes away before disc 2
        if q.data.get("disc") == 2:
            disc_2_asked.append(q)
            return ABORT if len(disc_2_asked) > 1 else READY
        return READY

    res = _burnt(cfg, store, number, operator)
    assert res.status == "aborted" and res.verified == [1], res.message
    assert not os.path.exists(folder / f"RAB{number}D02.iso"), "disc 2 went below the mount point"
    [_, refused] = disc_2_asked
    assert refused.kind == WRONG and f"{folder}" in refused.text and "mounted" in refused.text, refused.text
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=2", (number,))["state"] != "verified"
    # the disk is back: the checkpoint goes on
    subprocess.run(["mount", "--bind", str(kept), str(disk)], check=True)
    res = _burnt(cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    assert sorted(os.listdir(folder)) == [f"RAB{number}D01.iso", f"RAB{number}D02.iso"]


def test_an_images_folder_given_a_disk_of_its_own_is_written_on(tmp_path, tmpfs):
    """The operator mounts a new disk at the images folder (its file system was the one above it):
    the disk the folder was on is still mounted, nothing would hide under it, and the next
    checkpoint is written onto the new disk, not refused for ever as a disk away."""
    folder = tmp_path / "iso"
    lab, cfg, store = _backed_up(tmp_path, folder, {"f0": 1_000_000})
    asked = []

    def operator(q):
        if q.kind == WRONG:
            asked.append(q.text)
            return ABORT if len(asked) > 1 else READY
        return READY

    first = _recorded(cfg, store, asked={"*"})
    res = _burnt(cfg, store, first, operator)
    assert res.status == "completed", res.message
    tmpfs(folder, "size=64m")      # the new disk
    write_files(lab.src / "data", {"f1": 1_000_000})
    assert lab.backup(cfg).status == "completed"
    second = _recorded(cfg, store, asked={"*"})
    res = _burnt(cfg, store, second, operator)
    assert not asked, asked
    assert res.status == "completed", res.message
    assert f"RAB{second}D01.iso" in os.listdir(folder)


def test_an_images_disk_gone_for_good_is_let_go_by_removing_its_mount_point(tmp_path, tmpfs):
    """The refusal says how to go on when the disk will not come back, and that way works."""
    folder = tmp_path / "usb"
    lab, cfg, store = _backed_up(tmp_path, folder, {"f0": 1_000_000})
    tmpfs(folder, "size=64m")
    first = _recorded(cfg, store, asked={"*"})
    res = _burnt(cfg, store, first, lambda q: READY)
    assert res.status == "completed", res.message
    subprocess.run(["umount", str(folder)], check=True)     # the disk is gone for good
    write_files(lab.src / "data", {"f1": 1_000_000})
    assert lab.backup(cfg).status == "completed"
    second = _recorded(cfg, store, asked={"*"})
    asked = []

    def operator(q):
        if q.kind == WRONG:
            asked.append(q.text)
            if len(asked) == 1:
                os.rmdir(folder)      # as the refusal says
            return READY if len(asked) == 1 else ABORT
        return READY

    res = _burnt(cfg, store, second, operator)
    assert len(asked) == 1 and f"remove the directory {folder}" in asked[0], asked
    assert res.status == "completed", res.message
    assert os.listdir(folder) == [f"RAB{second}D01.iso"]


def test_a_rebuilt_state_remembers_the_disk_the_images_were_read_on(tmp_path, tmpfs, bind_mount):
    """rebuild-state reads the images where the drive's folder is: the new database remembers the
    disk they are on, as the one replaced did, and a checkpoint written once that disk is unmounted
    is not put below its mount point."""
    from rabtui.cli import main

    disk = tmp_path / "usb"
    kept = tmpfs(tmp_path / "the disk", "size=32m")
    bind_mount(disk, kept)
    lab, cfg, store = _backed_up(tmp_path, disk, {"f0": b"x" * 1000})
    assert _burnt(cfg, store, _recorded(cfg, store, {"*"}), lambda q: READY).status == "completed"
    store.close()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
    subprocess.run(["umount", str(disk)], check=True)
    store = lab.store()
    try:
        number = _recorded(cfg, store, {"*"})
        asked = []
        res = _burnt(cfg, store, number, lambda q: asked.append(q) or (ABORT if len(asked) > 1 else READY))
        assert res.status == "aborted", res.message
        assert asked[-1].kind == WRONG and "mounted" in asked[-1].text, asked[-1].text
        assert os.listdir(disk) == []
    finally:
        store.close()
