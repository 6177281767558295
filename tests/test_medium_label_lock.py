"""`media label` holds the medium's lock whole, each backup onto the medium holds it shared from its
check of the label to its end: two labellings at once, or one during a backup, cannot leave the
disk's label and the state's apart. The second labelling, or one during a backup, stops at once
naming what runs (exit 1); a backup waits for a labelling under way. Real processes, stopped
(SIGSTOP) at their fault points."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from rabtui import faults
from rabtui.media import medium as media
from tests import preloaded
from tests.test_medium_identity import ROOT, _ended, _killed, _rabtui, _stopped_at
from tests.test_parallel import _sources
from tests.trees import Lab, write_files


def _lab(tmp_path) -> Lab:
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"a"})
    return lab


def _agree(lab: Lab) -> dict:
    """The disk's label, the one the database records and the one kept beside it: the same."""
    on_disk = media.read_label(lab.media[0][1])
    assert json.loads(lab.store().one("SELECT label FROM media WHERE id='m1'")["label"]) == on_disk
    assert json.loads((lab.state / "media" / "m1.label").read_text()) == on_disk
    return on_disk


def test_a_second_labelling_at_once_stops_naming_the_first(tmp_path):
    lab = _lab(tmp_path)
    (lab.media[0][1] / ".rabtui-medium").write_text('{"id": "other"}\n')     # relabelled with --force only
    first = None
    try:
        first = _stopped_at(lab, "medium.label_writing", "media", "label", "m1", "--force")
        second = _rabtui(lab, "media", "label", "m1", "--force")
        assert second.returncode == 1, second.stdout + second.stderr
        assert "the labelling of medium m1 cannot run now: the labelling of medium m1 is running since" in second.stderr
        assert f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr, second.stderr
        assert media.read_label(lab.media[0][1]) == {"id": "other"}
        _ended(first)
    finally:
        _killed(first)
    assert _agree(lab)["id"] == "m1"


def test_a_labelling_during_a_backup_of_the_medium_stops_naming_the_backup(tmp_path):
    lab = _lab(tmp_path)
    backup = None
    try:
        backup = _stopped_at(lab, "backup.step3", "backup", "loc")
        label = _rabtui(lab, "media", "label", "m1", "--force")
        assert label.returncode == 1, label.stdout + label.stderr
        assert "the labelling of medium m1 cannot run now: a backup of loc onto medium m1 is running since" \
               f" {time.strftime('%Y-%m-%d')}" in label.stderr, label.stderr
        _ended(backup)
    finally:
        _killed(backup)
    written = _agree(lab)
    label = _rabtui(lab, "media", "label", "m1", "--force")
    assert label.returncode == 0 and "already labelled" in label.stdout, label.stdout + label.stderr
    assert _agree(lab) == written


def _waiting_for_the_lock(lab, out, *args) -> subprocess.Popen:
    """rabtui `args` --verbose started, its output into `out`, once it says it waits for medium m1's lock."""
    with open(out, "wb") as sink:
        started = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args, "--verbose"],
                                  cwd=ROOT, env={k: v for k, v in os.environ.items() if k != faults.STOP_ENV},
                                  stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while b"to release the lock of medium m1" not in out.read_bytes():
        assert started.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.05)
    return started


def test_a_backup_waits_for_a_labelling_under_way_then_records_its_label(tmp_path):
    """`media label` finds a new medium unlabelled; before it writes, the first backup on it (the
    timer's) starts: the backup waits for the labelling, then finds the label written and records
    that one, so that no backup after them takes the disk for another."""
    lab = _lab(tmp_path)
    labelling = backup = None
    out = tmp_path / "backup.out"
    try:
        labelling = _stopped_at(lab, "medium.label_writing", "media", "label", "m1")
        backup = _waiting_for_the_lock(lab, out, "backup", "loc")
        assert f"waiting (at most 60 s) for the labelling of medium m1 (pid {labelling.pid}" in out.read_text()
        assert media.read_label(lab.media[0][1]) is None
        _ended(labelling)
        assert backup.wait(timeout=120) == 0, out.read_text()
    finally:
        _killed(labelling, backup)
    written = _agree(lab)
    again = _rabtui(lab, "backup", "loc")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _agree(lab) == written


def test_a_labelling_refused_by_backups_names_only_those_still_running(tmp_path):
    """Two backups hold the medium's lock shared; the lock file names the last to take it, which
    has ended since: the refusal names the backup that still runs, never the one that ended."""
    lab = Lab(tmp_path, media_count=1)
    lab.write(lab._local_source(None, "", "one") + lab._local_source([("two", "standard")], "", "two"))
    write_files(lab.src / "data", {"a": b"a"})
    write_files(lab.src / "two", {"b": b"b"})
    assert _rabtui(lab, "media", "label", "m1").returncode == 0
    one = two = None
    try:
        one = _stopped_at(lab, "backup.step3", "backup", "one")
        two = _stopped_at(lab, "backup.step3", "backup", "two")
        _ended(two)
        label = _rabtui(lab, "media", "label", "m1", "--force")
        assert label.returncode == 1, label.stdout + label.stderr
        assert f"the labelling of medium m1 cannot run now: backups onto medium m1 are running (pid {one.pid})" \
               in label.stderr, label.stderr
        assert f"pid {two.pid}" not in label.stderr and "a backup of two" not in label.stderr, label.stderr
        _ended(one)
    finally:
        _killed(one, two)
    written = _agree(lab)
    label = _rabtui(lab, "media", "label", "m1", "--force")
    assert label.returncode == 0 and "already labelled" in label.stdout, label.stdout + label.stderr
    assert _agree(lab) == written


def test_a_run_waiting_for_the_medium_lock_ends_on_sigterm(tmp_path):
    """`backup --all` waits for a labelling under way before its sources start; SIGTERM during that
    wait ended it only after the lock's whole wait (60 s): it ends at once, each source recorded
    cancelled before it started."""
    lab = Lab(tmp_path, media_count=1)
    _sources(lab, ["a", "b"], files=1)
    labelling = run = None
    out = tmp_path / "run.out"
    try:
        labelling = _stopped_at(lab, "medium.label_writing", "media", "label", "m1")
        run = _waiting_for_the_lock(lab, out, "backup", "--all")
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(timeout=30)      # well within the lock's 60 s
        except subprocess.TimeoutExpired:
            raise AssertionError("the run waited on for the medium's lock after SIGTERM") from None
        rows = lab.store().all("SELECT target, status, summary FROM jobs WHERE kind='backup' ORDER BY id")
        assert [tuple(r) for r in rows] == [("a", "cancelled", "cancelled before it started"),
                                            ("b", "cancelled", "cancelled before it started")], out.read_text()
        _ended(labelling)
    finally:
        _killed(labelling, run)
