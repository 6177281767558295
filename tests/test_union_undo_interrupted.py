"""A cleanup killed as it undoes the union links of a complete backup it deletes, then that backup
kept after all (retention changed): the union shows that backup's files again before anything reads
or changes it, and a checkpoint burned from it holds them. The union lacked the files undone so far
(or showed older versions) until the backup was deleted, and a checkpoint burned meanwhile missed
them. A backup that meets a cleanup's undoing still under way waits for it while it makes progress.
Real rsync, real processes killed or stopped at their fault points, real xorriso writing an image."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest

from rabtui import faults
from rabtui.backup import union_undo
from rabtui.media import medium_layout
from rabtui.ops import health
from tests import invariants, preloaded
from tests.test_cleanup_while_reading import ROOT, _stopped
from tests.test_kill_anywhere import _copy, _files, _killed, rabtui
from tests.test_union_undo_lock import _output_until, _started
from tests.trees import Lab, burn_due, closed, made_once

SHORT = ("[retention]\nkeep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
         "keep_monthly_months = 0\nkeep_yearly_years = 0\n")


def _killed_undoing(tmp_path):
    """Two media, an archive directory backed up onto both, then a newer file onto m1; a cleanup
    deleting m1's first backup killed once it undid the first of its union links; then retention
    changed so that a cleanup keeps it. (lab, cfg, store, copies, union)."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("4MiB", [("arch", "archive")], more=SHORT)
    arch = lab.src / "arch"
    _files(arch, {"x": b"x1" * 50, "y": b"y1" * 60, "d/w": b"w1"})
    store = lab.store()
    for medium in ("m1", "m2"):     # m2's backup holds the same versions: the guard lets m1's go
        assert rabtui(lab, "backup", "loc", "--medium", medium).returncode == 0
    first = store.one("SELECT * FROM backups WHERE medium='m1'")
    copies = {r["id"]: _copy(lab, cfg) for r in store.all("SELECT id FROM backups")}
    _files(arch, {"z": b"z2"})
    done = rabtui(lab, "backup", "loc", "--medium", "m1")
    assert done.returncode == 0, done.stdout + done.stderr
    copies[store.one("SELECT id FROM backups ORDER BY id DESC LIMIT 1")["id"]] = _copy(lab, cfg)

    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="seconds")
    _killed(rabtui(lab, "cleanup", "--now", later, point="union.undoing"))
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(arch))
    shown = {p for p in ("x", "y", "d/w") if (union / p).exists()}
    assert len(shown) == 2, shown       # killed once the first of its files was undone

    lab.config_path.write_text(lab.config_path.read_text().replace(SHORT, ""))
    cfg = lab.load()
    kept = rabtui(lab, "cleanup", "--now", later)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert store.one("SELECT status FROM backups WHERE id=?", (first["id"],))["status"] == "completed"
    return lab, cfg, store, copies, union


@pytest.fixture(scope="module")
def _killed_undoing_made(tmp_path_factory):
    def make(live):
        lab, _cfg, store, copies, union = _killed_undoing(live)
        store.close()
        closed(lab)
        return copies, union

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def killed_undoing(_killed_undoing_made):
    """What _killed_undoing makes, anew for each test (made once for the module), in lab.tmp."""
    (copies, union), made = _killed_undoing_made
    lab = Lab(made.anew(), media_count=2)
    return lab, lab.load(), lab.store(), copy.deepcopy(copies), union


def test_a_backup_kept_after_a_killed_undoing_shows_its_files_in_the_union_and_on_the_disc(killed_undoing, tmp_path):
    lab, cfg, store, copies, union = killed_undoing
    arch = lab.src / "arch"
    m2 = lab.media[1][1]
    os.rename(m2, tmp_path / "medium2-away")     # the checkpoint takes the directory from m1's union
    number = burn_due(cfg, store, asked={"*"})
    os.rename(tmp_path / "medium2-away", m2)
    burned = {bytes(r["path"]): r["size"] for r in store.all("SELECT path, size FROM disc_files WHERE number=?",
                                                             (number,))}
    top = os.fsencode(str(arch).lstrip("/"))
    assert {p: burned.get(top + b"/" + p) for p in (b"x", b"y", b"d/w", b"z")} == {
        b"x": 100, b"y": 120, b"d/w": 2, b"z": 2}, burned
    assert (union / "x").read_bytes() == b"x1" * 50 and (union / "d/w").read_bytes() == b"w1"
    assert not os.listdir(medium_layout.linking_dir(lab.media[0][1], "loc"))
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_backups_hold(cfg, store, copies)



def _undoing_said(cfg, store) -> list[str]:
    return [p.message for p in health.run_checks(cfg, store) if p.check_id == "undoing:loc:m1"]


def test_the_next_backup_gives_the_union_back_the_kept_backups_files(killed_undoing, tmp_path):
    """Until then `check` warns of the undoing recorded on m1 (in its Prometheus textfile too),
    while m1 is here; it said nothing of it."""
    lab, cfg, store, copies, union = killed_undoing
    first = store.one("SELECT name FROM backups WHERE medium='m1' ORDER BY id")["name"]
    checked = rabtui(lab, "check", "--prometheus", str(tmp_path / "rabtui.prom"))
    said = [line for line in checked.stdout.splitlines() if "interrupted as it undid" in line]
    assert len(said) == 1 and said[0].startswith("WARNING: medium m1:"), checked.stdout + checked.stderr
    assert f"source loc's backup {first}:" in said[0] and "next backup of loc onto m1" in said[0], said
    assert 'rabtui_check_status{check="undoing:loc:m1"} 1' in (tmp_path / "rabtui.prom").read_text()
    m1 = lab.media[0][1]
    os.rename(m1, tmp_path / "medium1-away")        # away: nothing said of it, nothing read there
    m1.mkdir()
    assert not _undoing_said(cfg, store)
    m1.rmdir()
    os.rename(tmp_path / "medium1-away", m1)
    undone, = {"x", "y", "d/w"} - {p for p in ("x", "y", "d/w") if (union / p).exists()}
    os.unlink(lab.src / "arch" / undone)      # gone from the source: only the kept backup holds it
    _files(lab.src / "arch", {"n": b"n3"})
    done = rabtui(lab, "backup", "loc", "--medium", "m1")
    assert done.returncode == 0, done.stdout + done.stderr
    copies[store.one("SELECT id FROM backups ORDER BY id DESC LIMIT 1")["id"]] = _copy(lab, cfg)
    assert [(union / p).read_bytes() for p in ("x", "y", "d/w", "z", "n")] == [
        b"x1" * 50, b"y1" * 60, b"w1", b"z2", b"n3"]
    assert not _undoing_said(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_backups_hold(cfg, store, copies)


def test_a_checkpoint_says_at_once_what_holds_the_union_it_has_to_settle(killed_undoing):
    """A backup stopped as it gives the union back the kept backup's files (hung on its medium,
    say) holds the union lock, the undoing still recorded: a checkpoint planned meanwhile names the
    holder (pid, stopped) at once and gives up after the source's io_timeout with the holder named,
    exit 1. It waited in silence (io_timeout is ten minutes by default)."""
    lab, cfg, store, copies, union = killed_undoing
    lab.config_path.write_text(lab.config_path.read_text().replace('id = "loc"\n', 'id = "loc"\nio_timeout = 2\n', 1))
    _files(lab.src / "arch", {"n": b"n3"})
    env = {**os.environ, faults.STOP_ENV: "backup.union_linking"}     # passed by the settling's first link
    hung = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc",
                             "--medium", "m1"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _stopped(hung.pid):
            assert hung.poll() is None and time.monotonic() < deadline, "the backup did not reach the point"
            time.sleep(0.05)
        assert union_undo.pending(lab.media[0][1], "loc")
        done = rabtui(lab, "checkpoint", "plan", "--now", f"loc:{lab.src / 'arch'}")
        out = done.stdout + done.stderr
        assert done.returncode == 1 and "Traceback" not in out, out
        waiting = [line for line in out.splitlines() if "waiting (at most 2 s)" in line]
        assert waiting and f"pid {hung.pid}" in waiting[0] and "stopped" in waiting[0], out
        assert f"pid {hung.pid}" in out.split(waiting[0], 1)[1] and "for more than 2 s" in out, out
    finally:
        while hung.poll() is None:       # stops again at the backup's own first link
            hung.send_signal(signal.SIGCONT)
            time.sleep(0.05)
    assert hung.returncode == 0
    assert not union_undo.pending(lab.media[0][1], "loc")
    invariants.check_catalog_is_media(cfg, store)



@pytest.mark.parametrize("hangs", [False, True])
def test_a_backup_waits_for_a_cleanup_that_undoes_a_large_backup_while_it_makes_progress(tmp_path, hangs):
    """A cleanup deleting a large backup undoes its union links for longer than the source's
    io_timeout (a slow disk): a backup that starts meanwhile waits in step 3 for as long as the
    cleanup goes on making progress, saying who it waits for, and completes once the union is
    settled; it failed after io_timeout, nothing backed up that night. A cleanup that stops making
    progress (hung on its medium) fails the backup io_timeout later, named, nothing written, and the
    next backup goes on. Here the cleanup stops itself at each link it undoes, and is let go on
    0.3 s later (or, hung, no more after a few)."""
    io_timeout = 2
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.write(lab._local_source([("arch", "archive")], f"io_timeout = {io_timeout}", "loc") + SHORT)
    arch = lab.src / "arch"
    _files(arch, {f"f{i:02}": b"%d" % i * 50 for i in range(20)})
    for medium in ("m1", "m2"):     # m2's backup holds the same versions: the guard lets m1's go
        assert rabtui(lab, "backup", "loc", "--medium", medium).returncode == 0
    store = lab.store()
    first = store.one("SELECT * FROM backups WHERE medium='m1'")
    _files(arch, {"z": b"z2"})
    assert rabtui(lab, "backup", "loc", "--medium", "m1").returncode == 0
    _files(arch, {"n": b"n3"})
    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="seconds")
    cleanup = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "cleanup", "--now",
                                later], cwd=ROOT, env={**os.environ, faults.STOP_ENV: "union.undone"},
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    paced: list[float] = []        # when the cleanup was let go on, each time

    def pace() -> None:
        while cleanup.poll() is None and not (hangs and len(paced) == 5):
            if _stopped(cleanup.pid):
                time.sleep(0.3)
                paced.append(time.monotonic())
                cleanup.send_signal(signal.SIGCONT)
            time.sleep(0.01)

    pacer = threading.Thread(target=pace)
    try:
        deadline = time.monotonic() + 60
        while not _stopped(cleanup.pid):      # once it undid the first link
            assert cleanup.poll() is None and time.monotonic() < deadline, "the cleanup did not reach the point"
            time.sleep(0.01)
        assert union_undo.pending(lab.media[0][1], "loc")
        out = tmp_path / "backup.out"
        backup = _started(lab, out, "loc", "--medium", "m1")
        _output_until(backup, out, f"waiting (at most {io_timeout} s)")
        waited = time.monotonic()
        pacer.start()
        backup.wait(timeout=120)
        pacer.join(timeout=120)     # at its pace, whether the backup ended before it or not
    finally:
        while cleanup.poll() is None:
            cleanup.send_signal(signal.SIGCONT)
            time.sleep(0.05)
    said = out.read_text()
    cleaned = cleanup.communicate(timeout=60)[0].decode()
    assert cleanup.returncode == 0 and f"deleting loc {first['name']} on m1" in cleaned, cleaned
    waiting = [line for line in said.splitlines() if f"waiting (at most {io_timeout} s)" in line]
    assert waiting and f"a cleanup (pid {cleanup.pid}" in waiting[0], said
    assert f"a cleanup (pid {cleanup.pid}" in said.split("is making progress: waiting for as long as it does")[0], said
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(arch))
    if hangs:
        failed = [line for line in said.splitlines() if "error: backup of loc failed" in line]
        assert backup.returncode == 1 and "Traceback" not in said, said
        assert failed and f"pid {cleanup.pid}" in failed[0] and "stopped" in failed[0], said
        assert f"for more than {io_timeout} s without progress (after" in failed[0], said
        assert not (union / "n").exists()
        after = rabtui(lab, "backup", "loc", "--medium", "m1")
        assert after.returncode == 0, after.stdout + after.stderr
    else:
        # the premise: the cleanup was still undoing, io_timeout after the backup began waiting for it
        assert paced[-1] > waited + 2 * io_timeout, (len(paced), paced[-1] - waited, said)
        assert backup.returncode == 0, said
    assert (union / "n").read_bytes() == b"n3"
    assert not union_undo.pending(lab.media[0][1], "loc")
    invariants.check_catalog_is_media(cfg, store)


def test_a_run_waiting_for_the_union_waits_while_a_backup_links_many_files(tmp_path):
    """A backup linking a great many new files into the union (a first backup of a large archive
    on a slow disk) holds the union lock for longer than the source's io_timeout: one waiting for it
    (a checkpoint plan settling an undoing, a cleanup undoing a killed run's links: history.union_held)
    waits while the backup goes on linking, and takes the lock once it is done; it failed after
    io_timeout, the backup marking no progress. Here the backup stops itself after each link made and
    is let go on 0.3 s later."""
    from rabtui.backup import history

    io_timeout = 2
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(lab._local_source([("arch", "archive")], f"io_timeout = {io_timeout}", "loc") + SHORT)
    _files(lab.src / "arch", {f"f{i:02}": b"%d" % i for i in range(20)})
    out = tmp_path / "backup.out"
    with open(out, "wb") as sink:
        backup = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                                 cwd=ROOT, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1", faults.STOP_ENV: "union.linked"})
    paced: list[float] = []

    def pace() -> None:
        while backup.poll() is None:
            if _stopped(backup.pid):
                time.sleep(0.3)
                paced.append(time.monotonic())
                backup.send_signal(signal.SIGCONT)
            time.sleep(0.01)

    try:
        deadline = time.monotonic() + 60
        while not _stopped(backup.pid):      # once it linked its first file, the union lock held
            assert backup.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.01)
        pacer = threading.Thread(target=pace)
        pacer.start()
        waited = time.monotonic()
        said: list[str] = []
        with history.union_held(cfg, "loc", lambda e: said.append(e.message), by="a test"):
            took = time.monotonic()
        backup.wait(timeout=120)
        pacer.join(timeout=120)
    finally:
        while backup.poll() is None:
            backup.send_signal(signal.SIGCONT)
            time.sleep(0.05)
    assert backup.returncode == 0, out.read_text()
    assert took - waited > 2 * io_timeout and len(paced) >= 15, (took - waited, len(paced))     # the premise
    assert any(f"pid {backup.pid}" in m for m in said), said
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    assert sorted(os.listdir(union)) == [f"f{i:02}" for i in range(20)]
