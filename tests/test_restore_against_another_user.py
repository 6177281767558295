"""A restore run by root into a directory that a local user owns (a home directory restored onto
the source, a --to directory of theirs): whatever that user renames into the directory meanwhile,
root never changes nor writes a file elsewhere. The user is `nobody`, acting between rabtui's steps
(a hook standing for their inotify watch) or racing it for real (a small inotify program)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import threading

import pytest

from rabtui import privacy
from rabtui.checkpoint import prepare, run
from rabtui.events import READY, ScriptedPrompter
from rabtui.restore import run as R
from tests.other_user import NOBODY, as_nobody, racer
from tests.trees import Lab, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def test_restoring_a_fifo_into_a_users_directory_does_not_chmod_a_swapped_in_symlink(open_base, monkeypatch):
    nobody = NOBODY
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
        as_nobody(swap)

    monkeypatch.setattr(os, "mkfifo", mkfifo_then_attacker_swaps)
    R.restore(cfg, lab.store(), "loc", str(fifo), to_source=True)
    monkeypatch.undo()

    mode = stat.S_IMODE(os.stat(victim).st_mode)
    assert mode == 0o600, f"root's file was chmodded to {mode:04o} through the user's symlink"


def test_the_same_with_a_real_racing_user_process_and_no_hook(open_base):
    """No hook in rabtui: `nobody` renames a symlink onto each temporary name as it appears (an
    inotify program) while root restores 400 FIFOs."""
    nobody = NOBODY
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

    swap = 'if (!strncmp(name, ".rabtui-", 8) && rename(".s", name) == 0) symlink(argv[2], ".s");'
    with racer(open_base, swap, str(alice), str(victim), setup='symlink(argv[2], ".s");'):
        R.restore(cfg, lab.store(), "loc", str(alice), to_source=True)
    mode = stat.S_IMODE(os.stat(victim).st_mode)
    assert mode == 0o600, f"root's file was chmodded to {mode:04o} through the user's symlink"


def test_a_checkpoint_restore_into_a_users_directory_is_not_redirected(open_base):
    """The disc is extracted by path: the user renames the staging directory aside and puts a
    symlink to another directory in its place, as soon as it appears."""
    nobody = NOBODY
    lab = Lab(open_base, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"report.txt": b"restored content\n"})
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    assert run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                               prompter=ScriptedPrompter(lambda q: READY)).status == "completed"

    to = open_base / "alice-home"                   # the user's own directory
    to.mkdir()
    os.chown(to, nobody.pw_uid, nobody.pw_gid)
    elsewhere = open_base / "etc"                   # stands for any root-only directory, e.g. /etc
    elsewhere.mkdir(mode=0o755)
    redirect = ('if (!strncmp(name, ".rabtui-restore-", 16)) { char aside[64];'
                ' snprintf(aside, sizeof aside, ".aside-%d", k++); if (rename(name, aside) == 0) symlink(argv[2], name); }')
    with racer(open_base, redirect, str(to), str(elsewhere)):
        for attempt in range(10):         # a race, won most of the time: the operator tries again
            try:
                R.restore(cfg, store, "loc", str(lab.src / "data" / "report.txt"), checkpoint=number, to=to,
                          overwrite=True)
            except Exception as exc:      # whatever happens after: the write is done
                print("restore raised", type(exc).__name__, exc)
            if any(elsewhere.iterdir()):
                break
    written = sorted(str(p.relative_to(elsewhere)) for p in elsewhere.rglob("*"))
    assert written == [], f"root's xorriso extracted into {elsewhere} through the user's symlink: {written}"


def test_who_else_can_change_a_directory(open_base):
    nobody = NOBODY
    mine = open_base / "mine" / "deeper"
    mine.mkdir(parents=True)
    assert privacy.others_can_change(mine) is None
    assert privacy.others_can_change(mine / "not yet made") is None
    theirs = open_base / "theirs"
    theirs.mkdir()
    os.chown(theirs, nobody.pw_uid, nobody.pw_gid)
    assert "belongs to user nobody" in privacy.others_can_change(theirs / "x")
    link = open_base / "link"
    link.symlink_to(theirs)          # a symlink of ours to their directory: where it leads counts
    assert "belongs to user nobody" in privacy.others_can_change(link)
    mine.chmod(0o1777)
    as_nobody(lambda: os.symlink(open_base / "mine", mine / "theirs"))   # theirs, in a sticky directory
    assert "symlink of user nobody" in privacy.others_can_change(mine / "theirs" / "x")
    mine.chmod(0o755)                # where they may not write, they cannot replace it
    assert privacy.others_can_change(mine / "theirs" / "x") is None
    shared = open_base / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert "writable by everyone" in privacy.others_can_change(shared / "x")
    shared.chmod(0o1777)             # sticky, as /tmp: only an entry's owner may rename it
    assert privacy.others_can_change(shared / "x") is None
    shared.chmod(0o770)
    os.chown(shared, 0, 0)           # root's group: root alone
    assert privacy.others_can_change(shared / "x") is None
    if shutil.which("setfacl"):      # an ACL that lets one user write: the group bits are its mask
        subprocess.run(["setfacl", "-m", f"u:{nobody.pw_uid}:rwx", str(shared)], check=True)
        assert "ACL" in privacy.others_can_change(shared / "x")


def test_a_user_private_group_is_no_other_user(open_base):
    """Debian gives each user a group of their own and umask 002: their directories are
    group-writable by that group alone, which is no one else."""
    if not shutil.which("useradd"):
        pytest.skip("no useradd to make a user with a group of their own")
    name = "rabtui-upg-test"
    subprocess.run(["userdel", name], capture_output=True)
    subprocess.run(["useradd", "-M", "-U", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", name], check=True)
    try:
        user = pwd.getpwnam(name)
        theirs = open_base / "theirs"
        theirs.mkdir(mode=0o775)
        theirs.chmod(0o775)
        os.chown(theirs, user.pw_uid, user.pw_gid)
        pid = os.fork()
        if pid == 0:           # as that user: their own group-writable directory is theirs alone
            code = 1
            try:
                os.setgroups([user.pw_gid])
                os.setegid(user.pw_gid)
                os.seteuid(user.pw_uid)
                code = 0 if privacy.others_can_change(theirs / "x") is None else 3
            finally:
                os._exit(code)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        assert "belongs to user" in privacy.others_can_change(theirs / "x")   # to root: another user's
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def test_a_restore_onto_the_source_below_a_users_directory_refuses_what_they_could_redirect(open_base, capsys):
    """The configured directory is two levels below one that a local user owns: they put a symlink
    to a root-only directory in place of the level between, and the restore onto the source would
    make the configured directory there and write the backup's files into it."""
    from rabtui.cli import main

    nobody = NOBODY
    lab = Lab(open_base, media_count=1)
    alice = lab.src / "home" / "alice"
    site = alice / "www" / "site"
    site.mkdir(parents=True)
    for d in (alice, alice / "www"):
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
    write_files(site, {"index.html": b"hello\n"})
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{site}"\n')
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    (site / "index.html").unlink()
    elsewhere = open_base / "etc"                  # stands for /etc
    elsewhere.mkdir(mode=0o755)

    def redirect():
        os.rename(alice / "www", alice / "www.aside")
        os.symlink(elsewhere, alice / "www")
    as_nobody(redirect)
    code = main(["--config", str(lab.config_path), "restore", "loc", str(site / "index.html"), "--to-source"])
    captured = capsys.readouterr()
    assert list(elsewhere.iterdir()) == [], "the restore wrote through the user's symlink"
    assert code == 1 and "belongs to user nobody" in captured.err and "Traceback" not in captured.err
    assert not (alice / "www.aside" / "site" / "index.html").exists()


def test_a_restore_onto_the_source_through_a_users_symlink_in_a_sticky_directory_is_refused(open_base, capsys):
    """The configured directory is below one that a local user made in a sticky directory (as /tmp):
    only they and root may replace it there, and after the backup they put a symlink to a root-only
    directory in its place before the restore onto the source. Its target is root's, but the
    symlink is theirs. (A backup refuses a configured directory with a symlink on its way.)"""
    import shutil

    from rabtui.cli import main

    lab = Lab(open_base, media_count=1)
    shared = lab.src / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    site = shared / "web" / "site"

    def make_site():
        site.mkdir(parents=True)
        site.joinpath("index.html").write_bytes(b"hello\n")
    as_nobody(make_site)
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{site}"\n')
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    elsewhere = open_base / "etc"                  # stands for /etc
    elsewhere.mkdir(mode=0o755)

    def redirect():
        shutil.rmtree(shared / "web")
        os.symlink(elsewhere, shared / "web")
    as_nobody(redirect)
    code = main(["--config", str(lab.config_path), "restore", "loc", str(site / "index.html"), "--to-source"])
    captured = capsys.readouterr()
    assert list(elsewhere.iterdir()) == [], "the restore wrote through the user's symlink"
    assert code == 1 and "symlink of user nobody" in captured.err and "Traceback" not in captured.err, captured


@pytest.mark.parametrize("where", ["users_dir", "below_it", "sticky_dir", "roots_own_in_users_dir"])
def test_a_target_that_is_another_users_symlink_is_not_followed(open_base, capsys, where):
    """`--to` names a place in a user's directory (or in a sticky one such as /tmp) where that user
    has put a symlink to a root-only directory: at the target itself, or at a directory on the way
    to one still to be made. Root follows no symlink that someone else could have put there (nor
    one of its own that they could replace)."""
    from rabtui.cli import main

    lab = Lab(open_base, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"f": b"x"})
    assert lab.backup(cfg).status == "completed"
    theirs = open_base / "theirs"
    theirs.mkdir()
    if where == "sticky_dir":
        theirs.chmod(0o1777)
    else:
        os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    elsewhere = open_base / "etc"                  # stands for /etc
    elsewhere.mkdir(mode=0o755)
    if where == "roots_own_in_users_dir":      # root's, but the user may put another in its place
        os.symlink(elsewhere, theirs / "restore")
    else:
        as_nobody(lambda: os.symlink(elsewhere, theirs / "restore"))
    to = theirs / "restore" / ("deeper" if where == "below_it" else "")
    code = main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), "--to", str(to)])
    captured = capsys.readouterr()
    assert list(elsewhere.iterdir()) == [], "the restore wrote through the other user's symlink"
    assert code in (1, 3) and "restore is a symlink" in captured.out + captured.err, captured
    assert "Traceback" not in captured.err


def test_a_hard_link_is_not_made_to_what_a_user_put_in_place_of_its_first_name(open_base, monkeypatch):
    """Root restores two names of one file into a user's directory: once the first is in place, the
    user renames a symlink of theirs onto it. The second name is not made a link of that symlink:
    it gets the backup's file, and the link that could not be kept is named."""
    from rabtui.restore.write import SafeWriter

    nobody = NOBODY
    lab = Lab(open_base, media_count=1)
    home = lab.src / "home"
    alice = home / "alice"
    alice.mkdir(parents=True)
    os.chown(alice, nobody.pw_uid, nobody.pw_gid)
    (alice / "a").write_bytes(b"the backup's bytes\n")
    os.link(alice / "a", alice / "b")
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{home}"\n')
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    for name in ("a", "b"):
        (alice / name).unlink()
    victim = open_base / "shadow"
    victim.write_bytes(b"root:$6$secret\n")
    real_into_place = SafeWriter._into_place

    def then_the_user_swaps(self, fd, tmp, name, rel):
        placed = real_into_place(self, fd, tmp, name, rel)
        if name == b"a":
            def swap():
                os.symlink(victim, alice / ".evil")
                os.rename(alice / ".evil", alice / "a")
            as_nobody(swap)
        return placed

    monkeypatch.setattr(SafeWriter, "_into_place", then_the_user_swaps)
    result = R.restore(cfg, lab.store(), "loc", str(alice), to_source=True)
    monkeypatch.undo()
    b = alice / "b"
    assert not b.is_symlink(), f"b was made a link of the user's symlink to {os.readlink(b)}"
    assert b.read_bytes() == b"the backup's bytes\n"
    assert any(kind == "hard link" and name.endswith(b"b") for kind, name, _ in result.written.not_restored)
