"""A restore from a checkpoint of several discs, one of them missing (its image not in the `images:`
folder), the medium away: the restore asks for the disc that is missing, not for one at hand, and
restores once it is there. Real rsync, real xorriso."""

from __future__ import annotations

import os

import pytest

from rabtui.errors import WorkFailed
from rabtui.events import ABORT, READY, SKIP, ScriptedPrompter
from rabtui.restore import run as R
from tests.trees import Lab, burn_due, snapshot, write_files


def test_the_disc_asked_for_is_the_one_missing(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("3MiB")
    data = lab.src / "data"
    write_files(data, {"a/1.bin": os.urandom(1_500_000), "b/2.bin": os.urandom(1_500_000)})
    assert lab.backup(cfg).status == "completed"
    number = burn_due(cfg, lab.store())
    medium = lab.media[0][1]
    medium.rename(medium.with_name("in-the-drawer"))
    iso = tmp_path / "iso" / f"RAB{number}D02.iso"
    shelf = tmp_path / "shelf.iso"
    iso.rename(shelf)

    def answer(q):
        if q.kind == "insert_medium":
            return SKIP
        if q.data["volid"] != f"RAB{number}D02":
            return ABORT
        shelf.rename(iso)
        return READY

    prompter = ScriptedPrompter(answer)
    res = R.restore(cfg, lab.store(), "loc", str(data), to=tmp_path / "out", prompter=prompter)
    disc_asked = [q for q in prompter.asked if q.kind == "insert_disc"]
    assert [(q.data["disc"], q.data["volid"]) for q in disc_asked] == [(2, f"RAB{number}D02")]
    assert f"disc 2 of 2 (volume id RAB{number}D02)" in disc_asked[0].text
    assert res.origin == f"checkpoint {number}"
    assert snapshot(tmp_path / "out" / str(data).lstrip("/")) == snapshot(data)

    # --checkpoint, the disc not there and given up: what it holds of the restore is named
    iso.rename(shelf)
    on_d02 = lab.store().one("SELECT path FROM disc_files WHERE number=? AND disc=2", (number,))["path"]
    with pytest.raises(WorkFailed) as refused:
        R.restore(cfg, lab.store(), "loc", str(data), checkpoint=number, to=tmp_path / "given-up",
                  prompter=ScriptedPrompter([ABORT]))
    assert f"RAB{number}D02 holds 1 entry of {data} (first: /{os.fsdecode(on_d02)}); nothing restored" \
        in str(refused.value), str(refused.value)
    assert not (tmp_path / "given-up").exists()
