"""A restore onto a source that waits at a question (a medium to insert) keeps the source's backups
out only while it writes: a night's backup of the source runs while nobody answers (it was
refused, and run-due left the source due, for as long as the question waited). After the answer
the restore takes the backup lock again before it writes, waiting for a backup that began
meanwhile (said), and says a backup made while it waited. Real rsync, real `rabtui backup`
processes beside the restore."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from rabtui import faults
from rabtui.errors import LockBusy, WorkFailed
from rabtui.events import READY, Question
from rabtui.restore import run as R
from tests import preloaded
from tests.held import stopped
from tests.test_kill_anywhere import rabtui
from tests.test_restore_onto_ssh_source import T0
from tests.trees import Lab, write_files


def _lab(tmp_path):
    """d/a backed up (backup B1), then deleted on the source; the medium away (renamed)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"d/a": b"B1", "keep": b"k"})
    assert lab.backup(cfg, now=T0).status == "completed"
    (lab.src / "data/d/a").unlink()
    medium = lab.media[0][1]
    medium.rename(medium.with_name("away"))
    return lab, cfg, medium


class _AtTheQuestion:
    """A prompter that puts the medium back and runs `meanwhile` before answering ready."""

    def __init__(self, medium, meanwhile):
        self.medium, self.meanwhile, self.asked = medium, meanwhile, []

    def ask(self, question: Question, cancel=None) -> str:
        self.asked.append(question.kind)
        self.medium.with_name("away").rename(self.medium)
        self.meanwhile()
        return READY


def test_a_backup_of_the_source_runs_while_the_restore_waits_at_its_question(tmp_path):
    """`rabtui backup loc` beside a restore onto loc waiting for its medium: it was refused ("a
    restore onto loc is running"); now it backs up. Another restore onto loc is still refused
    meanwhile. The restore then writes the copy it asked for, and says the backup made meanwhile."""
    lab, cfg, medium = _lab(tmp_path)
    ran = []

    def meanwhile():
        ran.append(rabtui(lab, "backup", "loc"))
        with pytest.raises(LockBusy, match="a restore onto loc is already running"):
            R.restore(lab.load(), lab.store(), "loc", str(lab.src / "data/keep"), to_source=True)

    prompter = _AtTheQuestion(medium, meanwhile)
    res = R.restore(cfg, lab.store(), "loc", str(lab.src / "data/d"), to_source=True, prompter=prompter,
                    emit=lab.emit)
    assert prompter.asked == ["insert_medium"]
    assert ran[0].returncode == 0, ran[0].stdout + ran[0].stderr
    assert (lab.src / "data/d/a").read_bytes() == b"B1"
    [b1, b2] = lab.store().all("SELECT name FROM backups WHERE source='loc' AND status='completed' ORDER BY id")
    said = [w for w in res.warnings if b2["name"] in w]
    assert said and "while the restore waited for an answer" in said[0] and b1["name"] in said[0], res.warnings
    assert said[0] in lab.messages("warning")


def test_a_backup_that_began_while_the_question_waited_is_waited_for_before_anything_is_written(tmp_path):
    """The answer comes while a backup of the source runs (held here at its step 2): the restore
    writes nothing onto the source until that backup has ended, and says what it waits for."""
    lab, cfg, medium = _lab(tmp_path)
    backups = []

    def meanwhile():
        backups.append(preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup",
                                        "loc"], env={**os.environ, faults.STOP_ENV: "backup.step2"},
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       stdin=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while not stopped(backups[0].pid):
            assert backups[0].poll() is None and time.monotonic() < deadline, backups[0].communicate()
            time.sleep(0.05)

    done: list = []
    restoring = threading.Thread(target=lambda: done.append(R.restore(
        cfg, lab.store(), "loc", str(lab.src / "data/d"), to_source=True, prompter=_AtTheQuestion(medium, meanwhile),
        emit=lab.emit)))
    restoring.start()
    try:
        deadline = time.monotonic() + 60
        while not any("waiting for it to end" in m for m in lab.messages()):
            assert restoring.is_alive() and time.monotonic() < deadline, (done, lab.messages())
            time.sleep(0.05)
        said = next(m for m in lab.messages() if "waiting for it to end" in m)
        assert f"pid {backups[0].pid}" in said, said
        assert not (lab.src / "data/d/a").exists()
    finally:
        if backups:
            backups[0].send_signal(signal.SIGCONT)
            out, err = backups[0].communicate(timeout=60)
        restoring.join(60)
    assert backups[0].returncode == 0, out + err
    assert done and (lab.src / "data/d/a").read_bytes() == b"B1"


@pytest.mark.parametrize("edit", ["moved", "removed", "unreadable"])
def test_a_config_edited_while_the_question_waited_writes_nothing_onto_the_source(tmp_path, edit):
    """The configuration edited while nobody answered: the source's directory moved elsewhere, the
    source removed, or the file left unreadable half-way through an edit. The restore wrote the
    copy into the directory the configuration no longer names, exit 0, nothing said; now nothing
    is written and it says why."""
    lab, cfg, medium = _lab(tmp_path)
    text = lab.config_path.read_text()

    def meanwhile():
        if edit == "moved":
            (lab.src / "elsewhere").mkdir()
            lab.config_path.write_text(text.replace(str(lab.src / "data"), str(lab.src / "elsewhere")))
        elif edit == "removed":
            lab.config_path.write_text(text.replace('id = "loc"', 'id = "other"'))
        else:
            lab.config_path.write_text(text + "\n[[sources]\n")

    with pytest.raises(WorkFailed, match="configuration") as refused:
        R.restore(cfg, lab.store(), "loc", str(lab.src / "data/d"), to_source=True,
                  prompter=_AtTheQuestion(medium, meanwhile), emit=lab.emit)
    assert "nothing written onto loc" in str(refused.value), refused.value
    assert not (lab.src / "data/d/a").exists() and not (lab.src / "elsewhere/d").exists()


def test_a_config_edited_elsewhere_while_the_question_waited_lets_the_restore_write(tmp_path):
    """An edit that leaves the source where it was (its schedule) refuses nothing."""
    lab, cfg, medium = _lab(tmp_path)
    text = lab.config_path.read_text()

    def meanwhile():
        lab.config_path.write_text(text.replace('id = "loc"', 'id = "loc"\nschedule = "0 3 * * *"'))

    R.restore(cfg, lab.store(), "loc", str(lab.src / "data/d"), to_source=True,
              prompter=_AtTheQuestion(medium, meanwhile), emit=lab.emit)
    assert lab.load().source("loc").schedule == "0 3 * * *"
    assert (lab.src / "data/d/a").read_bytes() == b"B1"


@pytest.mark.parametrize("key,line", [("one_file_system", "one_file_system = true"),
                                      ("rsync_path", 'rsync_path = "rsync"'),
                                      ("identity_file", 'identity_file = "/nonexistent/id_ed25519"')])
def test_a_transfer_key_edited_while_the_question_waited_writes_nothing_onto_the_source(tmp_path, key, line):
    """rsync_path, one_file_system or the identity file edited while nobody answered change how the
    restore reaches and writes the source, as its host or directories do: they went unnoticed (the
    restore wrote with the old ones); now nothing is written and the key is named."""
    lab, cfg, medium = _lab(tmp_path)
    text = lab.config_path.read_text()

    def meanwhile():
        lab.config_path.write_text(text.replace('id = "loc"', f'id = "loc"\n{line}'))

    with pytest.raises(WorkFailed, match="configuration") as refused:
        R.restore(cfg, lab.store(), "loc", str(lab.src / "data/d"), to_source=True,
                  prompter=_AtTheQuestion(medium, meanwhile), emit=lab.emit)
    assert key in str(refused.value) and "nothing written onto loc" in str(refused.value), refused.value
    assert not (lab.src / "data/d/a").exists()
