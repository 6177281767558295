"""A restore when the state directory is full (a real small tmpfs filled to its last byte, real
rsync backups): it is what an operator does in an emergency, and the state database only records
it. It restored nothing ("the state directory is full", exit 1); now it restores, says that its
record could not be written, and ends with exit 3. With room again the database works as before."""

from __future__ import annotations

import json
import os

from tests.test_state_dir_full import _lab_on, _rabtui
from tests.trees import fill_up


def test_a_restore_restores_when_the_state_directory_is_full_and_says_it_is_not_recorded(tmp_path, tmpfs):
    lab = _lab_on(tmp_path, tmpfs, "size=6m")
    data = lab.src / "data"
    os.unlink(data / "a")
    (data / "b/c").unlink()
    store = lab.store()
    jobs = len(store.all("SELECT id FROM jobs"))
    store.close()      # no connection left open: the -wal and -shm gone, as between two runs
    fill_up(lab.state.parent / "filler")

    onto = _rabtui(lab, "restore", "loc", str(data / "a"), "--to-source")
    into = _rabtui(lab, "restore", "loc", str(data / "b"), "--to", str(tmp_path / "out"), "--json")
    for done in (onto, into):
        assert done.returncode == 3 and "Traceback" not in done.stderr, done.stdout + done.stderr
        assert "restore's record could not be written" in done.stderr and "is full" in done.stderr, done.stderr
    assert len((data / "a").read_bytes()) == 300
    assert (tmp_path / "out" / str(data).lstrip("/") / "b/c").read_bytes() == b"x"
    said = json.loads(into.stdout)
    assert said["exit_code"] == 3 and any("restore's record could not be written" in w for w in said["warnings"]), said

    os.unlink(lab.state.parent / "filler")
    again = _rabtui(lab, "restore", "loc", str(data / "b"), "--to", str(tmp_path / "again"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(lab.store().all("SELECT id FROM jobs")) >= jobs + 1
    assert _rabtui(lab, "status").returncode == 0
