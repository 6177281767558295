"""Restore onto a source reached over SSH (`restore --to-source`, rsync to the test sshd, real
ssh and rsync): what the check on the source refuses before anything is written (a directory on
the way that someone other than root and the SSH user can change, a symlink at the restored
file's own name), an archive directory restored as the chosen backup had it, a deep path, and a
program that cannot be started said in one line."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rabtui import faults
from rabtui.errors import WorkFailed
from rabtui.restore import run as R
from tests import preloaded
from tests.trees import HOSTILE_NAMES, Lab, hostile_tree, snapshot, ssh_source_lines, write_files

T0 = datetime(2026, 6, 1, 3, 0)
REPO = Path(__file__).resolve().parent.parent
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (another user's directory)")


def _lab(tmp_path: Path, sshd, files: dict, *, extra: str = "", kind: str = "standard"):
    lab = Lab(tmp_path, media_count=1)
    remote_dir = tmp_path / "remote"
    write_files(remote_dir, files)
    cfg = lab.write(ssh_source_lines(sshd) + extra
                    + f'[[sources.directories]]\npath = "{remote_dir}"\nkind = "{kind}"\n')
    lab.trust(sshd)
    return lab, cfg, remote_dir


def _nobody() -> pwd.struct_passwd:
    return pwd.getpwnam("nobody")


def _owned_by_nobody(path: Path) -> str:
    os.chown(path, _nobody().pw_uid, 0)
    return r"belongs to user nobody \(uid \d+\)"


def _writable_by_nogroup(path: Path) -> str:
    os.chown(path, 0, _nobody().pw_gid)
    path.chmod(0o775)
    return r"is writable by its group \S+ \(gid \d+\)"


def _writable_by_everyone(path: Path) -> str:
    path.chmod(0o777)
    return "is writable by everyone"


def _acl_for_nobody(path: Path) -> str:
    subprocess.run(["setfacl", "-m", "u:nobody:rwx", str(path)], check=True)
    return "has an ACL that lets others write in it"


@root_only
@pytest.mark.parametrize("opened", [_owned_by_nobody, _writable_by_nogroup, _writable_by_everyone, _acl_for_nobody])
def test_a_directory_on_the_way_that_another_user_can_change_refuses_the_restore(tmp_path, sshd, opened):
    """The check on the source and rsync are two SSH sessions. Whoever can change a directory on
    the destination's path could swap the destination for a symlink between them, and rsync (root
    here, through rsync_path) would write where it points. So the restore is refused up front,
    naming the directory and why; nothing is written. The other user's move is made by the
    rsync_path wrapper as rsync starts, i.e. after the check."""
    outside = tmp_path / "outside"          # root's own place, e.g. /etc/cron.d
    outside.mkdir()
    swap = tmp_path / "swap"
    wrapper = tmp_path / "rsync-wrap"
    remote_dir = tmp_path / "remote"
    alice = remote_dir / "home" / "alice"
    wrapper.write_text("#!/bin/sh\n"
                       f"if [ -e '{swap}' ] && [ ! -L '{alice}/docs' ]; then"
                       f" rm -rf '{alice}/docs'; ln -s '{outside}' '{alice}/docs'; fi\n"
                       'exec rsync "$@"\n')
    wrapper.chmod(0o755)
    lab, cfg, _ = _lab(tmp_path, sshd, {"home/alice/docs/f": b"restored"}, extra=f'rsync_path = "{wrapper}"\n')
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    why = opened(alice)
    swap.touch()
    with pytest.raises(WorkFailed, match=f"refusing to restore onto web: {alice}.* {why}.*nothing written") as exc:
        R.restore(cfg, lab.store(), "web", str(alice / "docs"), to_source=True, overwrite=True)
    assert "--to DIR" in (exc.value.hint or "")
    assert os.listdir(outside) == [] and not (alice / "docs").is_symlink()
    # the file's own directory counts too: a restore of one file into home/alice is refused alike
    (alice / "docs" / "f").unlink()
    with pytest.raises(WorkFailed, match=why):
        R.restore(cfg, lab.store(), "web", str(alice / "docs" / "f"), to_source=True, overwrite=True)
    assert os.listdir(outside) == [] and os.listdir(alice / "docs") == []


def test_directories_only_root_and_the_ssh_user_can_change_let_the_restore_through(tmp_path, sshd):
    """Write permission is no reason to refuse where it is root's group's, or where the directory
    is sticky (another user may not replace what is not theirs there, as in /tmp)."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"shared/a/f": b"1", "grouped/g": b"2"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    (remote_dir / "shared").chmod(0o1777)
    (remote_dir / "grouped").chmod(0o775)
    os.chown(remote_dir / "grouped", os.geteuid(), 0)
    (remote_dir / "shared/a/f").unlink()
    (remote_dir / "grouped/g").unlink()
    R.restore(cfg, lab.store(), "web", str(remote_dir / "shared/a"), to_source=True)
    R.restore(cfg, lab.store(), "web", str(remote_dir / "grouped/g"), to_source=True)
    assert snapshot(remote_dir) == {b"shared/a/f": b"1", b"grouped/g": b"2"}


@root_only
def test_the_check_judges_each_directory_from_the_root_down_as_the_ssh_user(tmp_path):
    """The check runs on the source as the SSH user (nobody here, with the same sh): the user's own
    directories and root's are fine; another user's is refused, and so is one its group may write
    in when that group is not the user's alone (Debian's nogroup has other users). Odd names are
    passed as they are and reported exactly."""
    from rabtui.restore.source_check import SOURCE_CHECK

    nobody = _nobody()
    base = Path(tempfile.mkdtemp(prefix="rabtui-check-", dir="/tmp"))
    try:
        base.chmod(0o755)
        odd = base / "own dir" / "*" / "-n\n" / "it's $(x)"
        odd.mkdir(parents=True)
        for d in (base / "own dir", odd.parent.parent, odd.parent, odd):
            os.chown(d, nobody.pw_uid, nobody.pw_gid)
            d.chmod(0o755)
        (base / "daemons").mkdir(mode=0o755)
        os.chown(base / "daemons", 1, 1)

        def check(path: Path) -> list[bytes]:
            done = subprocess.run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                                   "sh", "-c", SOURCE_CHECK, "sh", "-", str(path)], capture_output=True, check=True)
            records = [p for p in done.stdout.split(b"\0") if p]
            assert records.pop() == b"=", records     # the check ran to its end
            return records

        new = b"+" + os.fsencode(odd / "new")        # the first path not there
        assert check(odd / "new") == [new]
        assert check(base / "daemons" / "x") == [b"!owner:1:daemon:" + os.fsencode(base / "daemons"),
                                                 b"+" + os.fsencode(base / "daemons" / "x")]
        odd.parent.chmod(0o775)
        assert check(odd / "new") == [b"!group:%d:nogroup:%s" % (nobody.pw_gid, os.fsencode(odd.parent)), new]
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_file_is_never_restored_over_a_symlink_at_its_name(tmp_path, sshd, overwrite):
    """The source now has a symlink where the backup has a file: the restore refuses it, as it does
    for a symlink in the way inside a restored directory, and the symlink and what it points to
    stay as they are."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"conf": b"old"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    (remote_dir / "conf").unlink()
    (remote_dir / "conf.real").write_bytes(b"new")
    os.symlink("conf.real", remote_dir / "conf")
    with pytest.raises(WorkFailed, match=f"1 symlinks there are in the restore's way.*{remote_dir}/conf"):
        R.restore(cfg, lab.store(), "web", str(remote_dir / "conf"), to_source=True, overwrite=overwrite)
    assert os.readlink(remote_dir / "conf") == "conf.real" and (remote_dir / "conf.real").read_bytes() == b"new"


def test_an_archive_directory_comes_back_onto_the_source_as_the_backup_had_it(tmp_path, sshd):
    """An archive directory restored with --backup onto an SSH source holds each file as that
    backup had it, and no file saved after it (as into a directory), not the medium's union tree."""
    lab, cfg, photos = _lab(tmp_path, sshd, {"2025/a.jpg": b"A" * 100}, kind="archive")
    b1 = lab.backup(cfg, "web", now=T0)
    write_files(photos, {"2025/a.jpg": b"a" * 120, "2026/b.jpg": b"B" * 50})
    b2 = lab.backup(cfg, "web", now=T0 + timedelta(days=1))
    assert b1.status == b2.status == "completed"
    shutil.rmtree(photos)
    photos.mkdir()
    res = R.restore(cfg, lab.store(), "web", str(photos), backup=b1.path.name, to_source=True)
    assert snapshot(photos) == {b"2025/a.jpg": b"A" * 100}
    assert res.written.files == 1 and not res.written.problems()
    # one file, too; and nothing of the staging is left in the state directory
    (photos / "2025/a.jpg").unlink()
    R.restore(cfg, lab.store(), "web", str(photos / "2025/a.jpg"), backup=b1.path.name, to_source=True)
    assert snapshot(photos) == {b"2025/a.jpg": b"A" * 100}
    assert not [p for p in os.listdir(lab.state) if p.startswith(".rabtui-restore-")]
    # the newest backup's copy is the union's
    R.restore(cfg, lab.store(), "web", str(photos), backup=b2.path.name, to_source=True, overwrite=True)
    assert snapshot(photos) == {b"2025/a.jpg": b"a" * 120, b"2026/b.jpg": b"B" * 50}


def test_an_archive_file_the_medium_lost_is_named_from_slash_onto_the_ssh_source(tmp_path, sshd):
    """An archive directory restored onto an SSH source, a file of its backup gone from the medium:
    named by its path on the source (as every restore names what it did not restore), not below the
    directory's own name ("remote/2025/a.jpg", as the staging held it)."""
    lab, cfg, photos = _lab(tmp_path, sshd, {"2025/a.jpg": b"A" * 100, "2025/k.jpg": b"k"}, kind="archive")
    b1 = lab.backup(cfg, "web", now=T0)
    write_files(photos, {"2025/a.jpg": b"a" * 120})
    assert b1.status == lab.backup(cfg, "web", now=T0 + timedelta(days=1)).status == "completed"
    (b1.path / "data" / str(photos / "2025/a.jpg").lstrip("/")).unlink()
    shutil.rmtree(photos)
    photos.mkdir()
    res = R.restore(cfg, lab.store(), "web", str(photos), backup=b1.path.name, to_source=True)
    assert [(k, n) for k, n, _ in res.written.not_restored] == [("file", os.fsencode(photos / "2025/a.jpg")[1:])]
    assert snapshot(photos) == {b"2025/k.jpg": b"k"}


@pytest.mark.slow
@pytest.mark.parametrize("name, depth", [("d", 600), ("d" * 9, 380)])
def test_a_file_deep_down_is_restored_onto_the_source(mem_path, sshd, name, depth):
    """A path of many components (1,200 and 3,800 bytes below the source directory) is sent to
    the source once, whatever its depth."""
    deep = "/".join([name] * depth)
    lab, cfg, remote_dir = _lab(mem_path, sshd, {deep + "/f": b"data"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    target = os.path.join(remote_dir, deep, "f")
    os.unlink(target)
    res = R.restore(cfg, lab.store(), "web", target, to_source=True)
    with open(target, "rb") as f:
        assert f.read() == b"data"
    assert res.written.files == 1


def test_a_program_that_cannot_be_started_is_said_in_one_line(tmp_path, sshd):
    """ssh found but not executable (any OSError from starting it: an argument list too long is
    one): the restore exits 1 with one line naming what could not start, never a traceback."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"f": b"1"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text("#!/bin/sh\n")
    (bin_dir / "ssh").chmod(0o644)
    for tool in ("rsync", "setpriv", "sh"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "restore", "web",
                          str(remote_dir / "f"), "--to-source", "--overwrite"],
                         cwd=REPO, env={**os.environ, "PATH": str(bin_dir)}, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "could not start the check on the source for web (ssh)" in done.stderr
    assert "Permission denied" in done.stderr


def test_a_restore_killed_while_it_sends_leaves_no_file_behind(tmp_path, sshd):
    """Without --overwrite, the paths to send into a directory that is there go to rsync as a list:
    a restore killed while rsync sends them leaves no list behind in the temporary directory."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/a": b"1", "d/sub/b": b"2"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    (remote_dir / "d/a").unlink()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    argv = [sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "restore", "web",
            str(remote_dir / "d"), "--to-source"]
    env = {**os.environ, "TMPDIR": str(tmp)}
    done = subprocess.run(argv, cwd=REPO, env={**env, faults.ENV: "restore.sending"}, capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    assert not os.listdir(tmp)
    assert not (remote_dir / "d/a").exists()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert snapshot(remote_dir / "d") == {b"a": b"1", b"sub/b": b"2"} and not os.listdir(tmp)


@root_only
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_directory_already_there_keeps_its_mode_owner_and_times_unless_the_restore_overwrites(
        tmp_path, sshd, overwrite):
    """As onto a local source: a directory tightened since the backup (after a leak, say) stays as
    it is now (mode, group, times) when what it lost is restored into it, at the restored
    directory itself and below it; a directory that is gone comes back as the backup has it. With
    --overwrite, the directories there are put back as the backup has them too."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"secrets/a": b"1", "secrets/sub/deep/b": b"2", "secrets/gone/c": b"3"})
    secrets, sub, gone = remote_dir / "secrets", remote_dir / "secrets/sub", remote_dir / "secrets/gone"
    for d in (secrets, sub):
        d.chmod(0o755)
    gone.chmod(0o710)
    os.utime(gone, (1_500_000_000, 1_500_000_000))
    backed = {d: os.stat(d) for d in (secrets, sub)}
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    secrets.chmod(0o700)
    os.chown(secrets, 0, _nobody().pw_gid)          # group nogroup, which may not write: no refusal
    sub.chmod(0o750)
    (secrets / "a").unlink()
    (sub / "deep/b").unlink()
    os.utime(sub, (1_400_000_000, 1_400_000_000))   # nothing is written into sub itself
    shutil.rmtree(gone)
    res = R.restore(cfg, lab.store(), "web", str(secrets), to_source=True, overwrite=overwrite)
    assert not res.written.problems()
    assert snapshot(secrets) == {b"a": b"1", b"sub/deep/b": b"2", b"gone/c": b"3"}
    now = {d: os.stat(d) for d in (secrets, sub, gone)}
    assert (now[gone].st_mode & 0o7777, now[gone].st_mtime) == (0o710, 1_500_000_000)
    if overwrite:
        for d in (secrets, sub):
            assert (now[d].st_mode, now[d].st_gid, now[d].st_mtime_ns) == \
                (backed[d].st_mode, backed[d].st_gid, backed[d].st_mtime_ns)
    else:
        assert (now[secrets].st_mode & 0o7777, now[secrets].st_gid) == (0o700, _nobody().pw_gid)
        assert (now[sub].st_mode & 0o7777, now[sub].st_mtime) == (0o750, 1_400_000_000)


def test_directories_of_any_name_already_there_keep_their_mode(tmp_path, sshd):
    """The directories there are known by the names rsync prints (control characters, a backslash
    that looks like its escape, bars, non-UTF-8 bytes): each one is found, keeps its mode, and
    gets what it lost back."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {})
    files = hostile_tree(remote_dir / "h")
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    dirs = [os.path.join(os.fsencode(remote_dir / "h"), b"dir " + name) for name in HOSTILE_NAMES]
    for d, name in zip(dirs, HOSTILE_NAMES):
        os.chmod(d, 0o700)
        os.unlink(os.path.join(d, name))
    res = R.restore(cfg, lab.store(), "web", str(remote_dir / "h"), to_source=True)
    assert snapshot(remote_dir / "h") == files
    assert res.written.files == len(HOSTILE_NAMES) and not res.written.problems()
    assert {os.stat(d).st_mode & 0o7777 for d in dirs} == {0o700}


def test_files_there_that_differ_are_named_whole(tmp_path, sshd):
    """Without --overwrite, files on the source that differ from the backup's refuse the restore,
    named as they are (a bar in a name, a newline shown as `ls -b` shows it)."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/pipe|and|bars": b"1", "d/new\nline": b"2"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    write_files(remote_dir, {"d/pipe|and|bars": b"changed", "d/new\nline": b"changed"})
    with pytest.raises(WorkFailed, match=r"2 files exist on web already and differ: (?=.*pipe\|and\|bars)"
                                         r"(?=.*new\\nline)") as exc:
        R.restore(cfg, lab.store(), "web", str(remote_dir / "d"), to_source=True)
    assert "--overwrite" in (exc.value.hint or "")
    assert snapshot(remote_dir / "d") == {b"pipe|and|bars": b"changed", b"new\nline": b"changed"}


@root_only
def test_files_there_whose_attributes_differ_are_named(tmp_path, sshd):
    """A file there with the backup's content but not its mode, owner, ACL or xattrs (a setuid bit
    dropped, an ACL lost) differs too: without --overwrite the restore is refused naming it, not
    reported as done with the file left as it is."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/su": b"setuid", "d/conf": b"x", "d/owned": b"o", "d/same": b"s"})
    os.chmod(remote_dir / "d/su", 0o4755)
    os.setxattr(remote_dir / "d/conf", "user.comment", b"kept by the backup")
    os.chown(remote_dir / "d/owned", 12345, 23456)
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    os.chmod(remote_dir / "d/su", 0o755)
    os.removexattr(remote_dir / "d/conf", "user.comment")
    os.chown(remote_dir / "d/owned", 0, 0)
    (remote_dir / "d/gone").write_bytes(b"")
    (remote_dir / "d/gone").unlink()
    with pytest.raises(WorkFailed) as err:
        R.restore(cfg, lab.store(), "web", str(remote_dir / "d"), to_source=True)
    assert "3 files exist on web already and differ" in str(err.value), str(err.value)
    for name in ("su (mode)", "conf (xattrs)", "owned (owner, group)"):
        assert name in str(err.value), str(err.value)
    assert "same" not in str(err.value)
    assert os.stat(remote_dir / "d/su").st_mode & 0o7777 == 0o755
    R.restore(cfg, lab.store(), "web", str(remote_dir / "d"), to_source=True, overwrite=True)
    assert os.stat(remote_dir / "d/su").st_mode & 0o7777 == 0o4755
    assert os.getxattr(remote_dir / "d/conf", "user.comment") == b"kept by the backup"
    assert (os.stat(remote_dir / "d/owned").st_uid, os.stat(remote_dir / "d/owned").st_gid) == (12345, 23456)


def test_the_summary_of_a_restore_onto_a_source_does_not_count_attributes_it_cannot_count(tmp_path, sshd):
    """rsync sets a file's xattrs on the source and does not say how many: the summary says so,
    where it read "0 attributes" of a file whose attribute came back."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/f": b"data"})
    try:
        os.setxattr(remote_dir / "d/f", "user.origin", b"web")
    except OSError as exc:
        pytest.skip(f"no user xattrs here: {exc}")
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    (remote_dir / "d/f").unlink()
    res = R.restore(cfg, lab.store(), "web", str(remote_dir / "d/f"), to_source=True)
    assert os.getxattr(remote_dir / "d/f", "user.origin") == b"web"
    assert "0 attributes" not in res.summary and "attributes as rsync set them (uncounted)" in res.summary
    assert res.written.as_json()["restored"]["attributes"] is None


def test_a_source_that_keeps_times_to_the_second_is_restored_into_without_false_clashes(tmp_path, sshd):
    """From a medium that keeps nanoseconds, files are compared to the nanosecond. A source whose
    file system keeps whole seconds (ext2, ext3) was backed up with whole seconds too, so a restore
    of a directory there without --overwrite brings back what is missing and keeps the unchanged
    files, none taken for a file that differs."""
    from tests.test_same_second import seconds_file_system

    lab = Lab(tmp_path, media_count=1)
    mnt = tmp_path / "ext2"
    mnt.mkdir()
    with seconds_file_system(mnt):
        remote_dir = mnt / "remote"
        write_files(remote_dir, {"d/a": b"kept", "d/b": b"lost", "d/c": b"kept too"})
        for i, name in enumerate(("a", "b", "c")):
            os.utime(remote_dir / "d" / name, (1_700_000_000 + i, 1_700_000_000 + i))
        cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{remote_dir}"\n')
        lab.trust(sshd)
        assert lab.backup(cfg, "web", now=T0).status == "completed"
        (remote_dir / "d/b").unlink()
        res = R.restore(cfg, lab.store(), "web", str(remote_dir / "d"), to_source=True)
        assert snapshot(remote_dir / "d") == {b"a": b"kept", b"b": b"lost", b"c": b"kept too"}
        assert res.written.files == 1 and not res.written.problems(), res.summary


def test_what_the_sources_rsync_says_reaches_the_terminal_escaped(tmp_path, sshd, capsys):
    """A hostile source's rsync (or anything on its side that prints on stderr) fails the restore
    with terminal control sequences in its message: the report shows them escaped, the JSON exact."""
    from rabtui.cli import main

    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"f": b"1"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    hostile = tmp_path / "hostile-rsync"
    said = "\x1b]0;owned\x07\x1b[2Jrsync: gone"
    first = tmp_path / "first"     # the dry run before the transfer (--overwrite) goes through
    hostile.write_text(f"#!/bin/sh\n[ -e '{first}' ] || {{ : > '{first}'; exec rsync \"$@\"; }}\n"
                       f"printf '{said}\\n' >&2\nexit 12\n")
    hostile.chmod(0o755)
    lab.write(ssh_source_lines(sshd) + f'rsync_path = "{hostile}"\n'
              + f'[[sources.directories]]\npath = "{remote_dir}"\n')
    args = ["--config", str(lab.config_path), "restore", "web", str(remote_dir / "f"), "--to-source", "--overwrite"]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert "rsync: gone" in out
    assert "\x1b" not in out + err and "\x07" not in out + err, "the source's control sequences reached the terminal"
    first.unlink()
    assert main(args + ["--json"]) == 1
    assert said in json.loads(capsys.readouterr().out)["errors"][0]["why"]


@pytest.mark.parametrize("record", [b"!owner", b"!owner:\xff:\xfe:/srv", b"?"])
def test_a_hostile_hosts_answer_to_the_check_is_a_refusal_in_a_line(tmp_path, record, capsys):
    """The check on the source runs what the host answers: a host that answers with records of no
    known form (its own sh, a forced command) refuses the restore in a line, never a traceback."""
    from rabtui.cli import main
    from tests.sshd import start_sshd

    server = start_sshd(tmp_path / "hostile-sshd")
    try:
        lab, cfg, remote_dir = _lab(tmp_path, server, {"f": b"1"})
        assert lab.backup(cfg, "web", now=T0).status == "completed"
        answer = tmp_path / "answer"
        answer.write_bytes(record + b"\0")
        forced = tmp_path / "forced"
        forced.write_text('#!/bin/sh\ncase "$SSH_ORIGINAL_COMMAND" in *alone*) exec cat "$1";; esac\n'
                          'exec sh -c "$SSH_ORIGINAL_COMMAND"\n')
        forced.chmod(0o755)
        keys = server.dir / "authorized_keys"
        keys.write_text(f'command="{forced} {answer}" ' + keys.read_text())
        code = main(["--config", str(lab.config_path), "restore", "web", str(remote_dir / "f"), "--to-source",
                     "--overwrite"])
        err = capsys.readouterr().err
        assert code == 1 and "refusing to restore onto web" in err and "Traceback" not in err, err
    finally:
        server.stop()


def test_a_directory_named_with_a_wildcard_is_restored_into_itself_never_another(tmp_path, sshd):
    """rsync on the source takes the destination it is sent as a pattern: a file of /…/a* went
    into /…/ab there, over its file. A name holding one is escaped (it matches itself only), and a
    restore into such a directory that is not there (rsync would make it under its escaped name)
    is refused."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"a*/f": b"mine"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    (remote_dir / "a*" / "f").unlink()
    (remote_dir / "a*").rmdir()
    write_files(remote_dir / "ab", {"f": b"other"})
    with pytest.raises(WorkFailed, match=r"holds a wildcard .* nothing written"):
        R.restore(cfg, lab.store(), "web", str(remote_dir / "a*/f"), to_source=True, overwrite=True)
    assert snapshot(remote_dir) == {b"ab/f": b"other"}
    (remote_dir / "a*").mkdir()
    R.restore(cfg, lab.store(), "web", str(remote_dir / "a*/f"), to_source=True, overwrite=True)
    assert snapshot(remote_dir) == {b"ab/f": b"other", b"a*/f": b"mine"}


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_directory_gone_with_bars_in_its_path_is_restored(tmp_path, sshd, overwrite):
    """rsync says `created directory PATH` on its output where the restored directory is gone on the
    source: bars in PATH do not make that line one of its itemized ones (a clash, a name sent)."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"a|b/pipe|and|bars/f": b"1", "a|b/pipe|and|bars/sub/g": b"2"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    before = snapshot(remote_dir)
    shutil.rmtree(remote_dir / "a|b/pipe|and|bars")
    res = R.restore(cfg, lab.store(), "web", str(remote_dir / "a|b/pipe|and|bars"), to_source=True,
                    overwrite=overwrite)
    assert snapshot(remote_dir) == before
    assert (res.written.files, res.written.dirs) == (2, 2) and not res.written.problems()


@pytest.mark.parametrize("what", ["d/e", "d/e/f"])
@pytest.mark.parametrize("gone", ["", "d/e"])
def test_the_directories_gone_on_the_way_are_made_as_the_backup_has_them(tmp_path, sshd, what, gone):
    """A directory or a file restored onto the source where more than its own directory is gone
    (the configured directory itself here): rsync makes only the last directory of where it
    writes, and failed (mkdir ... No such file or directory); the directories on the way are
    made first with the modes the backup has, as a restore onto a local source makes them; the
    directory of a file restored alone too (`gone`: only it), which rsync made with its own mode."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"d/e/f": b"f", "g": b"g"})
    os.chmod(remote_dir / "d/e", 0o701)
    os.chmod(remote_dir / "d", 0o750)
    os.chmod(remote_dir, 0o711)
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    shutil.rmtree(remote_dir / gone)
    res = R.restore(cfg, lab.store(), "web", str(remote_dir / what), to_source=True)
    assert snapshot(remote_dir) == {b"d/e/f": b"f", **({b"g": b"g"} if gone else {})}
    assert [stat.S_IMODE(os.stat(p).st_mode) for p in (remote_dir, remote_dir / "d", remote_dir / "d/e")] \
        == [0o711, 0o750, 0o701]
    assert res.written.files == 1 and not res.written.problems()
