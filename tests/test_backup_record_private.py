"""backup.json stays private (0600, the user's own) whatever was put at backup.json.tmp, the room
kept for its final record: a regular file of another mode (or another owner) is not written into
and renamed over backup.json with its mode, it is replaced by a file of rabtui's own; a
directory there makes the record go through a file of another name, private as well. A real
backup stopped at its step 4 (after step 3 kept the room)."""

from __future__ import annotations

import os
import signal
import stat

import pytest

from tests import invariants
from tests.test_medium_identity import _killed, _stopped_at
from tests.trees import Lab, write_files


@pytest.mark.parametrize("planted", ["open file", "other owner", "directory"])
def test_backup_json_is_private_whatever_is_at_the_room(tmp_path, planted):
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")])
    write_files(lab.src / "data", {"f": "a"})
    run = None
    try:
        run = _stopped_at(lab, "backup.step4", "backup", "loc")
        row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
        room = os.path.join(row["path"], "backup.json.tmp")
        if planted == "directory":
            os.unlink(room)
            os.mkdir(room, 0o755)
        else:
            os.chmod(room, 0o644)
            if planted == "other owner":
                os.chown(room, 65534, 65534)
        run.send_signal(signal.SIGCONT)
        out = run.communicate(timeout=60)[0].decode()
    finally:
        _killed(run)
    assert run.returncode == 0, out
    st = os.stat(os.path.join(row["path"], "backup.json"))
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid(), (oct(st.st_mode), st.st_uid)
    invariants.check_json_agrees(lab.load(), lab.store())
