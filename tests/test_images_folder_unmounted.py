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


@pytest.mark.parametrize("nested", [False, True])
def test_a_disc_is_not_written_below_an_unmounted_images_disk(tmp_path, tmpfs, bind_mount, nested):
    disk = tmp_path / "usb"
    folder = disk / "iso" if nested else disk
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(lab._local_source([("data", "standard")], "", "loc")
                    + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{folder}"\n')
    write_files(lab.src / "data", {f"f{i}": 1_000_000 for i in range(5)})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
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

    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(operator))
    assert res.status == "aborted" and res.verified == [1], res.message
    assert not os.path.exists(folder / f"RAB{number}D02.iso"), "disc 2 went below the mount point"
    [_, refused] = disc_2_asked
    assert refused.kind == WRONG and f"{folder}" in refused.text and "mounted" in refused.text, refused.text
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=2", (number,))["state"] != "verified"
    # the disk is back: the checkpoint goes on
    subprocess.run(["mount", "--bind", str(kept), str(disk)], check=True)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    assert sorted(os.listdir(folder)) == [f"RAB{number}D01.iso", f"RAB{number}D02.iso"]
