"""A backup waits for a lock another rabtui process holds (a cleanup hung on a dead medium, a
process stopped by SIGSTOP) for a bound only: it says at once what it waits for, then fails that
one source with its data kept, while the other sources of the run go on. Real processes, real
rsync over the test sshd."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from rabtui.events import WARNING
from rabtui.state import locks
from tests.trees import Lab, ssh_source_lines, write_files
from tests import held, preloaded

ROOT = Path(__file__).resolve().parent.parent

_HOLD = """
import os, signal, sys
from rabtui.state import locks
locks.union_lock(sys.argv[1], sys.argv[2], by="a cleanup").acquire()
print("held", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


def _stopped_holder(state: Path, source_id: str) -> subprocess.Popen:
    """A process that takes `source_id`'s archive union lock as a cleanup does, then stops."""
    holder = preloaded.Popen([sys.executable, "-c", _HOLD, str(state), source_id], cwd=ROOT,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert holder.stdout.readline() == b"held\n"
    deadline = time.monotonic() + 30
    while not held.stopped(holder.pid):
        assert holder.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    return holder


def _backup_within(lab: Lab, cfg, seconds: float, still_waiting: str):
    """The backup of `loc`, run in a thread that must end within `seconds`."""
    results = []
    worker = threading.Thread(target=lambda: results.append(lab.backup(cfg)), daemon=True)
    worker.start()
    worker.join(timeout=seconds)
    assert not worker.is_alive(), still_waiting
    return results[0]


def _end(holder: subprocess.Popen) -> None:
    holder.kill()
    holder.send_signal(signal.SIGCONT)
    holder.wait(timeout=30)
    holder.stdout.close()


def test_a_backup_whose_union_a_stopped_process_holds_fails_alone_after_a_bound(tmp_path, sshd):
    lab = Lab(tmp_path, media_count=1)
    lab.state.mkdir(parents=True, exist_ok=True)
    (lab.state / "known_hosts").write_text(sshd.known_hosts_line())
    write_files(lab.src / "web", {f"f{i}": f"web{i}" for i in range(20)} | {"d/x": "x"})
    text = (ssh_source_lines(sshd, "web") + "io_timeout = 3\n"
            f'[[sources.directories]]\npath = "{lab.src / "web"}"\nkind = "archive"\n')
    lab.write(text + lab._local_source(None, "", "loc"))
    write_files(lab.src / "data", {"a": "a"})
    holder = _stopped_holder(lab.state, "web")
    try:
        started = time.monotonic()
        done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "--all"],
                             capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=120)
        took = time.monotonic() - started
    finally:
        _end(holder)
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out, out
    assert took < 60, took
    said = f"web: waiting (at most 3 s) for a cleanup (pid {holder.pid}, `"
    assert said in out and ", stopped, since " in out, out
    assert f"a cleanup (pid {holder.pid}" in out and "held the lock of a change of web's archive union trees" \
        " for more than 3 s; the data is kept" in out, out
    store = lab.store()
    rows = {r["source"]: r for r in store.all("SELECT * FROM backups")}
    assert rows["loc"]["status"] == "completed"
    assert rows["web"]["status"] == "kept", dict(rows["web"])
    kept = Path(rows["web"]["path"])
    assert said in (kept / "backup.log").read_text()
    copied = kept / "data" / str(lab.src / "web").lstrip("/")
    assert sorted(p.name for p in copied.iterdir()) == sorted(os.listdir(lab.src / "web"))
    # the lock free again, the next backup links into the union; the kept one is no base for it
    again = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "web"],
                          capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    newest = store.one("SELECT * FROM backups WHERE source='web' ORDER BY id DESC LIMIT 1")
    assert newest["status"] == "completed" and newest["link_dest"] is None, dict(newest)


def test_a_source_of_standard_directories_does_not_wait_for_its_union_lock(tmp_path):
    """Only archive directories have union trees: a backup of standard ones completes at once,
    whatever holds the union lock of its source."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local(extra="io_timeout = 600")
    write_files(lab.src / "data", {"a": "a"})
    lab.state.mkdir(parents=True, exist_ok=True)
    holder = _stopped_holder(lab.state, "loc")
    try:
        result = _backup_within(lab, cfg, 60, "the backup of standard directories waits for the union lock")
    finally:
        _end(holder)
    assert result.status == "completed", result
    assert not any("waiting" in m for m in lab.messages(WARNING)), lab.messages()


def test_a_cancel_ends_the_wait_for_a_lock_at_once(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local(dirs=[("data", "archive")], extra="io_timeout = 600")
    write_files(lab.src / "data", {"a": "a"})
    lab.state.mkdir(parents=True, exist_ok=True)
    holder = _stopped_holder(lab.state, "loc")
    cancel = threading.Event()
    found = []

    def emit(event):
        lab.emit(event)
        if event.kind == WARNING and "waiting (at most 600 s)" in event.message:
            found.append(time.monotonic())
            cancel.set()

    try:
        from rabtui.backup.pipeline import run_backup
        result = run_backup(cfg, lab.store(), "loc", emit=emit, cancel=cancel)
        ended = time.monotonic()
    finally:
        _end(holder)
    assert found and ended - found[0] < 5
    assert result.status == "cancelled" and "waiting for the lock" in result.reason, result
    assert not locks.union_lock(lab.state, "loc").is_held()


_HOLD_RECORD = """
import fcntl, os, signal, sys
folder = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(folder, fcntl.LOCK_EX)
print("held", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


def test_a_backup_waits_a_bound_only_for_a_stopped_writer_of_the_checkpoint_numbers(tmp_path, monkeypatch):
    """Step 2 writes the checkpoint numbers used onto the medium, one process at a time: a process
    stopped while it writes them holds the backup back for RECORD_WAIT only, which then goes on
    with a warning."""
    from rabtui.backup.pipeline import run_backup
    from rabtui.media import checkpoint_numbers

    monkeypatch.setattr(checkpoint_numbers, "RECORD_WAIT", 1.0)
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": "a"})
    assert lab.backup(cfg).status == "completed"
    (lab.state / "checkpoints" / "7").mkdir(parents=True)     # a number used: the backup writes it
    holder = preloaded.Popen([sys.executable, "-c", _HOLD_RECORD, str(lab.media[0][1])], cwd=ROOT,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"held\n"
        result = _backup_within(lab, cfg, 30, "the backup still waits for the stopped writer")
    finally:
        _end(holder)
    assert result.status == "completed", result
    assert any("another process held it for more than 1 s" in m for m in lab.messages(WARNING)), lab.messages()
    cancel = threading.Event()
    holder = preloaded.Popen([sys.executable, "-c", _HOLD_RECORD, str(lab.media[0][1])], cwd=ROOT,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    monkeypatch.setattr(checkpoint_numbers, "RECORD_WAIT", 600.0)
    try:
        assert holder.stdout.readline() == b"held\n"
        threading.Timer(1.0, cancel.set).start()
        started = time.monotonic()
        result = run_backup(cfg, lab.store(), "loc", emit=lab.emit, cancel=cancel)
        assert time.monotonic() - started < 10
    finally:
        _end(holder)
    assert result.status == "cancelled" and "waiting to write" in result.reason, result


def test_a_command_does_not_wait_for_ever_for_a_stopped_process_making_the_database(tmp_path, monkeypatch):
    """Another process stopped while it held the lock on the making of the state database: a
    command that opens the state gives up after the bound, naming it; once it is gone, the
    database is made."""
    from rabtui.errors import LockBusy
    from rabtui.state import store as store_module

    state = tmp_path / "state"
    state.mkdir()
    holder = preloaded.Popen([sys.executable, "-c", """
import os, signal, sys
from rabtui.state.locks import Lock
Lock(sys.argv[1], "database-made", what="the making of the state database").acquire()
print("held", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
""", str(state)], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert holder.stdout.readline() == b"held\n"
    monkeypatch.setattr(store_module, "MADE_WAIT", 1)
    outcome: list = []

    def open_state() -> None:
        try:
            store_module.Store(state).close()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=open_state, daemon=True)
    worker.start()
    try:
        worker.join(timeout=60)
        assert outcome, "the command went on waiting for the database's making"
    finally:
        _end(holder)
        worker.join(timeout=60)
    assert isinstance(outcome[0], LockBusy), outcome
    assert f"(pid {holder.pid}" in str(outcome[0]) and "the making of the state database" in str(outcome[0])
    store_module.Store(state).close()
    assert (state / "rabtui.db").is_file()
