"""A burn of an archive directory killed, then a backup that changes and removes files of the
union and adds one, then the burn resumed and a new checkpoint planned: neither is refused for the
union. Real rsync and xorriso (`images:`)."""

from __future__ import annotations

import os

import pytest

from rabtui import faults
from tests.test_kill_anywhere import _killed, rabtui
from tests.trees import Lab, next_second, write_files


@pytest.mark.parametrize("point", faults.BURN_POINTS[:3])
def test_a_burn_resumed_after_a_backup_changed_the_union(tmp_path, point):
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("4MiB", [("arch", "archive")])
    arch = lab.src / "arch"
    write_files(arch, {f"f{i}": os.urandom(900_000) for i in range(5)} | {"x": b"x" * 5000, "sub/y": b"y"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    _killed(rabtui(lab, "checkpoint", "burn", "--yes", "--now", point=point))
    next_second()
    write_files(arch, {"x": b"X" * 7000, "z": b"z"})
    os.unlink(arch / "sub" / "y")
    done = rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    resume = rabtui(lab, "checkpoint", "resume", "--yes")
    assert resume.returncode == 0, resume.stdout + resume.stderr
    again = rabtui(lab, "checkpoint", "burn", "--yes", "--now")
    assert again.returncode == 0, again.stdout + again.stderr
