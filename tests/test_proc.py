"""proc.py, the one runner: reading a process that writes many small records, with naps."""

from __future__ import annotations

import functools
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from rabtui import proc, proc_records, proc_started, proc_table
from rabtui.errors import Cancelled, WorkFailed
from tests import preloaded

# one record per write, a millisecond apart: a reader blocked on the pipe would wake for each
WRITER = """
import os, sys, time
for i in range(int(sys.argv[1])):
    os.write(1, b"record %d\\n" % i)
    time.sleep(0.001)
os.write(2, b"done\\n")
"""


def test_napping_reader_gets_every_record_in_order_a_few_reads_at_a_time():
    reads: list[bytes] = []
    done = proc.run([sys.executable, "-c", WRITER, "500"], on_stdout_data=reads.append, nap=0.02)
    assert done.returncode == 0 and done.stderr_tail == ["done"]
    assert proc_records.split_records(b"".join(reads)) == [b"record %d" % i for i in range(500)]
    # 500 writes a millisecond apart come in about one read per nap (some 25), not one per write; a
    # loaded machine stretches the writer's sleeps too, so only "far fewer than one per write" is said
    assert len(reads) < 250


def test_a_nap_ends_when_the_process_does():
    # an hour's nap would hold the run that long if the end of the process did not cut it short
    lines: list[bytes] = []
    result: list = []
    runner = threading.Thread(target=lambda: result.append(
        proc.run([sys.executable, "-c", "print('only line')"], on_stdout=lines.append, nap=3600)), daemon=True)
    runner.start()
    runner.join(120)
    assert not runner.is_alive(), "the run was still napping after its process had ended"
    assert lines == [b"only line"] and result[0].returncode == 0


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return not f.read().split(") ", 1)[1].startswith("Z")
    except OSError:     # gone, or going as it was read
        return False


def test_a_silent_process_is_killed_with_its_group_and_a_talking_one_is_not(tmp_path):
    import time

    import pytest

    from rabtui.errors import Stalled

    pid_file, finished = tmp_path / "child", tmp_path / "finished"
    # the child in the background (same group) must die too: it would hold the pipes open; the
    # shell, killed, never gets to leave its mark after the child's 60 s
    script = f"sleep 60 & echo $! > '{pid_file}'; echo started; wait; touch '{finished}'"
    with pytest.raises(Stalled, match="wrote nothing for 1 s"):
        proc.run(["/bin/sh", "-c", script], on_stdout=lambda _: None, silence=1)
    child = int(pid_file.read_text())
    end = time.monotonic() + 30      # the kill takes effect soon: a deadline for it, not a measure
    while alive(child):
        assert time.monotonic() < end, "the background child outlived its group's kill"
        time.sleep(0.05)
    assert not finished.exists()
    # output (on stderr too) every 0.3 s for 2 s: never silent for 1 s
    talker = "for i in 1 2 3 4 5 6 7; do echo $i >&2; sleep 0.3; done"
    assert proc.run(["/bin/sh", "-c", talker], silence=1).returncode == 0


def test_a_silent_busy_process_that_reads_is_working_and_one_that_only_waits_is_not(tmp_path):
    """With `busy`, silence alone is no stall while the group reads (a disc read slowly: little
    processor time, its data coming in), nor while it computes; waiting is one."""
    import pytest

    from rabtui.errors import Stalled

    data = tmp_path / "data"
    data.write_bytes(b"x" * (1 << 17))
    reader = f"for i in 1 2 3 4 5 6 7 8 9 10; do cat '{data}' > /dev/null; sleep 0.3; done"
    assert proc.run(["/bin/sh", "-c", reader], silence=1, busy=True).returncode == 0
    with pytest.raises(Stalled, match="wrote nothing for 1 s"):
        proc.run(["/bin/sh", "-c", "sleep 30"], silence=1, busy=True, timeout=20)
    with pytest.raises(Stalled, match="wrote nothing for 1 s"):     # reading without `busy` is silence
        proc.run(["/bin/sh", "-c", reader], silence=1)



@pytest.mark.parametrize("limit", ["silence", "progress"])
def test_output_waiting_while_its_reader_was_away_is_neither_silence_nor_no_progress(limit):
    """The reader held up past the limit while the process went on writing (rabtui suspended by
    Ctrl-Z or a paused VM; here the callback sleeps): what waits in the pipe is read before the
    process is judged silent or stuck. The process was stopped as stalled when the reader came back
    (every rsync of a run suspended past io_timeout, an xorriso past checkpoint.io_timeout)."""
    progress = proc.Progress(1, "made no progress") if limit == "progress" else None
    seen: list[bytes] = []

    def line(record: bytes) -> None:
        if progress is not None:
            progress.moved()
        seen.append(record)
        if len(seen) == 1:
            time.sleep(1.5)      # away past the limit of 1 s, the process writing on

    talker = "for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; sleep 0.2; done"
    limits = {"silence": 1} if progress is None else {"progress": progress}
    assert proc.run(["/bin/sh", "-c", talker], on_stdout=line, **limits).returncode == 0
    assert len(seen) == 10


def test_a_process_that_writes_apace_making_no_progress_is_still_stopped():
    """Output always waiting (a drive's errors said over and over) while the reader reads on is no
    excuse: the process made no progress."""
    from rabtui.errors import Stalled

    with pytest.raises(Stalled, match="made no progress for 1 s"):
        proc.run(["/bin/sh", "-c", "yes"], on_stdout=lambda _: None, progress=proc.Progress(1, "made no progress"),
                 timeout=30)

# --- a stopped command leaves nothing of its process group behind --------------------------------

# its main thread ends while another runs on, ignoring SIGTERM: /proc shows the process as a zombie
HEADLESS = """
import ctypes, os, signal, sys, threading, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
threading.Thread(target=time.sleep, args=(1000,)).start()
open(sys.argv[1], "w").write(str(os.getpid()))
ctypes.CDLL(None).pthread_exit(None)
"""


def _threads_run(pid: int) -> bool:
    """Whether a thread of process `pid` runs, read from /proc here rather than through the runner."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return False
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                    return True
        except (OSError, IndexError):
            continue
    return False


def _sleeping(seconds: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", f"^sleep {seconds}$"], capture_output=True, text=True).stdout.split()


@pytest.mark.parametrize("leader", [True, False], ids=["leader", "child"])
def test_a_process_whose_main_thread_has_ended_is_killed_all_the_same(tmp_path, monkeypatch, leader):
    # it ignores SIGTERM: SIGKILL after a grace of 1 s, not 5 (the same kill, sooner)
    monkeypatch.setattr(proc_started, "_kill_group", functools.partial(proc_started._kill_group, grace=1.0))
    pid_file = tmp_path / "pid"
    argv = [sys.executable, "-c", HEADLESS, str(pid_file)]
    if not leader:
        argv = ["/bin/sh", "-c", '"$@" & wait', "sh", *argv]
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    try:
        with pytest.raises(Cancelled):
            proc.run(argv, cancel=cancel)
        pid = int(pid_file.read_text())
        assert not _threads_run(pid), "a process whose main thread had ended outlived the kill"
    finally:
        if pid_file.exists():
            subprocess.run(["kill", "-KILL", pid_file.read_text()], capture_output=True)


def test_the_timeout_holds_after_the_command_has_handed_its_output_elsewhere():
    seconds = f"{1000 + random.random():.6f}"
    started = time.monotonic()
    try:
        with pytest.raises(WorkFailed, match=r"sh ran longer than its limit of 1 s: killed after 1\.\d s") as raised:
            proc.run(["/bin/sh", "-c", f"exec >/dev/null 2>&1; sleep {seconds}"], timeout=1)
        # nobody cancelled it: a job it stops has failed, with the reason (was Cancelled: "cancelled")
        assert not isinstance(raised.value, Cancelled) and raised.value.job_status == "failed"
        assert time.monotonic() - started < 30
        assert _sleeping(seconds) == []
    finally:
        subprocess.run(["pkill", "-KILL", "-f", f"^sleep {seconds}$"])


def test_what_the_leader_left_behind_goes_when_the_run_stops():
    # kill() after the leader has ended, and a reader's callback that fails: the group goes either way
    first, second = (f"{1000 + random.random():.6f}" for _ in range(2))
    try:
        started = proc.start(["/bin/sh", "-c", f"sleep {first} >/dev/null 2>&1 & exit 0"])
        end = time.monotonic() + 30
        while started.popen.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        started.kill()
        assert _sleeping(first) == []

        def broken_reader(line: bytes) -> None:
            raise ValueError("the reader broke")

        with pytest.raises(ValueError):
            proc.run(["/bin/sh", "-c", f"sleep {second} >/dev/null 2>&1 & echo hi; exit 0"], on_stdout=broken_reader)
        assert _sleeping(second) == []
    finally:
        for seconds in (first, second):
            subprocess.run(["pkill", "-KILL", "-f", f"^sleep {seconds}$"])


def _partial_backup(tmp_path):
    path = tmp_path / "m1" / "a" / "backup-20261203143210"
    (path / "data").mkdir(parents=True)
    (path / "data" / "notes.txt").write_text("x\n")
    (tmp_path / "m1" / "a" / "backup-20261203143210-2").mkdir()
    (tmp_path / "m1" / "a" / "backup-20261203143210-2" / "notes.txt").write_text("y\n")
    return path


def _until_named(started: subprocess.Popen, argv0: bytes) -> None:
    """Waits until `started` runs under the name `argv0` (bash's `exec -a` done: on a loaded machine
    that may take more than any pause)."""
    deadline = time.monotonic() + 60
    while True:
        with open(f"/proc/{started.pid}/cmdline", "rb") as f:    # there until its Popen reaps it
            if f.read().split(b"\0")[0] == argv0:
                return
        assert started.poll() is None and time.monotonic() < deadline, f"never ran as {argv0!r}"
        time.sleep(0.01)


def test_kill_writers_stops_only_rsyncs_writing_there(tmp_path):
    """What the run after a kill stops before it removes the killed backup: rsync processes whose
    arguments name it. An operator's reader there, its script, and an rsync of another backup whose
    name merely starts the same go on."""
    path = _partial_backup(tmp_path)
    other = path.parent / "backup-20261203143210-2"

    def start(argv0: str, *args) -> subprocess.Popen:
        return subprocess.Popen(["bash", "-c", f'exec -a {argv0} tail -f "$@"', "bash", *map(str, args)],
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    writer = start("rsync", path / "data" / "notes.txt")
    reader = start("tail", path / "data" / "notes.txt")
    neighbour = start("rsync", other / "notes.txt")
    try:
        for p, name in ((writer, b"rsync"), (reader, b"tail"), (neighbour, b"rsync")):
            _until_named(p, name)
        assert proc_table.kill_writers(path) == (1, [])
        writer.wait(timeout=60)
        assert writer.returncode == -signal.SIGKILL
        assert reader.poll() is None and neighbour.poll() is None
    finally:
        for p in (writer, reader, neighbour):
            if p.poll() is None:
                p.kill()
            p.wait()


def test_kill_writers_says_what_it_could_not_stop(tmp_path):
    """Run as another user than the rsync's (rsync behind sudo): it cannot signal it, and says so
    instead of counting it as stopped."""
    path = _partial_backup(tmp_path)
    writer = subprocess.Popen(["bash", "-c", 'exec -a rsync tail -f "$1"', "bash", str(path / "data" / "notes.txt")],
                              start_new_session=True)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        _until_named(writer, b"rsync")
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                              f"import sys; sys.path.insert(0, {repo!r}); from rabtui import proc_table;"
                              f" print(proc_table.kill_writers({str(path)!r}))"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"(0, [{writer.pid}])" and writer.poll() is None
    finally:
        writer.kill()
        writer.wait()


def test_a_run_that_dies_with_rabtui_is_named_by_its_own_program():
    """The wrapper that makes it die with rabtui is not what the operator ran: a cancel names the
    program (it said "cancelled: setpriv" for every rsync)."""
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled) as caught:
        proc.run(["sleep", "1000"], die_with_parent=True, cancel=cancel)
    assert caught.value.message == "cancelled: sleep"


def test_a_process_given_input_dies_with_rabtui_too(tmp_path):
    """rsync reading its list of paths on standard input (--files-from=-) still dies with a rabtui
    killed by SIGKILL: its lifeline comes on a pipe of its own, and its input is whole."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    got, pid_file = tmp_path / "got", tmp_path / "pid"
    script = (f"import sys; sys.path.insert(0, {repo!r}); from rabtui import proc;"
              f" proc.run(['sh', '-c', 'cat > {got}; echo $$ > {pid_file}; exec sleep 1000'],"
              f" stdin_data=b'a\\nb\\n' * 50000, die_with_parent=True)")
    rabtui = preloaded.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60      # a loaded machine may take seconds
        while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        sleeper = int(pid_file.read_text())
        assert got.read_bytes() == b"a\nb\n" * 50000
        rabtui.kill()
        rabtui.wait()
        deadline = time.monotonic() + 60      # far below its sleep's 1000 s
        while alive(sleeper):      # one look at /proc: it may drop it between two
            if time.monotonic() > deadline:
                pytest.fail("the process outlived rabtui")
            time.sleep(0.1)
    finally:
        if rabtui.poll() is None:
            rabtui.kill()


NO_PROC = """
import os, sys
sys.path.insert(0, {repo!r})
from rabtui import proc
from rabtui.errors import RabtuiError
held = [os.open("/dev/null", os.O_RDONLY) for _ in range(int(sys.argv[1]))]
try:
    done = proc.run(["cat"], stdin_data=b"a\\n" * 100000, die_with_parent=True, capture=True)
    print(done.returncode, len(done.stdout), done.stderr_text())
except RabtuiError as exc:
    print("refused:", exc.message)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="unmounting /proc in a mount namespace of its own takes root")
def test_a_process_given_input_runs_where_proc_is_not_mounted():
    """Its lifeline was opened through /proc/self/fd whatever its number: with no /proc (a chroot,
    a bare container) every rsync given its paths failed with "cannot open /proc/self/fd/3". A
    descriptor sh can name needs no /proc; past those, the refusal says why."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    results = []
    for held in (0, 20):
        done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               'umount -l /proc && exec "$0" -c "$1" "$2"', sys.executable,
                               NO_PROC.format(repo=repo), str(held)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        results.append(done.stdout.strip())
    assert results[0] == "0 200000", results[0]
    assert results[1].startswith("refused:") and "/proc" in results[1], results[1]


def test_output_without_line_ends_is_passed_on_in_bounded_records():
    # a pre-backup command that writes megabytes without a line end to stderr (a binary dump, say)
    # is held in memory a record at a time, not whole (its reading took time quadratic in its size)
    data = b"abc" * 900_000 + b"\nend"
    records: list[bytes] = []
    splitter = proc_records.LineSplitter(records.append)
    for at in range(0, len(data), 1 << 16):
        splitter.feed(data[at:at + (1 << 16)])
    splitter.close()
    assert max(len(r) for r in records) <= proc_records.RECORD_MAX < len(data) // 2
    assert b"".join(records) == data.replace(b"\n", b"") and records[-1] == b"end"
