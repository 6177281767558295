"""tests/preloaded.py runs `python -m rabtui` and `python -c` as a fresh interpreter would: the same
exit status, output, arguments (its command line in /proc too), environment and working directory as
subprocess.run gives."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests import preloaded

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


def test_a_variable_read_at_start_gets_a_fresh_interpreter(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    code = "import sys; print('rabtui.program' in sys.modules)"     # imported before: forked
    done = preloaded.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout == "False\n"
    same = preloaded.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert same.stdout == "True\n"


def test_a_timeout_kills_the_process():
    with pytest.raises(subprocess.TimeoutExpired):
        preloaded.run([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)
    assert preloaded.run([sys.executable, "-c", "pass"], timeout=60).returncode == 0
