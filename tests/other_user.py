"""Another user of this machine, for the tests of what such a user can do to rabtui run as root:
`nobody`, acting between rabtui's steps (`as_nobody`, called from a hook that stands for their
inotify watch) or racing it for real with a small inotify program of theirs (`racer`, built with
gcc where it is at hand)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

NOBODY = pwd.getpwnam("nobody")

# DIR ARG...: in DIR, SETUP once, then ON_CREATE for each entry made there (its name: `name`)
RACER = r'''
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (chdir(argv[1])) return 2;
    int fd = inotify_init();
    if (inotify_add_watch(fd, ".", IN_CREATE) < 0) return 3;
    int k = 0;
    SETUP
    write(1, "ready\n", 6);
    char buf[65536] __attribute__((aligned(8)));
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) return 4;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            const char *name = e->len ? e->name : "";
            ON_CREATE
            p += sizeof(struct inotify_event) + e->len;
        }
    }
    return k;
}
'''


def as_nobody(fn) -> None:
    """Run `fn()` in a child process as nobody; it must return normally."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY.pw_gid)
            os.setuid(NOBODY.pw_uid)
            fn()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@contextmanager
def racer(base: Path, on_create: str, *args: str, setup: str = ""):
    """The racing program (C: `setup`, `on_create`), built in `base` and run as nobody on the
    directory args[0], with the other args as argv[2:]; yields once it watches."""
    if not shutil.which("gcc"):
        pytest.skip("no gcc to build the racing program")
    source = base / "racer.c"
    source.write_text(RACER.replace("SETUP", setup).replace("ON_CREATE", on_create))
    subprocess.run(["gcc", "-O2", "-o", str(base / "racer"), str(source)], check=True)
    proc = subprocess.Popen([str(base / "racer"), *args], stdout=subprocess.PIPE,
                            user=NOBODY.pw_uid, group=NOBODY.pw_gid, extra_groups=[])
    try:
        assert proc.stdout.readline() == b"ready\n"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def nobody_returns(fn, home: Path):
    """`fn()` run in a child process as nobody (HOME `home`), its return value pickled back; an
    exception in it fails the test with its traceback. The child cannot import what is not imported
    yet where the interpreter's library is closed to nobody (/root): import it before."""
    import pickle
    import traceback

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            os.setgroups([])
            os.setgid(NOBODY.pw_gid)
            os.setuid(NOBODY.pw_uid)
            os.environ["HOME"] = str(home)
            out = ("ok", fn())
        except BaseException:
            out = ("raised", traceback.format_exc())
        with os.fdopen(write_end, "wb") as f:
            pickle.dump(out, f)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    how, value = pickle.loads(data)
    assert how == "ok", value
    return value


@contextmanager
def root_logging_kept():
    """The root logger's handlers and level as they were before the block: a log file that rabtui
    set up inside it (the console's) is closed and taken off again."""
    import logging
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
                h.close()
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)
