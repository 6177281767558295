"""rebuild-state run where nothing can answer (a script, cron, `ssh host rabtui rebuild-state`)
with a real drive (the default /dev/sr0): it cannot ask for checkpoint discs, and rebuilds from the
media all the same. With no checkpoint ever made that is all there was to do; when the media's
records name checkpoints, their numbers are kept and it says that their discs were not read."""

from __future__ import annotations

import sqlite3

from rabtui.media import checkpoint_numbers
from tests.test_rebuild_odd_records import _rabtui
from tests.trees import Lab, write_files


def _lost_state(tmp_path) -> Lab:
    """Two backups of `loc`, one on each medium, then the state database gone."""
    lab = Lab(tmp_path, media_count=2)
    lab.local()
    write_files(lab.src / "data", {"a": b"one"})
    for medium, _ in lab.media:
        done = _rabtui(lab, "backup", "loc", "--medium", medium)
        assert done.returncode == 0, done.stdout + done.stderr
    lab.lose_database()
    return lab


def _one(lab: Lab, sql: str):
    conn = sqlite3.connect(lab.state / "rabtui.db")
    try:
        return conn.execute(sql).fetchone()
    finally:
        conn.close()


def test_rebuild_state_with_no_terminal_and_no_checkpoint_ever_made(tmp_path):
    lab = _lost_state(tmp_path)
    done = _rabtui(lab, "rebuild-state")
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in out, out
    assert "media found: m1, m2" in done.stdout and "backups: 2" in done.stdout, out
    assert "no checkpoint is recorded" in done.stdout, out
    assert _one(lab, "SELECT COUNT(*) FROM backups WHERE status='completed'") == (2,)
    assert _one(lab, "SELECT status FROM jobs WHERE kind='rebuild'") == ("completed",)


def test_rebuild_state_with_no_terminal_keeps_what_the_media_say_of_checkpoints(tmp_path):
    lab = _lost_state(tmp_path)
    checkpoint_numbers.write_record(lab.media[1][1], [1, 2, 3])    # discs burned before, on the shelf
    done = _rabtui(lab, "rebuild-state")
    out = done.stdout + done.stderr
    assert done.returncode == 3 and "Traceback" not in out, out
    assert "backups: 2" in done.stdout, out
    assert "checkpoint numbers used before (discs not read): up to 3" in done.stdout, out
    assert "the discs in /dev/sr0 were not read: there is no terminal to ask for them on" in done.stdout, out
    assert "run `rabtui rebuild-state` on a terminal" in done.stdout, out
    assert _one(lab, "SELECT value FROM meta WHERE key='checkpoint_numbers_used'") == ("3",)
    assert _one(lab, "SELECT status FROM jobs WHERE kind='rebuild'") == ("warnings",)
