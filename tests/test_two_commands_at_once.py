"""Two rabtui commands at once, pair by pair: the first (A) held (SIGSTOP) at a fault point with what
it holds, the second (B) run to its end, then A let go. B either does its work or is refused with a
clear message that says what holds what (non-zero exit, never a traceback, never a wait for ever);
A ends as it would alone; at the end the media and the catalog agree, backup.json and the database
agree, and every file of every complete backup restores byte for byte. Real processes, real rsync
and xorriso (`images:` drive)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rabtui.faults import STOP_ENV
from rabtui.state.store import COMPLETE
from tests import invariants, preloaded
from tests.held import stopped
from tests.trees import Lab, closed, made_once, snapshot, write_files

ROOT = Path(__file__).resolve().parent.parent
LATER = (datetime.now() + timedelta(days=6)).isoformat(timespec="minutes")
REFUSED = ("cannot run now", "is already running", "are running", "held the lock of")


def _argv(lab: Lab, name: str) -> list[str]:
    out = str(lab.tmp / f"restored-{name}-{time.monotonic_ns()}")
    data = str(lab.src / "data")
    return {
        "backup": ["backup", "loc"],
        "backup-all": ["backup", "--all"],
        "run-due": ["run-due", "--now", LATER],
        "cleanup": ["cleanup", "--now", LATER],
        "burn": ["checkpoint", "burn", "--now", "--yes", "--new"],
        "verify": ["checkpoint", "verify", "1", "--yes"],
        "rebuild-state": ["rebuild-state"],
        "restore": ["restore", "loc", data, "--to", out],
        "restore-disc": ["restore", "loc", data, "--checkpoint", "1", "--to", out],
        "label": ["media", "label", "m2"],
        "find": ["find", "*"],
        "status": ["status"],
        "check": ["check"],
    }[name]


# A: the command and where it is held
HELD = {
    "backup": ("backup", "backup.catalog"),
    "backup-all": ("backup-all", "backup.catalog"),
    "run-due": ("run-due", "backup.catalog"),
    "cleanup": ("cleanup", "cleanup.trees_emptied"),
    "burn-prompted": ("burn", "burn.before_write"),
    "burn-writing": ("burn", "burn.xorriso_started"),
    "burn-written": ("burn", "burn.written"),
    "verify": ("verify", "verify.extracting"),
    "rebuild-state": ("rebuild-state", "rebuild.media_read"),
    "restore": ("restore", "restore.file_written"),
    "restore-disc": ("restore-disc", "restore.discs_read"),
    "label": ("label", "medium.label_writing"),
}


def _rabtui(lab: Lab, *args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                         capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=timeout)


def _set_up(tmp: Path) -> tuple:
    """Sources loc and two (due at LATER), media m1 (used) and m2 (empty, unlabelled); two backups
    of loc, the older due for deletion at LATER; checkpoint 1 of loc on a disc."""
    lab = Lab(tmp, media_count=2)
    iso = tmp / "iso"
    iso.mkdir()
    lab.write(lab._local_source([("data", "standard")], 'schedule = "0 2 * * *"', "loc")
              + lab._local_source([("two", "standard")], 'schedule = "0 2 * * *"', "two")
              + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{iso}"\n'
              + "\n[retention]\nkeep_all_days = 1\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                "keep_monthly_months = 0\nkeep_yearly_years = 0\n")
    # m2 is listed after the backups are made: each of them on m1
    text = lab.config_path.read_text()
    lab.config_path.write_text(text.replace(f'\n[[media]]\nid = "m2"\npath = "{lab.media[1][1]}"\n', "\n"))
    write_files(lab.src / "data", {"sub/f1": b"one" * 1000, "sub/f2": b"two", "g": os.urandom(3000)})
    write_files(lab.src / "two", {"t": b"tee"})
    for args in (("backup", "loc"), ("backup", "two")):
        done = _rabtui(lab, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    done = _rabtui(lab, "checkpoint", "burn", "--now", "loc:" + str(lab.src / "data"), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    time.sleep(1.1)
    write_files(lab.src / "data", {"later": b"later", "sub/f2": b"two, changed"})
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    lab.config_path.write_text(text)
    return lab


@pytest.fixture(scope="module")
def _pair_lab_once(tmp_path_factory):
    def make(live):
        lab = _set_up(live)
        closed(lab)

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def pair_lab(_pair_lab_once):
    _, made = _pair_lab_once
    return Lab(made.anew(), media_count=2)


def _held(lab: Lab, name: str, point: str) -> subprocess.Popen:
    proc = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *_argv(lab, name)],
                           cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env={**os.environ, STOP_ENV: point})
    deadline = time.monotonic() + 90
    while not stopped(proc.pid):
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"{name} ended ({proc.returncode}) before {point}:\n{out}{err}")
        assert time.monotonic() < deadline, f"{name} never reached {point}"
        time.sleep(0.05)
    return proc


def _let_go(holder: subprocess.Popen) -> tuple[str, str]:
    """The held process let go to its end: again each time it passes its point again (a backup of
    each source of `--all`, a burn's xorriso for each disc and its verification)."""
    deadline = time.monotonic() + 180
    while True:
        holder.send_signal(signal.SIGCONT)
        try:
            return holder.communicate(timeout=0.5)
        except subprocess.TimeoutExpired:
            assert time.monotonic() < deadline, "the held command never ended"


def _every_backup_restores(lab: Lab) -> None:
    cfg, store = lab.load(), lab.store()
    try:
        rows = store.all(f"SELECT id, source, medium, name FROM backups WHERE status IN {tuple(COMPLETE)!r}")
    finally:
        store.close()
    assert rows
    for row in rows:
        medium = cfg.medium(row["medium"])
        source = next(s for s in cfg.sources if s.id == row["source"])
        for d in source.directories:
            to = lab.tmp / f"check-{row['name']}-{time.monotonic_ns()}"
            # (by its id: two media may hold backups of one name, made in one second)
            done = _rabtui(lab, "restore", row["source"], d.path, "--backup", str(row["id"]), "--to", str(to))
            assert done.returncode == 0, (row["name"], done.stdout + done.stderr)
            kept = Path(medium.path) / row["source"] / row["name"] / "data" / d.path.lstrip("/")
            assert snapshot(to / d.path.lstrip("/")) == snapshot(kept), row["name"]


def _all_agree(lab: Lab) -> None:
    cfg, store = lab.load(), lab.store()
    try:
        invariants.check_catalog_is_media(cfg, store)
        invariants.check_json_agrees(cfg, store)
        running = store.all("SELECT id, kind, status FROM jobs WHERE status IN ('running', 'queued')")
        assert not running, [tuple(r) for r in running]
    finally:
        store.close()
    _every_backup_restores(lab)


def _said(done) -> str:
    return done.stdout + done.stderr


# B run while A is held, and what B must do: "ok" (its work done, exit 0 or 3), "refused" (a
# message that names what runs), or a tuple of both allowed ("either": the rules let it wait or go)
PAIRS = [
    ("rebuild-state", "backup"), ("rebuild-state", "backup-all"), ("rebuild-state", "run-due"),
    ("rebuild-state", "cleanup"), ("rebuild-state", "burn"), ("rebuild-state", "verify"),
    ("rebuild-state", "restore"), ("rebuild-state", "label"), ("rebuild-state", "rebuild-state"),
    ("rebuild-state", "find"), ("rebuild-state", "status"), ("rebuild-state", "check"),
    ("backup", "rebuild-state"), ("backup-all", "rebuild-state"), ("cleanup", "rebuild-state"),
    ("burn-writing", "rebuild-state"), ("verify", "rebuild-state"), ("restore", "rebuild-state"),
    ("label", "rebuild-state"), ("restore-disc", "rebuild-state"), ("burn-written", "rebuild-state"),
    ("run-due", "rebuild-state"),
    ("cleanup", "restore"), ("cleanup", "restore-disc"), ("cleanup", "burn"), ("cleanup", "cleanup"),
    ("cleanup", "backup"), ("cleanup", "find"),
    ("restore", "cleanup"), ("restore-disc", "cleanup"), ("burn-writing", "cleanup"),
    ("burn-written", "cleanup"),
    ("burn-writing", "backup-all"), ("burn-writing", "backup"), ("burn-writing", "burn"),
    ("burn-writing", "verify"), ("burn-writing", "restore-disc"), ("burn-written", "verify"),
    ("backup-all", "burn"), ("backup", "burn"),
    ("run-due", "run-due"), ("run-due", "backup"), ("run-due", "cleanup"), ("backup", "run-due"),
    ("backup", "backup"), ("backup", "backup-all"), ("backup-all", "backup-all"),
    ("backup", "cleanup"), ("backup", "restore"), ("backup", "label"), ("label", "backup"),
    ("label", "label"), ("backup", "find"), ("backup", "status"), ("backup", "check"),
    ("verify", "cleanup"), ("verify", "verify"), ("verify", "burn"),
    ("restore", "restore"), ("restore-disc", "burn"), ("restore", "backup"),
    ("burn-prompted", "cleanup"), ("burn-prompted", "backup-all"), ("burn-prompted", "rebuild-state"),
    ("burn-prompted", "restore-disc"), ("burn-prompted", "verify"),
]


# the pairs where B must be refused (each other is let run: find, status and check read; a cleanup
# keeps what a restore or a burn reads for a later one; a backup and a burn read other trees)
REFUSED_PAIRS = {
    *((a, b) for a, b in PAIRS if a == "rebuild-state" and b not in ("find", "status", "check")),
    *((a, "rebuild-state") for a in HELD),
    ("cleanup", "restore"), ("cleanup", "restore-disc"), ("cleanup", "burn"), ("cleanup", "cleanup"),
    ("burn-writing", "burn"), ("burn-writing", "verify"), ("burn-prompted", "verify"), ("burn-written", "verify"), ("verify", "verify"),
    ("verify", "burn"), ("run-due", "backup"), ("backup", "backup"), ("backup", "backup-all"),
    ("backup-all", "backup-all"), ("backup", "label"),
}
# what a refusal names of A
# (backup --all and run-due back up both sources at once: held at the first to reach the point, either)
NAMED = {"backup": "backup of loc", "backup-all": "backup of ", "run-due": "backup of ", "cleanup": "cleanup",
         "burn-prompted": "checkpoint", "burn-writing": "checkpoint", "burn-written": "checkpoint", "verify": "checkpoint",
         "rebuild-state": "rebuild-state", "restore": "restore", "restore-disc": "restore", "label": "media label m2"}


# a backup waits its designed minute for the labelling held: that pair runs with RABTUI_ALL_PAIRS=1
SLOW = {("label", "backup")}
RUN = PAIRS if os.environ.get("RABTUI_ALL_PAIRS") else [p for p in PAIRS if p not in SLOW]


@pytest.mark.slow
@pytest.mark.parametrize("a,b", RUN, ids=[f"{a}+{b}" for a, b in RUN])
def test_two_commands_at_once(pair_lab, a, b):
    _pair(pair_lab, a, b)


@pytest.mark.slow
@pytest.mark.parametrize("a", ["burn-prompted", "burn-writing", "burn-written"])
def test_backup_all_onto_the_medium_a_burn_reads(pair_lab, a):
    """m2 out of the config: the backups go onto m1, which the burn reads its backups from."""
    lab = pair_lab
    lab.config_path.write_text(lab.config_path.read_text().replace(
        f'\n[[media]]\nid = "m2"\npath = "{lab.media[1][1]}"\n', "\n"))
    assert "m2" not in [m.id for m in lab.load().media]
    _pair(lab, a, "backup-all")


def _pair(lab: Lab, a: str, b: str) -> None:
    name, point = HELD[a]
    holder = _held(lab, name, point)
    try:
        second = _rabtui(lab, *_argv(lab, b), timeout=150)
    finally:
        out, err = _let_go(holder)
    said = _said(second)
    if os.environ.get("PAIR_LOG"):
        with open(os.environ["PAIR_LOG"], "a") as log:
            log.write(f"PAIR {a} + {b}: B exit {second.returncode}: {said.strip()[-400:]!r}\n"
                      f"PAIR {a} + {b}: A exit {holder.returncode}: {(out + err).strip()[-300:]!r}\n")
    assert "Traceback" not in said and "Traceback" not in out + err
    # the holder named by what it holds, or, stopped as another of its threads wrote (the whole process
    # stops at the point), as the one holding the state database
    # (its hint on a line of its own, or after "; " where a job's reason says it)
    held_db = "is busy: database is locked" in said and f"open in pid {holder.pid} " in said and "stopped)" in said
    if (a, b) in REFUSED_PAIRS:
        assert second.returncode not in (0, 3) and (NAMED[a] in said or held_db), said
    if second.returncode not in (0, 3):
        assert (any(r in said for r in REFUSED) or held_db) and "pid " in said, said
    assert holder.returncode in (0, 3), out + err
    _all_agree(lab)
