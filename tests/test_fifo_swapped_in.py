"""A file of the source that becomes a FIFO after rsync listed it and before it reads it: rsync's
sender opens it for reading (O_RDONLY|O_NOFOLLOW, rsync 3.5.0, with or without --open-noatime:
traced) and the open waits for a writer that never comes. No rsync option opens without waiting.
rsync says nothing more; after io_timeout seconds of that rabtui stops it, and the directory fails
naming the file rsync's sender was reading (rsync names each file as it starts on it: --debug=send1),
not with a bare "stalled". Over SSH the file is not named (rsync 3.5.0 does not pass the flag to
the remote sender, whose messages would stay in its buffer anyway): the message says what may block
rsync there. The next backup, the FIFO still there, saves it as a FIFO.

Real rsync, locally and over the test sshd; the swap is made in the source's rsync by a small
library preloaded there through the source's rsync_path, at the open of the file, which no gate
outside rsync could time."""

from __future__ import annotations

import contextlib
import os
import stat
import time

import pytest

from tests.procs import processes
from tests import preloaded_library
from tests.trees import Lab, ssh_source_lines, write_files

SHIM = r'''
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* the regular file whose name holds $FIFO_SWAP becomes a FIFO as it is opened for reading */
static void swap(int dirfd, const char *path, int flags) {
    const char *marker = getenv("FIFO_SWAP");
    struct stat st;
    if (!marker || !*marker || !path || !strstr(path, marker) || (flags & (O_WRONLY | O_RDWR | O_CREAT)))
        return;
    if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
        return;
    unlinkat(dirfd, path, 0);
    mkfifoat(dirfd, path, 0644);
}

#define OPENER(NAME, ...) \
int NAME(__VA_ARGS__, int flags, ...) { \
    static int (*real)(); \
    mode_t mode = 0; \
    if (flags & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); } \
    if (!real) real = (int (*)())dlsym(RTLD_NEXT, #NAME);

OPENER(open, const char *path) swap(AT_FDCWD, path, flags); return real(path, flags, mode); }
OPENER(open64, const char *path) swap(AT_FDCWD, path, flags); return real(path, flags, mode); }
OPENER(openat, int dirfd, const char *path) swap(dirfd, path, flags); return real(dirfd, path, flags, mode); }
OPENER(openat64, int dirfd, const char *path) swap(dirfd, path, flags); return real(dirfd, path, flags, mode); }
'''


@pytest.fixture(scope="module")
def fifo_shim(tmp_path_factory):
    return preloaded_library.built(tmp_path_factory, "swap", SHIM, "swaps a file for a FIFO in the source's rsync")


@pytest.mark.parametrize("over_ssh", [False, True])
def test_a_file_made_a_fifo_as_rsync_opens_it_fails_its_directory_naming_it(tmp_path, request, fifo_shim, over_ssh):
    lab = Lab(tmp_path, media_count=1)
    first, second = lab.src / "first", lab.src / "second"
    write_files(first, {"one": b"1", "sub/turns-fifo": b"2"})
    write_files(second, {"three": b"3"})
    dirs = "".join(f'[[sources.directories]]\npath = "{p}"\n' for p in (first, second))
    if over_ssh:
        sshd = request.getfixturevalue("sshd")
        lab.trust(sshd)
        head = ssh_source_lines(sshd)
    else:
        head = '[[sources]]\nid = "web"\n'
    head += "io_timeout = 2\n"
    cfg = lab.write(head + f'rsync_path = "env LD_PRELOAD={fifo_shim} FIFO_SWAP=turns-fifo rsync"\n' + dirs)
    failed = lab.backup(cfg, "web")
    fifo = first / "sub" / "turns-fifo"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)     # the swap happened
    if over_ssh:
        # the source's rsync outlives the session, waiting in its open: sshd leaves a session's
        # processes when the connection ends, rsync's --timeout does not cover an open, and ssh
        # cannot signal it. It is there still, its working directory the directory (README)...
        try:
            left = _source_rsyncs(first)
            assert left and [_wchan(pid) for pid in left] == ["wait_for_partner"] * len(left), left
        finally:
            # ...until a writer lets the open end (the operator's `: > FIFO`): it ends at its next
            # write to the closed session
            with contextlib.suppress(OSError):     # ENXIO: no reader (then none is left)
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        deadline = time.monotonic() + 60
        while _source_rsyncs(first) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _source_rsyncs(first)
    assert failed.status == "failed"
    stalled = f"{first}: the transfer stalled: nothing from rsync for 2 s (io_timeout), rsync was stopped"
    if over_ssh:
        assert f"{stalled} (a FIFO or a device put in a file's place after rsync listed it blocks" in failed.reason
        assert ("; the source's rsync may stay waiting there after this backup (`ps -C rsync` on the source):"
                " a writer to the FIFO, or a kill, ends it") in failed.reason, failed.reason
    else:
        assert f"{stalled} while it read {first}/sub/turns-fifo on the source" in failed.reason, failed.reason
    # the next backup saves the FIFO as one, and the other directory
    again = lab.backup(lab.write(head + dirs), "web")
    assert again.status == "completed", again.reason
    held = again.path / "data"
    assert stat.S_ISFIFO(os.lstat(held / str(first).lstrip("/") / "sub" / "turns-fifo").st_mode)
    assert (held / str(second).lstrip("/") / "three").read_bytes() == b"3"


def _source_rsyncs(directory) -> list[int]:
    """The source's rsync senders (on this machine: the test sshd's) working in `directory`; their
    command line does not name it (rsync sends the paths over its connection)."""
    found = []
    for pid, argv in processes():
        if b"--server" not in argv or b"--sender" not in argv:
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if (cwd + "/").startswith(str(directory) + "/"):
            found.append(pid)
    return found


def _wchan(pid: int) -> str:
    """What the process waits in: a FIFO's open waits in wait_for_partner."""
    with open(f"/proc/{pid}/wchan") as f:
        return f.read()
