"""A run-due of two sources at once (one standard directory, one archive directory) killed with
SIGKILL while each is where the test chose: one source's thread held at a fault point
(faults.HOLD_ENV), the other's killing the process at its own (`POINT@SOURCE`); then the recovery
of both killed in the same way; each killed after any write of one source's records
(`state.written#N@SOURCE`: between any two of them). After the next run-due, a cleanup and a rebuild-state: each source
backed up complete once for the night, no run or job left running, the catalog is what the media
hold, backup.json and the database agree, and every complete backup holds and restores the source
as it was. Real run-dues, real rsync."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest

from rabtui import faults
from rabtui.state import jobs
from rabtui.state.store import COMPLETE
from tests import invariants, preloaded
from tests.test_kill_anywhere import _files, _killed
from tests.test_run_due_killed_slot import LATER, NIGHT
from tests.trees import Lab, closed, made_once, snapshot, ssh_source_lines

NIGHT_BEFORE = "2026-09-30T02:05"
SOURCES = ("std", "arc")

# every moment of each source against every moment of the other, and more recoveries, with
# RABTUI_ALL_PAIRS=1 (a pair whose moments never meet is skipped then)
ALL = bool(os.environ.get("RABTUI_ALL_PAIRS"))

# (the source held, its point; the source killed, its point): each a moment of a backup (or of the
# run-due around it) against another, the other way round too
PAIRS = [
    ("std", "backup.step7_ended", "arc", "backup.step2"),
    ("arc", "backup.step7_ended", "std", "backup.json_written"),
    ("std", "backup.json_written", "arc", "backup.archive_linked"),
    ("arc", "backup.catalog", "std", "run_due.backup_ended"),
    ("arc", "backup.union_linking", "std", "backup.catalog"),
    ("arc", "run_due.backup_ended", "std", "backup.step5"),
]
_MOMENTS = {
    "std": [p for p in faults.BACKUP_POINTS if p != "backup.archive_linked"] + [*faults.DIR_POINTS,
                                                                               *faults.RUN_DUE_POINTS],
    "arc": [*faults.BACKUP_POINTS, *faults.DIR_POINTS, *faults.UNION_POINTS, *faults.LINK_EACH_POINTS,
            *faults.RUN_DUE_POINTS],
}
if ALL:
    PAIRS = [(h, a, k, p) for h, k in (SOURCES, SOURCES[::-1]) for a in _MOMENTS[h] for p in _MOMENTS[k]]

# both runs killed once their transfer ended (each kept by its recovery), then that recovery (and
# the backups after it) killed with one source's held at a point and the other's killed at its own
FIRSTS = [("std", "backup.catalog", "arc", "backup.catalog"),
          ("arc", "backup.step7_ended", "std", "backup.step7_ended")]
RECOVERIES = [
    ("std", "recovery.kept_said", "arc", "recovery.kept_catalog"),
    ("arc", "recovery.kept_said", "std", "recovery.kept_said"),
    ("arc", "union.undoing", "std", "backup.step2"),
]
_AGAIN = {"std": ["recovery.kept_catalog", "recovery.kept_said", "backup.step2", "backup.dir_made",
                  "backup.json_written", "run_due.backup_ended"]}
_AGAIN["arc"] = [*_AGAIN["std"], *faults.UNDO_POINTS, *faults.UNDO_EACH_POINTS]
if ALL:
    FIRSTS += [("std", "backup.step6", "arc", "backup.archive_linked"),
               ("std", "backup.json_written", "arc", "backup.step7_ended")]
    RECOVERIES = [(h, a, k, p) for h, k in (SOURCES, SOURCES[::-1]) for a in _AGAIN[h] for p in _AGAIN[k]]


def rabtui_held(lab: Lab, *args: str, hold: str | None = None, kill: str | None = None):
    env = {k: v for k, v in os.environ.items() if k not in (faults.ENV, faults.HOLD_ENV, faults.STOP_ENV)}
    if hold:
        env[faults.HOLD_ENV] = hold
    if kill:
        env[faults.ENV] = kill
    try:
        return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                             env=env, capture_output=True, text=True, timeout=20 if ALL else 60,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        if ALL and hold:
            pytest.skip(f"{hold} then {kill}: not reached")
        raise


def _night_before(tmp_path, sshd=None, extra: str = "", media: int = 1) -> tuple[Lab, dict]:
    """Both sources (and `web` on the test `sshd`, if given) backed up complete the night before,
    then changed: the copies each complete backup must hold, by the night they are of. `extra`:
    lines of the [rabtui] table; `media`: how many in the rotation."""
    lab = Lab(tmp_path, media_count=media)
    schedule = 'schedule = "0 2 * * *"'
    web = "" if sshd is None else (ssh_source_lines(sshd) + f"{schedule}\n[[sources.directories]]\n"
                                                           f'path = "{lab.src / "w"}"\n')
    lab.write(lab._local_source([("s", "standard")], schedule, "std")
              + lab._local_source([("a", "archive")], schedule, "arc") + web)
    lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", f"[rabtui]\n{extra}", 1))
    if sshd is not None:
        lab.trust(sshd)
        _files(lab.src / "w", {"f": b"w1" * 100, "d/g": b"w2"})
    _files(lab.src / "s", {"f": b"s1" * 300, "d/g": b"s2", "gone": b"s3"})
    _files(lab.src / "a", {"f": b"a1" * 200, "d/g": b"a2"})
    first = rabtui_held(lab, "run-due", "--now", NIGHT_BEFORE)
    assert first.returncode == 0, first.stdout + first.stderr
    before = _sources(lab)
    _files(lab.src / "s", {"f": b"s4" * 400, "new": b"s5"})
    os.unlink(lab.src / "s" / "gone")
    _files(lab.src / "a", {"f": b"a3" * 250, "z": b"a4"})
    if sshd is not None:
        _files(lab.src / "w", {"f": b"w3" * 150, "h": b"w4"})
    return lab, {"before": before, "night": _sources(lab)}


@pytest.fixture(scope="module")
def _night_before_made(tmp_path_factory):
    def make(live):
        lab, copies = _night_before(live)
        closed(lab)
        return copies

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def night_before(_night_before_made) -> tuple[Lab, dict]:
    """_night_before of one medium, no sshd and nothing more, made once for the module: anew for each test."""
    copies, made = _night_before_made
    return Lab(made.anew(), media_count=1), copy.deepcopy(copies)


def _sources(lab: Lab) -> dict[str, dict[bytes, bytes]]:
    return {d.path: snapshot(d.path) for s in lab.load().sources for d in s.directories}


def _killed_night(lab: Lab, held: str, at: str, killed: str, point: str) -> None:
    done = rabtui_held(lab, "run-due", "--now", NIGHT, hold=f"{at}@{held}", kill=f"{point}@{killed}")
    _killed(done)


def _check(lab: Lab, copies: dict, when: str) -> None:
    """Each source complete once the night before and once this night, holding the source as it was;
    nothing running; the invariants."""
    store = lab.store()
    cfg = lab.load()
    held: dict[int, dict] = {}
    for source in (s.id for s in cfg.sources):
        rows = store.all("SELECT * FROM backups WHERE source=? ORDER BY id", (source,))
        done = [r for r in rows if r["status"] in COMPLETE]
        shown = [(r["name"], r["status"]) for r in rows]
        assert len(done) == 2, f"{when}: {source}: {shown}"
        assert "running" not in {r["status"] for r in rows}, f"{when}: {source}: {shown}"
        held[done[0]["id"]], held[done[1]["id"]] = copies["before"], copies["night"]
    assert not jobs.running_jobs(store), f"{when}: {[dict(r) for r in jobs.running_jobs(store)]}"
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)
    invariants.check_change_counters(store)
    invariants.check_backups_hold(cfg, store, held)
    store.close()


def _after(lab: Lab, copies: dict, tmp_path) -> None:
    """The next run-due backs up what the night lacks, the one after finds nothing due; a cleanup and
    a rebuild-state keep it all; every complete backup restores as it shows."""
    again = rabtui_held(lab, "run-due", "--now", LATER)
    assert again.returncode == 0, again.stdout + again.stderr
    _check(lab, copies, "after the next run-due\n" + again.stdout + again.stderr)
    last = rabtui_held(lab, "run-due", "--now", LATER)
    assert last.returncode == 0 and ": due" not in last.stdout, last.stdout + last.stderr
    cleaned = rabtui_held(lab, "cleanup", "--now", LATER)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    _check(lab, copies, "after a cleanup\n" + cleaned.stdout + cleaned.stderr)
    rebuilt = rabtui_held(lab, "rebuild-state")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    _check(lab, copies, "after rebuild-state\n" + rebuilt.stdout + rebuilt.stderr)
    last = rabtui_held(lab, "run-due", "--now", LATER)
    assert last.returncode == 0 and ": due" not in last.stdout, last.stdout + last.stderr
    store = lab.store()
    invariants.check_restores_are_views(lab.load(), store, tmp_path / "restored")
    store.close()


@pytest.mark.parametrize("held,at,killed,point", PAIRS, ids=[f"{h}@{a}+{k}@{p}" for h, a, k, p in PAIRS])
def test_a_run_due_killed_at_one_source_while_another_is_held(tmp_path, night_before, held, at, killed, point):
    lab, copies = night_before
    _killed_night(lab, held, at, killed, point)
    _after(lab, copies, tmp_path)


@pytest.mark.parametrize("first", FIRSTS, ids=lambda f: "+".join(f))
@pytest.mark.parametrize("held,at,killed,point", RECOVERIES, ids=[f"{h}@{a}+{k}@{p}" for h, a, k, p in RECOVERIES])
def test_the_recovery_of_two_killed_runs_killed(tmp_path, night_before, first, held, at, killed, point):
    """(Killed in step 7 after its row said it ended, its recovery killed once its backup.json said
    kept: the next recovery recorded it so with its step 7 ended, and the schedule took the killed
    run for the night's backup.)"""
    lab, copies = night_before
    _killed_night(lab, *first)
    _killed(rabtui_held(lab, "run-due", "--now", LATER, hold=f"{at}@{held}", kill=f"{point}@{killed}"))
    _after(lab, copies, tmp_path)


# one killed before its transfer ended (abandoned by the rebuild), one after (its data kept)
@pytest.mark.parametrize("held,at,killed,point", [("std", "backup.step3", "arc", "backup.step5"),
                                                  ("arc", "backup.step7_ended", "std", "backup.rsync_ended")])
@pytest.mark.parametrize("media", [1, 2])
def test_a_killed_night_rebuilt_is_backed_up_again(tmp_path, held, at, killed, point, media):
    """rebuild-state right after the kill (the database lost with the server, say): the killed runs
    it finds serve no time of the schedule, and the next run-due backs each source up for the night
    (rebuild-state marked each as run for the time of its newest backup, the killed one's); with two
    media in the rotation, onto whichever the rotation gives."""
    lab, copies = _night_before(tmp_path, media=media)
    _killed_night(lab, held, at, killed, point)
    rebuilt = rabtui_held(lab, "rebuild-state")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    _after(lab, copies, tmp_path)


# max_parallel 2: web waits its turn until std has ended, or is still waiting when the run is killed
THREE = [("web", "backup.step5", "arc", "backup.catalog"),
         ("std", "backup.step7_ended", "arc", "backup.json_written")]
if ALL:
    THREE += [("web", "backup.json_written", "arc", "backup.step7_ended"),
              ("arc", "backup.step7_ended", "web", "backup.catalog"),
              ("web", "backup.step7_ended", "std", "backup.step2"), ("arc", "union.linked", "web", "backup.step5")]


@pytest.mark.parametrize("held,at,killed,point", THREE, ids=[f"{h}@{a}+{k}@{p}" for h, a, k, p in THREE])
def test_three_sources_one_over_ssh_one_waiting_its_turn(tmp_path, sshd, held, at, killed, point):
    lab, copies = _night_before(tmp_path, sshd, "max_parallel = 2\n")
    _killed_night(lab, held, at, killed, point)
    _after(lab, copies, tmp_path)


# a cleanup recovers the two sources' killed runs one after the other: killed as it recovers the
# second (the first's recovered), or the first (the second's not yet)
CLEANUP_KILLS = ["cleanup.recovering@arc", "recovery.kept_said@arc", "union.undone@arc"]
if ALL:
    CLEANUP_KILLS += ["cleanup.recovering@std", "recovery.kept_catalog@std", "recovery.kept_said@std",
                      "recovery.kept_catalog@arc", "union.undoing@arc"]


@pytest.mark.parametrize("first", FIRSTS, ids=lambda f: "+".join(f))
@pytest.mark.parametrize("kill", CLEANUP_KILLS)
def test_a_cleanup_recovering_two_killed_runs_killed(tmp_path, night_before, first, kill):
    lab, copies = night_before
    _killed_night(lab, *first)
    cleaned = rabtui_held(lab, "cleanup", "--now", LATER, kill=kill)
    if ALL and cleaned.returncode == 0:
        pytest.skip(f"{kill}: not passed")
    _killed(cleaned)
    _after(lab, copies, tmp_path)


# killed after the Nth write of one source's records (state.written#N), between any two of them,
# the other held at a point of its own
WRITES = [("std", "backup.step5", "arc", n) for n in (8, 20, 38)]
if ALL:
    WRITES = [(h, a, k, n) for h, a, k in (("std", "backup.step5", "arc"), ("arc", "backup.catalog", "std"))
              for n in range(1, 50)]


@pytest.mark.parametrize("held,at,killed,nth", WRITES, ids=[f"{h}@{a}+{k}#{n}" for h, a, k, n in WRITES])
def test_a_run_due_killed_after_any_write_of_one_source(tmp_path, night_before, held, at, killed, nth):
    lab, copies = night_before
    _killed_night(lab, held, at, killed, f"state.written#{nth}")
    _after(lab, copies, tmp_path)


# the recovery of both killed runs (and the backups after it) killed after the Nth write of one
# source's, the other's held in its recovery
AGAIN_WRITES = [("std", "recovery.kept_said", "arc", n) for n in (3, 9)]
if ALL:
    AGAIN_WRITES = [(h, a, k, n) for h, a, k in (("std", "recovery.kept_said", "arc"),
                                                 ("arc", "union.undone", "std")) for n in range(1, 30)]


@pytest.mark.parametrize("first", FIRSTS, ids=lambda f: "+".join(f))
@pytest.mark.parametrize("held,at,killed,nth", AGAIN_WRITES, ids=[f"{h}@{a}+{k}#{n}" for h, a, k, n in AGAIN_WRITES])
def test_the_recovery_killed_after_any_write_of_one_source(tmp_path, night_before, first, held, at, killed, nth):
    lab, copies = night_before
    _killed_night(lab, *first)
    _killed(rabtui_held(lab, "run-due", "--now", LATER, hold=f"{at}@{held}", kill=f"state.written#{nth}@{killed}"))
    _after(lab, copies, tmp_path)


def test_data_kept_by_its_own_run_rebuilt_still_counts_for_its_night(tmp_path):
    """Kept data whose run ended by itself (its post-backup command failed) served its night, as
    run-due counted it: after rebuild-state too; a killed run's beside it (the other source) did not."""
    lab = Lab(tmp_path, media_count=1)
    schedule = 'schedule = "0 2 * * *"'
    lab.write(lab._local_source([("s", "standard")], schedule + '\npost_backup_commands = ["false"]', "std")
              + lab._local_source([("a", "archive")], schedule, "arc"))
    _files(lab.src / "s", {"f": b"s1"})
    _files(lab.src / "a", {"f": b"a1"})
    _killed_night(lab, "std", "run_due.backup_ended", "arc", "backup.catalog")
    rebuilt = rabtui_held(lab, "rebuild-state")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    again = rabtui_held(lab, "run-due", "--now", LATER)
    assert "std: due" not in again.stdout and "arc: due" in again.stdout, again.stdout + again.stderr
    statuses = {s: [r["status"] for r in lab.store().all("SELECT status FROM backups WHERE source=? ORDER BY id", (s,))]
                for s in SOURCES}
    assert statuses == {"std": ["kept"], "arc": ["kept", "completed"]}, statuses


# killed after the Nth write of the run as a whole (its sources' threads in whatever order they come,
# the run-due's own before and after them: schedule marks, queued jobs, cleanup, health check), with
# every write with RABTUI_ALL_PAIRS=1, one of them by default
@pytest.mark.parametrize("first", [None, *FIRSTS], ids=lambda f: "+".join(f) if f else "night")
@pytest.mark.parametrize("nth", range(1, 130) if ALL else [7])
def test_a_run_due_killed_after_any_of_its_writes(tmp_path, night_before, first, nth):
    """The night's run-due killed so; or, after the night's killed as `first` says, the next."""
    lab, copies = night_before
    if first:
        _killed_night(lab, *first)
    done = rabtui_held(lab, "run-due", "--now", LATER if first else NIGHT, kill=f"state.written#{nth}")
    if done.returncode == 0:
        pytest.skip(f"{nth} writes: more than the run makes")
    _killed(done)
    _after(lab, copies, tmp_path)
