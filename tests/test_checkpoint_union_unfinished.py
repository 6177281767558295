"""A checkpoint reads an archive directory's union as the complete backups left it: a backup that
has linked its new files there and not ended (stopped holding the union's lock, or past it, its
record not yet complete) is waited for, and then refused, by `checkpoint plan` and `checkpoint
burn` alike; neither counts nor writes its files. Before, the plan counted a file the last complete
backup did not hold, and the burn wrote it onto the disc. Real rsync and xorriso, real `rabtui`
processes stopped (SIGSTOP) at fault points."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests import preloaded
from tests.test_checkpoint_holds_what_it_recorded import _on_discs, _prefix
from tests.test_medium_identity import _killed, _stopped_at
from tests.test_state_dir_full import _rabtui
from tests.trees import Lab, write_files


def _lab(tmp_path) -> Lab:
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("cd-700", [("arch", "archive")])
    lab.config_path.write_text(lab.config_path.read_text().replace('[[sources]]\nid = "loc"\n',
                                                                   '[[sources]]\nid = "loc"\nio_timeout = 1\n'))
    write_files(lab.src / "arch", {"a": b"saved"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    write_files(lab.src / "arch", {"b": b"not yet saved"})
    return lab


def _planned_files(lab) -> int:
    done = _rabtui(lab, "checkpoint", "plan", "--now", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)["directories"][0]["files"]


@pytest.mark.parametrize("point, said", [
    ("backup.archive_linked", "held the lock of"),               # the union's lock held: waited for, then named
    ("backup.catalog", "has not ended: they are no complete backup's yet"),   # released, the backup not ended
])
def test_a_backup_that_linked_and_has_not_ended_is_neither_planned_nor_burnt(tmp_path, point, said):
    lab = _lab(tmp_path)
    assert _planned_files(lab) == 1
    backup = None
    try:
        backup = _stopped_at(lab, point, "backup", "loc")
        plan = _rabtui(lab, "checkpoint", "plan", "--now", "--json")
        assert plan.returncode == 1 and said in plan.stderr and "Traceback" not in plan.stderr, plan.stdout + plan.stderr
        burn = _rabtui(lab, "checkpoint", "burn", "--now", "--yes")
        assert burn.returncode == 1 and said in burn.stderr, burn.stdout + burn.stderr
        assert not (tmp_path / "iso").exists() or not os.listdir(tmp_path / "iso")
        backup.send_signal(signal.SIGCONT)
        out = backup.communicate(timeout=120)[0].decode()
        assert backup.returncode == 0, out
    finally:
        _killed(backup)
    assert _planned_files(lab) == 2      # complete now: its file is the checkpoint's


def test_a_backup_killed_after_linking_is_said_by_the_plan(tmp_path):
    """Killed (SIGKILL) once it had linked, not yet recovered: its links are read as the view holds
    them (the next backup or cleanup recovers it), and the plan says so; after a cleanup, the plan
    is the complete backups' again."""
    from tests.test_kill_anywhere import _killed as _waited, rabtui

    lab = _lab(tmp_path)
    _waited(rabtui(lab, "backup", "loc", point="backup.archive_linked"))
    plan = _rabtui(lab, "checkpoint", "plan", "--now", "--json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "was killed once it had begun linking its new files into the archive view read here" in plan.stderr, \
        plan.stderr
    assert _rabtui(lab, "cleanup").returncode == 0
    again = _rabtui(lab, "checkpoint", "plan", "--now", "--json")
    assert again.returncode == 0 and "was killed" not in again.stderr, again.stdout + again.stderr


@pytest.mark.parametrize("command", ["plan", "burn"])
def test_a_plan_waits_for_a_backup_that_linked_to_end(tmp_path, command):
    """A backup past its links, in its catalog's transaction, ends in a moment: the plan (a burn's
    alike) waits for it, said, and counts its files then, rather than failing (a burn started from
    the UI as the night's backup ends, say). Before, it was refused at once."""
    lab = _lab(tmp_path)
    lab.config_path.write_text(lab.config_path.read_text().replace("io_timeout = 1\n", "io_timeout = 120\n"))
    backup = plan = None
    try:
        backup = _stopped_at(lab, "backup.catalog", "backup", "loc")
        plan, said = _plan_waiting(lab, *(["plan", "--json"] if command == "plan" else ["burn", "--yes"]))
        backup.send_signal(signal.SIGCONT)
        assert backup.wait(timeout=120) == 0
        out, err = plan.communicate(timeout=300)
        assert plan.returncode == 0, said + out + err
        if command == "plan":
            assert json.loads(out)["directories"][0]["files"] == 2
        else:
            assert _on_discs(lab.tmp, _prefix(lab, "arch")) == {b"a": b"saved", b"b": b"not yet saved"}
    finally:
        _killed(backup, plan)


def test_a_cancel_ends_the_wait_for_a_backup_to_end(tmp_path):
    """SIGTERM (a shutdown, the UI's cancel) ends the plan's wait for that backup at once, said."""
    lab = _lab(tmp_path)
    lab.config_path.write_text(lab.config_path.read_text().replace("io_timeout = 1\n", "io_timeout = 600\n"))
    backup = plan = None
    try:
        backup = _stopped_at(lab, "backup.catalog", "backup", "loc")
        plan, said = _plan_waiting(lab, "plan", "--json")
        plan.send_signal(signal.SIGTERM)
        err = plan.communicate(timeout=120)[1]
        assert plan.returncode != 0 and "cancelled" in err and "Traceback" not in err, said + err
        backup.send_signal(signal.SIGCONT)
        assert backup.wait(timeout=120) == 0
    finally:
        _killed(backup, plan)


def _plan_waiting(lab, command: str, *options: str) -> tuple[subprocess.Popen, str]:
    """`checkpoint COMMAND --now` started, once it says it waits for the backup under way; what it said."""
    plan = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint", command,
                            "--now", *options], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    said = ""
    while "to end: it has linked its new files" not in said:
        line = plan.stderr.readline()
        assert line, f"the plan ended without waiting: {said}{plan.communicate(timeout=120)}"
        said += line
    return plan, said
