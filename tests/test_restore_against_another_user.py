"""A restore run by root into a directory that a local user owns (a home directory restored onto
the source, a --to directory of theirs): whatever that user renames into the directory meanwhile,
root never changes nor writes a file elsewhere. The user is `nobody`, acting between rabtui's steps
(a hook standing for their inotify watch) or racing it for real (a small inotify program)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from rabtui.restore import run as R
from tests.trees import Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _as_nobody(fn) -> None:
    user = pwd.getpwnam("nobody")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            fn()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.fixture
def open_base():
    base = Path(tempfile.mkdtemp(prefix="rev-a-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base)


def test_restoring_a_fifo_into_a_users_directory_does_not_chmod_a_swapped_in_symlink(open_base, monkeypatch):
    nobody = pwd.getpwnam("nobody")
    lab = Lab(open_base, media_count=1)
    home = lab.src / "home"
    alice = home / "alice"                      # a directory the local user owns, on the live source
    alice.mkdir(parents=True)
    os.chown(alice, nobody.pw_uid, nobody.pw_gid)
    fifo = alice / "pipe"
    os.mkfifo(fifo, 0o666)
    os.chmod(fifo, 0o666)
    os.chown(fifo, nobody.pw_uid, nobody.pw_gid)
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{home}"\n')
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    fifo.unlink()                                # lost; the operator restores it onto the source

    victim = open_base / "shadow"                # stands for /etc/shadow: root's, 0600
    victim.write_bytes(b"root:$6$secret\n")
    victim.chmod(0o600)

    real_mkfifo = os.mkfifo

    def mkfifo_then_attacker_swaps(name, mode=0o666, *, dir_fd=None):
        real_mkfifo(name, mode, dir_fd=dir_fd)
        tmp = os.fsdecode(name)
        # the user who owns the directory sees the new entry (inotify) and renames a symlink onto it
        def swap():
            os.symlink(victim, alice / ".evil")
            os.rename(alice / ".evil", alice / tmp)
        _as_nobody(swap)

    monkeypatch.setattr(os, "mkfifo", mkfifo_then_attacker_swaps)
    R.restore(cfg, lab.store(), "loc", str(fifo), to_source=True)
    monkeypatch.undo()

    mode = stat.S_IMODE(os.stat(victim).st_mode)
    assert mode == 0o600, f"root's file was chmodded to {mode:04o} through the user's symlink"


SWAPPER = r'''
#include <sys/inotify.h>
#include <string.h>
#include <unistd.h>
/* swapper DIR VICTIM: on each new ".rabtui-*" entry in DIR, rename a symlink to VICTIM onto it */
int main(int argc, char **argv) {
    if (chdir(argv[1])) return 2;
    int fd = inotify_init();
    if (inotify_add_watch(fd, ".", IN_CREATE) < 0) return 3;
    symlink(argv[2], ".s");
    write(1, "ready\n", 6);
    char buf[65536] __attribute__((aligned(8)));
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) return 4;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            if (e->len && !strncmp(e->name, ".rabtui-", 8) && rename(".s", e->name) == 0)
                symlink(argv[2], ".s");
            p += sizeof(struct inotify_event) + e->len;
        }
    }
}
'''


def test_the_same_with_a_real_racing_user_process_and_no_hook(open_base):
    """No hook in rabtui: `nobody` runs a 20-line inotify program while root restores its FIFOs."""
    import subprocess
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    (open_base / "swapper.c").write_text(SWAPPER)
    subprocess.run(["gcc", "-O2", "-o", str(open_base / "swapper"), str(open_base / "swapper.c")], check=True)
    nobody = pwd.getpwnam("nobody")
    lab = Lab(open_base, media_count=1)
    home = lab.src / "home"
    alice = home / "alice"
    alice.mkdir(parents=True)
    os.chown(alice, nobody.pw_uid, nobody.pw_gid)
    for i in range(400):
        os.mkfifo(alice / f"pipe{i}", 0o666)
        os.chmod(alice / f"pipe{i}", 0o666)
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{home}"\n')
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    for i in range(400):
        (alice / f"pipe{i}").unlink()
    victim = open_base / "shadow"
    victim.write_bytes(b"root:$6$secret\n")
    victim.chmod(0o600)

    attacker = subprocess.Popen([str(open_base / "swapper"), str(alice), str(victim)], stdout=subprocess.PIPE,
                                user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
    try:
        assert attacker.stdout.readline() == b"ready\n"
        R.restore(cfg, lab.store(), "loc", str(alice), to_source=True)
    finally:
        attacker.kill()
        attacker.wait()
    mode = stat.S_IMODE(os.stat(victim).st_mode)
    assert mode == 0o600, f"root's file was chmodded to {mode:04o} through the user's symlink"
