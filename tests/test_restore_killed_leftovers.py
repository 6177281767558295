"""What a restore killed (SIGKILL) leaves outside its target is removed by the next run once its
run is dead, never while a run uses it, and nothing of the operator's with it: the short alias a
restore from discs reads them through and the links to paths past PATH_MAX (in the temporary
directory), the staging directory in the state directory. The real `rabtui` process, a real
backup and a real ISO disc."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.test_kill_anywhere import _killed, rabtui
from tests.test_medium_identity import _killed as _stop_killed, _stopped_at
from tests.trees import Lab, burn_due, snapshot, write_files


def _on_a_disc(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"f": b"on the disc", "sub/g": b"g"})
    assert lab.backup(cfg).status == "completed"
    burn_due(cfg, lab.store())
    return lab, data


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _staged(lab: Lab) -> list[str]:
    return [n for n in os.listdir(lab.state) if n.startswith(".rabtui")]


@pytest.mark.slow
def test_what_a_killed_restore_from_discs_left_goes_with_the_next_restore_or_cleanup_not_a_live_ones(
        tmp_path, monkeypatch):
    """Killed while it read the discs, a restore left its private directory (0700, holding the
    short alias of its staging directory) in /tmp for good; one onto the source, staging in the
    state directory, left what it read there (as large as what it restores, in the directory whose
    filling stops every backup) until the next restore that staged there too. The next restore of
    any kind removes both, and a cleanup (run-due's too) the staging directory; what a restore
    stopped there still uses stays (its staging directory: test_restore_kill's
    test_a_staging_directory_in_use_is_left_to_its_restore), as does what is not a killed run's of ours."""
    lab, data = _on_a_disc(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    dead = _dead_pid()
    theirs = {"rv1a2b3c4d": "dir", f"rabtui-{dead}-0": "file", f"rabtui-x-{dead}-0": "dir",
              f"rabtui-{dead}": "dir", f"rabtui-{dead}-0a": "dir",
              f"rabtui-{os.getppid()}-0": "dir"}    # the last: a live pid's
    for name, kind in theirs.items():
        (tmp / name).mkdir() if kind == "dir" else (tmp / name).write_text("the operator's")
    if os.geteuid() == 0:      # another user's, of a dead pid
        theirs[f"rabtui-{dead}-1"] = "dir"
        (tmp / f"rabtui-{dead}-1").mkdir()
        os.chown(tmp / f"rabtui-{dead}-1", 65534, 65534)
    args = ["restore", "loc", str(data), "--checkpoint", "1"]
    _killed(rabtui(lab, *args, "--to-source", point="restore.discs_read"))
    left = sorted(set(os.listdir(tmp)) - set(theirs))
    assert len(left) == 1 and os.stat(tmp / left[0]).st_mode & 0o777 == 0o700, left
    staged = _staged(lab)
    assert len(staged) == 1, staged
    stopped = None
    try:
        stopped = _stopped_at(lab, "restore.discs_read", *args, "--to", str(tmp_path / "stopped"))
        assert _staged(lab) == []      # the restore removed it as it began
        in_use = sorted(set(os.listdir(tmp)) - set(theirs) - set(left))
        assert len(in_use) == 1, in_use
        done = rabtui(lab, *args, "--to", str(tmp_path / "next"))
        assert done.returncode == 0, done.stderr
        assert sorted(os.listdir(tmp)) == sorted(set(theirs) | set(in_use))
        stopped.send_signal(signal.SIGCONT)
        out = stopped.communicate(timeout=60)[0].decode()
        assert stopped.returncode == 0, out
        assert f"removed {lab.state / staged[0]}, the staging directory of a restore that did not end" in out
    finally:
        _stop_killed(stopped)
    assert sorted(os.listdir(tmp)) == sorted(theirs)
    for out in ("next", "stopped"):
        assert snapshot(tmp_path / out / str(data).lstrip("/")) == snapshot(data)
    assert (tmp / f"rabtui-{dead}-0").read_text() == "the operator's"
    _killed(rabtui(lab, *args, "--to-source", point="restore.extracted"))
    staged = _staged(lab)
    done = rabtui(lab, "cleanup")
    assert done.returncode == 0, done.stderr
    assert len(staged) == 1 and f"removed {lab.state / staged[0]}, the staging directory of a restore that" \
        " did not end" in done.stdout, done
    assert _staged(lab) == []


def _deep_backup(tmp_path):
    """A backup of a file below a path deeper than the kernel takes (links reach it: shortpath)."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    deep = os.fsencode(lab.src / "data")
    while len(deep) < 3850:
        deep += b"/" + b"d" * min(200, 3850 - len(deep) - 1)
    os.makedirs(deep)
    write_files(deep, {"file": b"deep"})
    assert lab.backup(lab.load()).status == "completed"
    return lab, deep


def test_the_links_a_killed_restore_made_to_reach_paths_past_path_max_go_with_the_next(tmp_path, monkeypatch):
    """A path in the backup deeper than the kernel takes is reached through symlinks in a private
    directory of the temporary directory (shortpath.Shortcuts); a restore killed meanwhile left it
    for good. The next run that needs one removes it."""
    lab, deep = _deep_backup(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    args = ["restore", "loc", os.fsdecode(deep + b"/file"), "--to"]
    _killed(rabtui(lab, *args, str(tmp_path / "killed"), point="restore.file_written"))
    assert len(os.listdir(tmp)) == 1, os.listdir(tmp)
    done = rabtui(lab, *args, str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert os.listdir(tmp) == []
    with open(os.fsencode(tmp_path / "out") + deep + b"/file", "rb") as f:
        assert f.read() == b"deep"


def test_a_temporary_directory_too_long_for_the_links_fails_the_restore_clearly(tmp_path):
    """TMPDIR itself past 3,000 bytes: a link in it is no shorter than the path it stands for. The
    restore said so and failed; it made links for ever (a hang, its memory growing)."""
    lab, deep = _deep_backup(tmp_path)
    tmp = os.fsencode(tmp_path / "tmp")
    while len(tmp) < 3100:
        tmp += b"/" + b"t" * 200
    os.makedirs(tmp)
    done = rabtui(lab, "restore", "loc", os.fsdecode(deep + b"/file"), "--to", str(tmp_path / "out"),
                  tmpdir=os.fsdecode(tmp), timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "is too long to reach paths deeper than PATH_MAX through" in done.stderr
    assert "set TMPDIR to a shorter directory" in done.stderr, done.stderr
    assert os.listdir(tmp) == []


def test_a_temporary_directory_another_user_can_change_is_not_used(tmp_path):
    """TMPDIR named by a symlink another user planted in /tmp (to a directory of theirs): that user
    could swap the run's private directory for one of theirs, and its links (where a path deeper
    than PATH_MAX is written, where the discs are extracted) for their own. The run says so and
    makes nothing there; it used the directory."""
    lab, deep = _deep_backup(tmp_path)
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o777)
    os.chown(theirs, 65534, 65534)
    planted = tmp_path / "sticky"
    planted.mkdir()
    os.chmod(planted, 0o1777)
    os.symlink(theirs, planted / "tmp")
    os.lchown(planted / "tmp", 65534, 65534)
    done = rabtui(lab, "restore", "loc", os.fsdecode(deep + b"/file"), "--to", str(tmp_path / "out"),
                  tmpdir=planted / "tmp")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"the temporary directory {planted / 'tmp'}: {planted / 'tmp'} is a symlink of user" in done.stderr
    assert "set TMPDIR to a directory no other user can change" in done.stderr, done.stderr
    assert os.listdir(theirs) == []


def test_a_temporary_directory_without_room_fails_the_restore_from_discs_clearly(tmp_path, tmpfs):
    """TMPDIR on a file system with one inode left: the restore from discs makes its private
    directory there, and no link to what it extracts in it. It ended in a traceback."""
    lab, data = _on_a_disc(tmp_path)
    tmp = tmpfs(tmp_path / "tmp", "size=1m,nr_inodes=2")
    done = rabtui(lab, "restore", "loc", str(data), "--checkpoint", "1", "--to", str(tmp_path / "out"),
                  tmpdir=tmp, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"cannot make a private directory, or a link in it, in the temporary directory {tmp}: No space left" \
        " on device" in done.stderr, done.stderr
    assert "set TMPDIR to a directory with room" in done.stderr, done.stderr
    assert os.listdir(tmp) == [] and not os.path.exists(tmp_path / "out")


def test_a_restore_killed_as_it_makes_a_symlink_to_its_recorded_target_leaves_its_staging_to_the_next(tmp_path):
    """Killed with a symlink whose target ends in one slash made again under a temporary name
    beside its disc form, a restore left that name in its staging directory only: the next
    restore removes the staging directory and makes the symlink to its recorded target."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"sub/a": b"a"})
    os.symlink("sub/", data / "link")
    assert lab.backup(cfg).status == "completed"
    burn_due(cfg, lab.store())
    args = ["restore", "loc", str(data), "--checkpoint", "1"]
    _killed(rabtui(lab, *args, "--to-source", "--overwrite", point="restore.link_target_made"))
    staged = _staged(lab)
    assert len(staged) == 1, staged
    made = [n for _, dirs, names in os.walk(lab.state / staged[0]) for n in dirs + names if n.startswith(".rabtui-")]
    assert len(made) == 1, made
    assert os.readlink(data / "link") == "sub/" and sorted(os.listdir(data)) == ["link", "sub"]
    done = rabtui(lab, *args, "--to", str(tmp_path / "next"))
    assert done.returncode == 0, done.stderr
    assert _staged(lab) == []
    assert os.readlink(tmp_path / "next" / str(data).lstrip("/") / "link") == "sub/"
