"""A checkpoint of a standard directory whose backup the medium no longer holds as it saved it (a
file emptied by a crash or written into in place, deleted by a hand, a symlink to /etc/passwd or /etc
put in the place of a file or a directory): the discs would take what is there now, be verified
against it, and count as a copy of the backup. The plan refuses, naming the file, and records
nothing; the next backup copies the file anew from the source, and the checkpoint of that backup
holds it as the source has it. Real rsync and xorriso (`images:`)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from rabtui.checkpoint import prepare
from rabtui.errors import WorkFailed
from tests.trees import Lab, burn_due, next_second, write_files

CONTENT = b"GOOD-CONTENT " * 4000


def _cut(p):
    os.truncate(p, 10)


def _removed(p):
    os.unlink(p)


def _file_linked(p):
    os.unlink(p)
    os.symlink("/etc/passwd", p)


def _rewritten(p):
    """Written into in place, its size kept (its time is now)."""
    with open(p, "r+b") as f:
        f.write(b"BAD")


def _other_linked(p):
    """Another file of the backup, of the same size, hard-linked in its place (`ln -f`)."""
    os.unlink(p)
    os.link(p.parent.parent / "c.txt", p)


def _dir_linked(p):
    shutil.rmtree(p.parent)
    os.symlink("/etc", p.parent)


@pytest.mark.parametrize("damage, why", [(_cut, "10 bytes, where the backup saved 52000"),
                                         (_removed, "not on the medium any more"),
                                         (_file_linked, "another kind of entry is in its place"),
                                         (_rewritten, "where the backup saved it as of 2020-01-01 00:00:00 UTC (written"
                                                      " into, or another file put in its place, since)"),
                                         (_other_linked, "modified at 2021-01-01 00:00:00 UTC, where the backup saved"
                                                         " it as of 2020-01-01 00:00:00 UTC"),
                                         (_dir_linked, "not on the medium any more")])
def test_a_file_the_medium_lost_or_changed_refuses_the_checkpoint_by_name(tmp_path, damage, why):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"sub/a.txt": CONTENT, "b.txt": b"b", "c.txt": b"C" * len(CONTENT)})
    os.utime(data / "sub" / "a.txt", (1_577_836_800, 1_577_836_800))     # 2020-01-01
    os.utime(data / "c.txt", (1_609_459_200, 1_609_459_200))             # 2021-01-01
    made = lab.backup(cfg)
    assert made.status == "completed"
    damage(made.path / "data" / str(data / "sub" / "a.txt").lstrip("/"))
    store = lab.store()
    with pytest.raises(WorkFailed) as got:
        prepare.compute(cfg, store, asked={"*"})
    said = str(got.value)
    assert f"loc:{data}: 1 file of backup {made.path.name} on medium m1 is not there as it saved it, e.g." \
           f" {data}/sub/a.txt: " in said and why in said.partition(f"{data}/sub/a.txt: ")[2], said
    assert "next backup" in got.value.hint
    assert store.one("SELECT count(*) AS n FROM checkpoints")["n"] == 0
    next_second()
    # the base's symlink in place of a directory is said by the backup (a warning), nothing read through it
    assert lab.backup(cfg).status == ("warnings" if damage is _dir_linked else "completed")
    number = burn_due(cfg, store, {"*"})
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    disc_path = f"/data/loc{data}/sub/a.txt"
    got = subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", disc_path, str(tmp_path / "a")],
                         capture_output=True)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "a").read_bytes() == CONTENT
