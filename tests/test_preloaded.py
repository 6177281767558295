"""tests/preloaded.py runs `python -m rabtui` and `python -c` as a fresh interpreter would: the same
exit status, output, arguments (its command line in /proc too), environment and working directory as
subprocess.run gives; preloaded.Popen answers as subprocess.Popen does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests import preloaded
from tests.procs import ended

SHOW = ("import os, sys, tempfile\n"
        "print(sys.argv, os.getcwd(), os.environ.get('MARK'), os.environb.get(b'MARK'), tempfile.gettempdir())\n"
        "print(sorted(int(n) for n in os.listdir('/proc/self/fd')), sys.stdin.read())\n"
        "print([w for w in open('/proc/self/cmdline', 'rb').read().split(b'\\0') if w])\n"
        "sys.stdout.flush()\n"
        "print('to stderr', file=sys.stderr)\n")


@pytest.mark.parametrize("argv", [
    ["-m", "rabtui", "--config", "/nonexistent/rabtui.toml", "status"],
    ["-m", "rabtui", "no-such-command"],
    ["-m", "rabtui", "--config", b"/nonexistent/\xff", "status"],
    ["-c", SHOW, "one", b"two-\xfe"],
    ["-c", "import sys; sys.exit(3)"],
    ["-c", "import sys; sys.exit('said')"],
    ["-c", "raise ValueError('x')"],
    ["-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
    ["-c", "import threading, time\nthreading.Thread(target=lambda: (time.sleep(0.2), print('waited'))).start()"],
], ids=lambda a: " ".join(os.fsdecode(x)[:20] for x in a[:3]))
def test_as_a_fresh_interpreter(argv, tmp_path):
    kw = dict(env={**os.environ, "MARK": "marked"}, cwd=tmp_path, capture_output=True, timeout=60, input=b"fed")
    fresh = subprocess.run([sys.executable, *argv], **kw)
    forked = preloaded.run([sys.executable, *argv], **kw)
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)


def test_a_variable_read_at_start_gets_a_preloaded_process_of_its_own(tmp_path):
    """TMPDIR, read once (tempfile caches it): a process forked for an environment that gives it
    another has it, from a preloaded process started with it; the others keep theirs, forked too."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    code = "import sys, tempfile; print('rabtui.program' in sys.modules, tempfile.gettempdir())"
    for _ in range(2):
        done = preloaded.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert done.stdout == f"True {tmp_path}\n"       # imported before: forked
        same = preloaded.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert same.stdout.startswith("True ") and str(tmp_path) not in same.stdout


def test_a_timeout_kills_the_process():
    with pytest.raises(subprocess.TimeoutExpired):
        preloaded.run([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)
    assert preloaded.run([sys.executable, "-c", "pass"], timeout=60).returncode == 0


STOPS = ("import os, signal, sys\n"
         "print('out', flush=True); print('err', file=sys.stderr, flush=True)\n"
         "os.kill(os.getpid(), signal.SIGSTOP)\n"
         "print(os.getsid(0) == os.getpid(), flush=True)\n"
         "signal.pause()\n")


def _state(pid: int) -> str:
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize("new_session, how, merged", [(False, signal.SIGTERM, False), (False, signal.SIGKILL, True),
                                                       (True, signal.SIGKILL, False), (True, signal.SIGTERM, True)])
def test_popen_as_subprocess_popen(new_session, how, merged, tmp_path):
    """A process that stops itself, is signalled, and ends, as subprocess.Popen's: its output (read
    before and after, 2>&1), its session, its exit status. It stays stopped while other forked
    processes end; a forked one has a process group of its own."""
    said = []
    for start in (subprocess.Popen, preloaded.Popen):
        proc = start([sys.executable, "-c", STOPS], cwd=tmp_path, stdout=subprocess.PIPE, text=True,
                     stderr=subprocess.STDOUT if merged else subprocess.PIPE, start_new_session=new_session)
        assert (start is subprocess.Popen) == isinstance(proc, subprocess.Popen)
        first = proc.stdout.readline()
        deadline = time.monotonic() + 60
        while _state(proc.pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert preloaded.run([sys.executable, "-c", "pass"], timeout=60).returncode == 0
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(0.05)
        assert (proc.poll(), _state(proc.pid)) == (None, "T")
        assert start is subprocess.Popen or os.getpgid(proc.pid) == proc.pid
        os.kill(proc.pid, signal.SIGCONT)
        second = proc.stdout.readline() + (proc.stdout.readline() if merged else "")
        proc.send_signal(how)
        out, err = proc.communicate(timeout=60)
        said.append((first, second, out, err, proc.wait(), proc.returncode))
        proc.kill()     # ended: nothing to do
    assert said[1] == said[0]
    expected = ("out\n", f"err\n{new_session}\n", "", None) if merged else ("out\n", f"{new_session}\n", "", "err\n")
    assert said[0] == (*expected, -how, -how)


def test_popen_streams_to_files_and_devnull(tmp_path):
    for n, start in enumerate((subprocess.Popen, preloaded.Popen)):
        with open(tmp_path / f"out{n}", "wb") as out:
            with start([sys.executable, "-m", "rabtui", "--config", "/nonexistent/rabtui.toml", "status"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out) as proc:
                assert proc.stdout is None and proc.stderr is None
        assert proc.returncode != 0
    assert (tmp_path / "out1").read_bytes() == (tmp_path / "out0").read_bytes() != b""


def test_popen_reads_what_is_written_to_its_input():
    said = []
    for start in (subprocess.Popen, preloaded.Popen):
        with start([sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.readline().upper()); sys.stdout.flush(); print(sys.stdin.read())"],
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
            proc.stdin.write("one\n")
            proc.stdin.flush()
            first = proc.stdout.readline()
            said.append((first, proc.communicate("two", timeout=60), proc.returncode))
    assert said[1] == said[0] == ("ONE\n", ("two\n", None), 0)


def test_a_popen_process_left_stopped_ends_with_the_test_process(tmp_path):
    """A test process that ends (fails) before it ended what it started leaves nothing behind, not
    even a process that stopped itself."""
    code = ("import sys, time; from tests import preloaded; from tests.test_preloaded import STOPS, _state\n"
            "proc = preloaded.Popen([sys.executable, '-c', STOPS], stdout=preloaded.subprocess.DEVNULL,"
            " stderr=preloaded.subprocess.DEVNULL)\n"
            "while _state(proc.pid) != 'T': time.sleep(0.01)\n"
            "print(proc.pid, isinstance(proc, preloaded.subprocess.Popen), flush=True)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    pid, plain = done.stdout.split()
    pid = int(pid)
    assert plain == "False", "not forked"
    deadline = time.monotonic() + 30
    while not ended(pid) and time.monotonic() < deadline:     # /proc may drop it between two looks
        time.sleep(0.01)
    assert ended(pid), "the stopped process outlived the test process"
