"""Each step's failure stops the backup with a clear reason in the database and in backup.json;
interrupted and concurrent runs are safe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from rabtui.state import locks
from rabtui.media import medium as media, medium_layout
from rabtui.media.rotation import next_medium
from rabtui.errors import LockBusy
from rabtui.events import ITEM
from tests import held, preloaded
from tests.procs import processes, signalled
from tests.trees import Lab, write_files


def _row(lab: Lab, backup_id: int):
    return lab.store().one("SELECT * FROM backups WHERE id=?", (backup_id,))


def _steps(lab: Lab, backup_id: int) -> list[tuple[str, str | None]]:
    rows = lab.store().all("SELECT state, message FROM backup_steps WHERE backup_id=? ORDER BY step", (backup_id,))
    return [(r["state"], r["message"]) for r in rows]


def test_failing_pre_command_stops_before_rsync(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local(extra='pre_backup_commands = ["echo dumping; exit 3"]')
    write_files(lab.src / "data", {"a": b"1"})
    result = lab.backup(cfg, medium_id="m1")
    assert (result.status, result.exit_code) == ("failed", 1)
    assert "pre-backup command failed (exit 3)" in result.reason
    states = [s for s, _ in _steps(lab, result.backup_id)]
    assert states == ["ok", "ok", "ok", "failed", "skipped", "skipped", "skipped"]
    assert not os.listdir(result.path / "data")             # rsync never ran
    info = json.loads((result.path / "backup.json").read_text())
    assert info["status"] == "failed" and "pre-backup" in info["reason"]
    assert info["steps"][3]["state"] == "failed"
    assert "dumping" in (result.path / "backup.log").read_text()
    row = _row(lab, result.backup_id)
    assert row["status"] == "failed" and "exit 3" in row["reason"]


def test_failing_post_command_keeps_the_data(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local(extra='post_backup_commands = ["true", "exit 7"]')
    write_files(lab.src / "data", {"a": b"alpha"})
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and "post-backup command failed" in result.reason
    assert "data is kept" in result.reason
    data = medium_layout.backup_data_path(result.path, str(lab.src / "data"))
    assert (data / "a").read_bytes() == b"alpha"
    states = [s for s, _ in _steps(lab, result.backup_id)]
    assert states == ["ok", "ok", "ok", "skipped", "ok", "failed", "ok"]
    row = _row(lab, result.backup_id)
    assert row["status"] == "kept" and row["total_bytes"] == 5
    assert json.loads((result.path / "backup.json").read_text())["status"] == "kept"
    # kept data is never a link-dest base; its files are in the catalog with versions of their own
    lab.config_path.write_text(lab.config_path.read_text().replace('"true", "exit 7"', '"true"'))
    again = lab.backup(lab.load(), medium_id="m1")
    assert again.status == "completed" and _row(lab, again.backup_id)["link_dest"] is None
    assert again.new_bytes == 5
    versions = lab.store().all("SELECT first_backup, last_backup FROM versions ORDER BY id")
    assert [tuple(v) for v in versions] == [(result.backup_id,) * 2, (again.backup_id,) * 2]


def test_missing_medium_directory(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local()
    (tmp_path / "medium1").rmdir()
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and result.path is None
    assert "does not exist" in result.reason and "medium1" in result.reason
    assert [s for s, _ in _steps(lab, result.backup_id)] == ["ok", "failed"] + ["skipped"] * 5
    assert _row(lab, result.backup_id)["status"] == "failed"
    # a failure before the medium was used does not move the rotation on
    assert next_medium(cfg, lab.store()).id == "m1"


def test_wrong_label_and_files_without_label(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local()
    m1 = tmp_path / "medium1"
    (m1 / ".rabtui-medium").write_text(json.dumps({"id": "someone-else"}))
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and "wrong medium" in result.reason and "someone-else" in result.reason
    assert os.listdir(m1) == [".rabtui-medium"]

    m2 = tmp_path / "medium2"
    (m2 / "precious.doc").write_text("not ours")
    result = lab.backup(cfg, medium_id="m2")
    assert result.status == "failed" and "no .rabtui-medium label" in result.reason
    assert "precious.doc" in result.reason
    assert sorted(os.listdir(m2)) == ["precious.doc"]


def test_empty_medium_is_labelled_on_first_use(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"1"})
    assert media.read_label(tmp_path / "medium1") is None
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    assert media.read_label(tmp_path / "medium1")["id"] == "m1"


@pytest.fixture
def tmpfs_medium(tmp_path, tmpfs):
    return lambda options: tmpfs(tmp_path / "medium1", options)


def test_full_medium_is_too_small(tmp_path, tmpfs_medium):
    lab = Lab(tmp_path)
    tmpfs_medium("size=2m")
    cfg = lab.local()
    write_files(lab.src / "data", {"small": 1000, "big": 3 * 1024 * 1024})
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and result.reason.startswith(f"{lab.src / 'data'}: medium too small")
    row = _row(lab, result.backup_id)
    assert "medium too small" in row["reason"]
    d = lab.store().one("SELECT rsync_exit, state FROM backup_dirs WHERE backup_id=?", (result.backup_id,))
    assert d["rsync_exit"] in (11, 12) and d["state"] == "failed"
    state = lab.store().one("SELECT did_not_fit FROM dir_state WHERE source='loc' AND path=?", (str(lab.src / "data"),))
    assert state["did_not_fit"] and time.time() - state["did_not_fit"] < 60
    assert json.loads((result.path / "backup.json").read_text())["status"] == "failed"



@pytest.mark.parametrize("when", ["pre_backup_commands", "post_backup_commands"])
def test_a_medium_that_goes_away_during_the_backup_gets_nothing_written_in_its_place(tmp_path, tmpfs_medium, when):
    """The medium is unmounted (unplugged) after step 2 checked it, before rsync or after it: the
    backup fails, and writes nothing into the empty directory left where it was mounted (another
    file system: the root one, often); nothing is recorded as a backup on the medium, and the
    catalog gets none of it."""
    lab = Lab(tmp_path)
    path = tmpfs_medium("size=16m")
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"1", "sub/b": b"2"})
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    write_files(lab.src / "data", {"c": b"3"})
    cfg = lab.local(extra=f'{when} = ["umount -l {path}"]')
    result = lab.backup(cfg, medium_id="m1")
    assert (result.status, result.exit_code) == ("failed", 1), result.reason
    assert "medium m1 went away during the backup" in result.reason, result.reason
    assert os.listdir(path) == []
    assert _row(lab, result.backup_id)["status"] == "failed"
    assert lab.store().one("SELECT COUNT(*) FROM versions WHERE first_backup=?", (result.backup_id,))[0] == 0


def test_a_medium_unmounted_between_its_check_and_the_backup_s_directory_gets_nothing(tmp_path, tmpfs_medium):
    """Unmounted after step 2 checked it and before step 3 made the backup's directory (a night of
    several sources has one at that point at many moments): the directory was made in the empty
    mount point, on the root file system, rsync wrote a whole copy there, and the backup was
    `completed` on medium m1, linked (said its record) to a base it never saw. Now step 3 finds the
    medium gone, the backup fails, and nothing is left in the mount point."""
    lab = Lab(tmp_path)
    path = tmpfs_medium("size=16m")
    lab.local()
    write_files(lab.src / "data", {"a": b"1", "sub/b": b"2"})
    cfg = lab.load()
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    write_files(lab.src / "data", {"c": b"3"})
    run = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc",
                            "--medium", "m1"], env={**os.environ, "RABTUI_FAULT_STOP": "backup.step2"},
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not held.stopped(run.pid):
        assert time.monotonic() < deadline and run.poll() is None, "the backup never stopped after step 2"
        time.sleep(0.05)
    subprocess.run(["umount", "-l", str(path)], check=True)
    run.send_signal(signal.SIGCONT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 1, out + err
    assert "medium m1 went away before the backup began" in out
    assert os.listdir(path) == []
    row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert row["status"] == "failed" and "went away" in row["reason"]
    assert lab.store().one("SELECT COUNT(*) FROM versions WHERE last_backup=?", (row["id"],))[0] == 0


def test_a_medium_out_of_inodes_is_too_small(tmp_path, tmpfs_medium):
    """Out of inodes, rsync says 23 (each file it could not create), not 11: the medium is full all
    the same, the backup did not fit (the checkpoint trigger hears of it), and says so."""
    lab = Lab(tmp_path)
    tmpfs_medium("size=64m,nr_inodes=200")
    cfg = lab.local()
    write_files(lab.src / "data", {f"f{i:03}": b"x" for i in range(500)})
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and "medium too small" in result.reason, result.reason
    marked = lab.store().one("SELECT did_not_fit FROM dir_state WHERE source='loc'")
    assert marked and marked["did_not_fit"]


def test_read_only_medium_is_refused(tmp_path, tmpfs_medium):
    lab = Lab(tmp_path)
    path = tmpfs_medium("size=1m")
    cfg = lab.local()
    media.write_label(cfg.medium("m1"))
    done = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only: {done.stderr}")
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and "not writable" in result.reason
    assert [s for s, _ in _steps(lab, result.backup_id)][:2] == ["ok", "failed"]


def test_cancel_mid_transfer_is_never_a_base(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local(extra='bwlimit = "4M"')     # 50 MB take seconds: the cancel comes while rsync copies
    write_files(lab.src / "data", {"seed": b"s"})
    good = lab.backup(cfg, medium_id="m1")
    write_files(lab.src / "data", {f"f{i:03d}": 512 * 1024 for i in range(100)})
    cancel = threading.Event()

    def emit(event):
        lab.events.append(event)
        if event.kind == ITEM:
            cancel.set()   # rsync is killed while it copies the tree

    from rabtui.backup.pipeline import run_backup

    result = run_backup(cfg, lab.store(), "loc", emit=emit, cancel=cancel, medium_id="m1")
    assert (result.status, result.exit_code) == ("cancelled", 1)
    assert result.reason == "rsync"           # said once: "backup of loc cancelled: rsync"
    # nothing of rsync outlives the cancel: no process names the backup, and its tree stays as it is
    assert subprocess.run(["pgrep", "-f", str(result.path)], capture_output=True).stdout == b""
    data = medium_layout.backup_data_path(result.path, str(lab.src / "data"))
    then = sorted((p.name, p.stat().st_size) for p in data.iterdir())
    time.sleep(0.5)
    assert sorted((p.name, p.stat().st_size) for p in data.iterdir()) == then
    copied = list(data.iterdir())
    assert len(copied) < 101
    # failed, and said cancelled where its reason is read (check, the dashboard, the medium's record)
    assert (_row(lab, result.backup_id)["status"], _row(lab, result.backup_id)["reason"]) == ("failed", "cancelled: rsync")
    record = json.loads((result.path / "backup.json").read_text())
    assert (record["status"], record["reason"]) == ("failed", "cancelled: rsync")
    after = lab.backup(lab.local(), medium_id="m1")     # at full speed
    assert after.status == "completed"
    assert _row(lab, after.backup_id)["link_dest"] == good.backup_id


KILLED_RUN = textwrap.dedent("""
    import sys, threading
    from rabtui import config
    from rabtui.state.store import Store
    from rabtui.backup.pipeline import run_backup
    cfg = config.load(sys.argv[1], check_media=False)
    run_backup(cfg, Store(cfg.state_dir), "loc", emit=lambda e: None, cancel=threading.Event(), medium_id="m1")
""")


def test_killed_run_is_found_and_cleaned_up(tmp_path):
    lab = Lab(tmp_path)
    marker = tmp_path / "pre-ran"
    lab.local(extra=f'pre_backup_commands = ["touch {marker}; sleep 60"]')
    write_files(lab.src / "data", {"a": b"1"})
    child = preloaded.Popen([sys.executable, "-c", KILLED_RUN, str(lab.config_path)], start_new_session=True)
    try:
        deadline = time.time() + 30
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the pre-backup command never started"
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    store = lab.store()
    killed = store.one("SELECT * FROM backups")
    assert killed["status"] == "running"
    partial = medium_layout.list_backups(tmp_path / "medium1", "loc")
    assert len(partial) == 1 and partial[0][2]["status"] == "running"

    lab.config_path.write_text(lab.config_path.read_text().replace(f"touch {marker}; sleep 60", "true"))
    result = lab.backup(lab.load(), medium_id="m1")
    assert result.status == "completed"
    found = [m for m in lab.messages("warning") if "interrupted backup" in m]
    assert found and killed["name"] in found[0] and "deleted" in found[0]
    row = store.one("SELECT status, reason FROM backups WHERE id=?", (killed["id"],))
    assert row["status"] == "abandoned" and "interrupted" in row["reason"]
    assert not partial[0][1].exists()
    assert _row(lab, result.backup_id)["link_dest"] is None


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from rabtui.state import locks
    with locks.source_lock(sys.argv[1], "loc"):
        print("held", flush=True)
        time.sleep(60)
""")


def test_second_backup_of_a_source_is_refused(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local()
    holder = preloaded.Popen([sys.executable, "-c", HOLD_LOCK, str(cfg.state_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy, match=r"a backup of loc is already running since .*, pid \d+"):
            lab.backup(cfg, medium_id="m1")
    finally:
        holder.kill()
        holder.wait()
    assert lab.store().one("SELECT COUNT(*) FROM backups")[0] == 0
    # the lock of a dead process is free again
    assert not locks.source_lock(cfg.state_dir, "loc").is_held()


def _rsync_pids(marker: str) -> list[int]:
    """Our own rsync processes: those whose command line names this test's directory."""
    return [pid for pid, argv in processes()
            if argv[0].endswith(b"rsync") and any(marker.encode() in a for a in argv)]


def test_rsync_killed_mid_transfer(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {"seed": b"s"})
    good = lab.backup(cfg, medium_id="m1")
    write_files(lab.src / "data", {f"f{i:03d}": 512 * 1024 for i in range(100)})
    killed = []

    def emit(event):
        lab.events.append(event)
        if event.kind == ITEM and not killed:
            killed.extend(pid for pid in _rsync_pids(str(tmp_path)) if signalled(pid, signal.SIGKILL))

    from rabtui.backup.pipeline import run_backup

    result = run_backup(cfg, lab.store(), "loc", emit=emit, cancel=threading.Event(), medium_id="m1")
    assert killed
    assert (result.status, result.exit_code) == ("failed", 1)
    assert result.reason.startswith(f"{lab.src / 'data'}: rsync exit")
    assert json.loads((result.path / "backup.json").read_text())["status"] == "failed"
    after = lab.backup(cfg, medium_id="m1")
    assert after.status == "completed"
    assert _row(lab, after.backup_id)["link_dest"] == good.backup_id


def test_destination_directory_cannot_be_created(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"1"})
    media.write_label(cfg.medium("m1"))
    (tmp_path / "medium1" / "loc").write_text("a file where the source's directory belongs")
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and result.path is None
    assert "cannot create" in result.reason
    assert [s for s, _ in _steps(lab, result.backup_id)] == ["ok", "ok", "failed"] + ["skipped"] * 4
    assert _row(lab, result.backup_id)["status"] == "failed"


def test_second_backup_in_another_thread_is_refused(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local(extra='pre_backup_commands = ["sleep 1"]')
    write_files(lab.src / "data", {"a": b"1"})
    results, errors = [], []

    def first():
        results.append(lab.backup(cfg, medium_id="m1"))

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.time() + 120
    while not any("pre-backup: $ sleep 1" in m for m in lab.messages()) and time.time() < deadline:
        time.sleep(0.02)
    try:
        lab.backup(cfg, medium_id="m1")
    except LockBusy as exc:
        errors.append(str(exc))
    thread.join()
    assert errors and "already running" in errors[0]
    assert results[0].status == "completed"


def test_a_medium_that_fills_while_links_are_made_apart(tmp_path, tmpfs_medium):
    """The copy that makes apart a file the source made apart does not fit on the medium: the
    backup says so by name and keeps the two names one file (their content as the base had it,
    rsync's quick check the same), no partial copy or temporary name left, the base untouched."""
    from tests.test_backup_links_apart import _apart, _held

    lab = Lab(tmp_path)
    path = tmpfs_medium("size=4m")
    cfg = lab.local()
    src = lab.src / "data"
    write_files(src, {"a": 2_500_000, "c": b"charlie"})
    os.link(src / "a", src / "b")
    os.link(src / "c", src / "d")
    first = lab.backup(cfg, medium_id="m1")
    assert first.status == "completed", first.reason
    base = _held(first.path)
    _apart(src / "b")
    _apart(src / "d")
    second = lab.backup(cfg, medium_id="m1")
    assert (second.status, second.exit_code) == ("warnings", 3), second.reason
    assert second.reason.endswith("could not be made apart in this backup (one file there, as in the backup it"
                                  " was made from): a: No space left on device"), second.reason
    d = medium_layout.backup_data_path(second.path, str(src))
    assert sorted(os.listdir(d)) == ["a", "b", "c", "d"]
    ino = {n: os.lstat(d / n).st_ino for n in "abcd"}
    assert ino["a"] == ino["b"] and ino["c"] != ino["d"]
    assert _held(first.path) == base
    assert os.statvfs(path).f_bfree * os.statvfs(path).f_frsize > 1_000_000     # no partial copy left
