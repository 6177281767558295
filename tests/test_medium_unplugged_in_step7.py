"""A medium unplugged (here: unmounted, `umount -l`) in step 7 of a backup whose transfer ended
whole, after it linked the archive's new files into the union on it: the run fails, and what it
linked there, out of reach, is left for the run that finds the medium back to undo (its recovery
keeps the data, as after a kill there). Undone on the empty mount point instead, the links stayed
on the medium: at its return the union showed a new file the catalog did not know, the next
backup took it for saved (--compare-dest), and a cleanup deleted the failed run as superseded.
Real rsync, a real ext2 image loop-mounted as the medium."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests import invariants
from tests.test_medium_identity import _killed, _rabtui, _stopped_at
from tests.trees import Lab, ext2_mounted, next_second, write_files


def _unplugged_at(lab: Lab, point: str):
    """`rabtui backup loc` stopped at `point`, the medium unmounted then, let go: its process and output."""
    run = None
    try:
        run = _stopped_at(lab, point, "backup", "loc")
        subprocess.run(["umount", "-l", str(lab.media[0][1])], check=True)
        run.send_signal(signal.SIGCONT)
        out = run.communicate(timeout=120)[0].decode()
    finally:
        _killed(run)
    return run, out


@pytest.mark.parametrize("point", ["backup.archive_linked", "backup.catalog"])
def test_a_medium_unplugged_after_step7_linked_into_the_union_loses_nothing_at_its_return(tmp_path, point):
    lab = Lab(tmp_path, media_count=1)
    medium = lab.media[0][1]
    with ext2_mounted(medium):
        cfg = lab.local([("data", "standard"), ("arch", "archive")])
        write_files(lab.src / "data", {"a": b"a1"})
        write_files(lab.src / "arch", {"x": b"x1"})
        assert lab.backup(cfg).status == "completed", lab.messages()
        next_second()
        write_files(lab.src / "arch", {"y": b"y1"})
        run, out = _unplugged_at(lab, point)
        assert run.returncode == 1 and "Traceback" not in out and "went away" in out, out
        row = dict(lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
        assert row["status"] != "completed", row
        # the medium back, the same disk
        subprocess.run(["mount", "-o", "loop", str(medium.parent / f"{medium.name}.ext2"), str(medium)], check=True)
        next_second()
        again = lab.backup(cfg)
        assert again.status == "completed", (again, lab.messages())
        store = lab.store()
        arch = str(lab.src / "arch")
        saved = store.all("SELECT v.first_backup FROM versions v JOIN paths p ON p.id=v.path_id WHERE p.path=?",
                          (f"{arch.lstrip('/')}/y".encode(),))
        assert {r[0] for r in saved} == {row["id"], again.backup_id}, [dict(r) for r in saved]
        assert store.one("SELECT status FROM backups WHERE id=?", (row["id"],))[0] == "kept"
        union = medium / "loc" / ".archive" / arch.lstrip("/")
        assert sorted(os.listdir(union)) == ["x", "y"] and os.stat(union / "y").st_ino == os.stat(
            os.path.join(again.path, "data", arch.lstrip("/"), "y")).st_ino     # the next backup's own copy
        # a cleanup keeps what only the unplugged run holds, and y comes back from the medium
        done = _rabtui(lab, "cleanup")
        assert done.returncode in (0, 1), done.stdout + done.stderr
        restored = tmp_path / "restored"
        done = _rabtui(lab, "restore", "loc", f"{arch}/y", "--to", str(restored))
        assert done.returncode == 0, done.stdout + done.stderr
        assert (restored / arch.lstrip("/") / "y").read_bytes() == b"y1"
        invariants.check_json_agrees(lab.load(), lab.store())
        invariants.check_catalog_is_media(lab.load(), lab.store())
