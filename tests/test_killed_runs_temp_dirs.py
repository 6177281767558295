"""What a run killed (SIGKILL) left in a private directory of its own (temp_dirs.py) is removed by
the next run that makes one there, once its run is dead: a rebuild-state's copy of a disc's
catalog in the temporary directory and of its state database in the state directory (also
removed by a cleanup), a verification's long xattrs read back in /dev/shm, a plan's stand-ins of
directories xorriso may not write, the probe of a medium's file system in its root (and the files
a run makes there for a moment: the label's temporary file, the write test, also removed by the
next `media label`). The real `rabtui` process, a real backup and real ISO discs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from rabtui import faults, proc_table
from rabtui.checkpoint import verify_scratch
from rabtui.state import locks
from tests.test_disc_large_xattrs import _backed_up
from tests.other_user import nobody_returns
from tests.test_restore_killed_leftovers import _dead_pid
from tests.test_kill_anywhere import _killed, rabtui
from tests.trees import Lab, burn_due, path_target, write_files


def _ours(folder) -> list[str]:
    """The private directories of runs in `folder` (temp_dirs: rabtui-<pid>-<n>)."""
    return sorted(n for n in os.listdir(folder) if n.startswith("rabtui-"))


def test_what_a_killed_rebuild_state_read_off_a_disc_goes_with_the_next_rebuild_or_cleanup(tmp_path):
    """Killed as it read a disc, rebuild-state left the disc's catalog in /tmp, and the disc's copy of
    the state database (as large as the database) in the state directory, for good."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"f": b"on the disc", "sub/g": b"g"})
    assert lab.backup(cfg).status == "completed"
    burn_due(cfg, lab.store())
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    (tmp / "rabtui-notes").write_text("the operator's")
    before = _ours(lab.state)

    _killed(rabtui(lab, "rebuild-state", point="rebuild.catalog_extracted", tmpdir=tmp))
    (left,) = set(_ours(tmp)) - {"rabtui-notes"}
    assert os.listdir(tmp / left) == ["catalog.tsv.gz"] and os.stat(tmp / left).st_mode & 0o777 == 0o700

    _killed(rabtui(lab, "rebuild-state", point="rebuild.state_copy_extracted", tmpdir=tmp))
    assert _ours(tmp) == ["rabtui-notes"]         # the first one's went as the second began
    (copy,) = set(_ours(lab.state)) - set(before)
    assert os.listdir(lab.state / copy) == ["rabtui.db"]
    done = rabtui(lab, "cleanup", tmpdir=tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed {lab.state / copy}, the private directory of a run that did not end" in done.stdout
    assert _ours(lab.state) == before

    _killed(rabtui(lab, "rebuild-state", point="rebuild.state_copy_extracted", tmpdir=tmp))
    assert len(_ours(lab.state)) == len(before) + 1
    done = rabtui(lab, "rebuild-state", tmpdir=tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _ours(lab.state) == before and _ours(tmp) == ["rabtui-notes"]
    assert lab.store().one("SELECT status FROM checkpoints")["status"] == "completed"


def _verifications_in(lab: Lab) -> list[str]:
    """The private directories of verifications in the state directory (verify_scratch.py: verify-<pid>-<n>)."""
    folder = lab.state / "checkpoints"
    return sorted(n for n in os.listdir(folder) if re.fullmatch(r"verify-\d+-\d+", n))


def test_the_disc_a_killed_verification_extracted_goes_with_the_next_verification_or_cleanup(tmp_path):
    """A verification extracts the whole disc into the state directory: `checkpoint verify` of a
    finished checkpoint, or rebuild-state's check of an image, killed meanwhile left it there (a
    read-only directory in it) until that disc was verified again in a burn."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"f": b"on the disc", "ro/g": b"g"})
    os.chmod(lab.src / "data" / "ro", 0o500)
    assert lab.backup(cfg).status == "completed"
    burn_due(cfg, lab.store())
    before = sorted(os.listdir(lab.state / "checkpoints"))

    _killed(rabtui(lab, "checkpoint", "verify", "--yes", point="verify.extracted"))
    (first,) = _verifications_in(lab)
    extracted = lab.state / "checkpoints" / first / "disc"
    assert os.stat(lab.state / "checkpoints" / first).st_mode & 0o777 == 0o700
    assert any(p.name == "g" and p.read_bytes() == b"g" for p in extracted.rglob("*"))
    if os.geteuid() == 0:      # for a user other than root, a read-only directory's files stay unless it is opened
        (ro,) = (p for p in extracted.rglob("ro") if p.is_dir())
        assert os.stat(ro).st_mode & 0o777 == 0o500
        subprocess.run(["chown", "-R", "65534:65534", lab.state / "checkpoints"], check=True)
        for d in (lab.state / "checkpoints", *(lab.state / "checkpoints").parents):   # the way to it
            if d in (Path("/"), Path("/tmp")):
                break
            os.chmod(d, os.stat(d).st_mode | 0o055)
        removed = nobody_returns(lambda: verify_scratch.remove_dead_scratch(lab.state), tmp_path)
        assert removed == [os.fsencode(lab.state / "checkpoints" / first)] and not _verifications_in(lab)
        # root's again: root extracts nothing into another user's folder (it reads the disc as a stream)
        subprocess.run(["chown", "-R", "0:0", lab.state / "checkpoints"], check=True)
        _killed(rabtui(lab, "checkpoint", "verify", "--yes", point="verify.extracted"))
        (first,) = _verifications_in(lab)
    _killed(rabtui(lab, "rebuild-state", point="verify.extracted"))
    (second,) = _verifications_in(lab)          # the first went as the rebuild's began
    assert second != first
    done = rabtui(lab, "cleanup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed {lab.state / 'checkpoints' / second}, the private directory of a run that did not end" in done.stdout
    assert _verifications_in(lab) == []

    _killed(rabtui(lab, "checkpoint", "verify", "--yes", point="verify.extracted"))
    assert len(_verifications_in(lab)) == 1
    done = rabtui(lab, "checkpoint", "verify", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(os.listdir(lab.state / "checkpoints")) == before
    assert lab.store().one("SELECT state FROM discs")["state"] == "verified"


def _dead_runs_in(folder: str) -> set[str]:
    """The private directories of dead runs in `folder` (tests elsewhere on the machine may be
    making their own there meanwhile)."""
    found = set()
    for name in os.listdir(folder):
        m = re.fullmatch(r"rabtui-(\d+)-\d+", name)
        if m and not proc_table.pid_alive(int(m.group(1))):
            found.add(name)
    return found


def _takes_a_long_value(folder) -> bool:
    try:
        (folder / "probe").write_bytes(b"")
        os.setxattr(folder / "probe", "user.big", b"v" * 20_000)
        return True
    except OSError:
        return False
    finally:
        (folder / "probe").unlink()


def test_the_long_xattrs_a_killed_verification_read_back_in_dev_shm_go_with_the_next(shm, tmp_path):
    """xattrs values the state directory's file system refuses (the ext4 of /tmp) are read back in
    /dev/shm, a tmpfs: a verification killed meanwhile left them there, in memory, until a reboot."""
    if not _takes_a_long_value(shm) or _takes_a_long_value(tmp_path):
        pytest.skip("here /dev/shm takes no 20,000-byte xattr value, or the state directory takes one")
    lab, *_ = _backed_up(shm, 20_000, state=tmp_path / "state")
    before = _dead_runs_in("/dev/shm")
    _killed(rabtui(lab, "checkpoint", "verify", "--yes", point="verify.xattrs_read"))
    (left,) = _dead_runs_in("/dev/shm") - before
    assert os.stat(os.path.join("/dev/shm", left)).st_mode & 0o777 == 0o700
    done = rabtui(lab, "checkpoint", "verify", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not os.path.exists(os.path.join("/dev/shm", left))


def test_the_stand_ins_a_killed_plan_tried_go_with_the_next_or_cleanup(tmp_path):
    """A directory xorriso may not write (symlinks with long targets: continuation.py) is tried
    with stand-ins of its entries in the state directory; a plan killed meanwhile left them for good,
    and a cleanup, which removes the other leftovers of killed runs there, left them too."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    links = lab.src / "data" / "links"
    links.mkdir(parents=True)
    for i in range(3):
        os.symlink(path_target(764), links / f"l{i}")
    assert lab.backup(cfg).status == "completed"
    _killed(rabtui(lab, "checkpoint", "plan", point="checkpoint.trial_made"))
    (left,) = os.listdir(lab.state / "checkpoints")      # a plan records nothing there
    assert sorted(os.listdir(lab.state / "checkpoints" / left / "0")) == ["0", "1", "2"]
    done = rabtui(lab, "cleanup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed {lab.state / 'checkpoints' / left}, the private directory of a run that did not end" in done.stdout
    assert os.listdir(lab.state / "checkpoints") == []
    _killed(rabtui(lab, "checkpoint", "plan", point="checkpoint.trial_made"))
    assert len(os.listdir(lab.state / "checkpoints")) == 1
    done = rabtui(lab, "checkpoint", "plan")
    assert done.returncode == 0, done.stdout + done.stderr
    assert os.listdir(lab.state / "checkpoints") == []


def test_cleanup_says_removed_only_what_is_gone(tmp_path, tmpfs):
    """A dead run's private directory that cannot be removed (a file system mounted in it) was said
    removed by each cleanup; it is said once it is gone."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    left = {lab.state / f"rabtui-{_dead_pid()}-0": "the private directory of a run that did not end",
            lab.state / ".rabtui-restore-killed": "the staging directory of a restore that did not end"}
    for path in left:
        path.mkdir(parents=True)
        tmpfs(path / "mounted", "size=1m")
        (path / "mounted" / "f").write_text("f")
    done = rabtui(lab, "cleanup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed" not in done.stdout and all(os.path.isdir(path / "mounted") for path in left)
    for path in left:
        subprocess.run(["umount", str(path / "mounted")], check=True)
    done = rabtui(lab, "cleanup")
    assert done.returncode == 0, done.stdout + done.stderr
    for path, what in left.items():
        assert f"removed {path}, {what}" in done.stdout and not os.path.lexists(path)


def test_what_verifications_of_the_earlier_layout_left_goes_with_a_cleanup_unless_in_use(tmp_path):
    """Earlier versions extracted a disc into `checkpoints/N/verify-NN` (its long xattrs beside it,
    `verify-NN-xattrs`): one killed there left the disc, read-only directories and all, and no run
    of this version clears that. A cleanup removes it, saying so, but not where a run works on
    checkpoint N now (its lock held), nor anything else of the checkpoint's."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    checkpoints = lab.state / "checkpoints"
    for number in (1, 2):
        write_files(checkpoints / str(number), {"catalog.tsv.gz": b"kept", "verify-01/data/ro/f": b"f",
                                                "verify-01-xattrs/x": b"x", "verify-02/data/g": b"g",
                                                "verify-03": b"a file", "verify-1x/h": b"not that name"})
        os.chmod(checkpoints / str(number) / "verify-01" / "data" / "ro", 0o500)
        os.chmod(checkpoints / str(number) / "verify-01" / "data", 0o500)
    with locks.checkpoint_lock(lab.state, 2):      # a burn or verify of checkpoint 2 runs
        done = rabtui(lab, "cleanup")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("verify-01", "verify-01-xattrs", "verify-02"):
        assert f"removed {checkpoints / '1' / name}, what a verification by an earlier version extracted" \
            in done.stdout, done.stdout
    assert sorted(os.listdir(checkpoints / "1")) == ["catalog.tsv.gz", "verify-03", "verify-1x"]
    assert "checkpoints/2/" not in done.stdout
    assert sorted(os.listdir(checkpoints / "2")) == ["catalog.tsv.gz", "verify-01", "verify-01-xattrs", "verify-02",
                                                    "verify-03", "verify-1x"]
    done = rabtui(lab, "cleanup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(os.listdir(checkpoints / "2")) == ["catalog.tsv.gz", "verify-03", "verify-1x"]


def test_the_probe_a_killed_labelling_left_on_a_medium_goes_with_the_next_use_of_it(tmp_path):
    """What a medium's file system holds is tried in a directory of its root as it is labelled; a
    backup killed meanwhile left it there for good (the labelling took it for rabtui's own)."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"a"})
    disk = lab.media[0][1]
    (disk / ".rabtui-probe-notes").mkdir()       # not a name of ours: it stays
    _killed(rabtui(lab, "backup", "loc", point="medium.probing"))
    (left,) = set(os.listdir(disk)) - {".rabtui-probe-notes"}
    assert left.startswith(".rabtui-probe-") and os.listdir(disk / left) == ["file"]
    done = rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(n for n in os.listdir(disk) if n.startswith(".rabtui-probe-")) == [".rabtui-probe-notes"]


@pytest.mark.parametrize("point", faults.MEDIUM_FILE_POINTS)
def test_the_files_a_killed_run_left_in_a_mediums_root_go_with_the_next_use_of_it(tmp_path, point):
    """A backup killed while its write test, or the label's temporary file, was in the medium's root
    left it there for good; one of a run that still runs stays."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"a"})
    disk = lab.media[0][1]
    prefix = ".rabtui-write-test-" if point == "medium.write_testing" else ".rabtui-medium.tmp-"
    live = disk / f"{prefix}{os.getpid()}-1"
    live.write_bytes(b"")
    _killed(rabtui(lab, "backup", "loc", point=point))
    (left,) = {n for n in os.listdir(disk) if n.startswith(prefix)} - {live.name}
    assert re.fullmatch(re.escape(prefix) + r"\d+-\d+-[0-9a-f]{8}-[0-9a-f]{16}", left)     # pid, identity, random
    done = rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(n for n in os.listdir(disk) if n.startswith(prefix)) == [live.name]


def test_the_label_file_a_killed_media_label_left_goes_with_the_next_labelling(tmp_path):
    """`media label` killed while the label's temporary file was in the medium's root left it there
    until a backup onto the medium: the next `media label` left it too."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    disk = lab.media[0][1]

    def left() -> list[str]:
        return sorted(n for n in os.listdir(disk) if n.startswith(".rabtui-medium.tmp-"))

    _killed(rabtui(lab, "media", "label", "m1", point="medium.label_temporary"))
    assert len(left()) == 1 and not (disk / ".rabtui-medium").exists()
    done = rabtui(lab, "media", "label", "m1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert left() == [] and (disk / ".rabtui-medium").exists()



_ROOT_LEFT = {"medium.probing": ".rabtui-probe-", "medium.write_testing": ".rabtui-write-test-",
              "medium.label_temporary": ".rabtui-medium.tmp-"}


def _root_name(point: str, pid: int, ticks: str, boot: str, k: int) -> str:
    """A name of what a run makes in a medium's root: a directory `<pid>-<n>-<ticks>-<boot>`, a file
    `<pid>-<ticks>-<boot>-<random>`."""
    if point == "medium.probing":
        return f"{_ROOT_LEFT[point]}{pid}-{k}-{ticks}-{boot}"
    return f"{_ROOT_LEFT[point]}{pid}-{ticks}-{boot}-{k:016x}"


@pytest.mark.parametrize("point", sorted(_ROOT_LEFT))
def test_what_a_killed_run_left_in_a_mediums_root_goes_though_its_pid_was_taken_by_a_process_seeming_older(
        tmp_path, point):
    """What a run makes in a medium's root names its process (its start in clock ticks and its boot
    id's head, as a job's row records it): a killed run's goes though another process holds its pid
    now, one that seems to have begun before it was made (the clock put back since: it was taken for
    the live run's, for good), or one of an earlier boot does; one naming that live process stays."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"a"})
    disk = lab.media[0][1]
    prefix = _ROOT_LEFT[point]
    _killed(rabtui(lab, "backup", "loc", point=point))
    (left,) = [n for n in os.listdir(disk) if n.startswith(prefix)]
    m = re.fullmatch(re.escape(prefix) + (r"\d+-\d+-(\d+)-([0-9a-f]{8})" if point == "medium.probing"
                                          else r"\d+-(\d+)-([0-9a-f]{8})-[0-9a-f]{16}"), left)
    assert m, left              # its process's start ticks and its boot id's head in its name
    holder = subprocess.Popen(["sleep", "60"])      # the pid's holder now, begun before the rename below
    try:
        boot, ticks = proc_table.identity(holder.pid).split(":")
        os.rename(disk / left, disk / _root_name(point, holder.pid, m.group(1), m.group(2), 1))
        live = _root_name(point, holder.pid, ticks, boot[:8], 2)
        other_boot = "1" * 8 if boot[:8] != "1" * 8 else "2" * 8      # that process's start, in another boot
        for name in (live, _root_name(point, holder.pid, ticks, other_boot, 3)):
            (disk / name).mkdir() if point == "medium.probing" else (disk / name).write_bytes(b"")
        done = rabtui(lab, "backup", "loc")
        assert done.returncode == 0, done.stdout + done.stderr
        assert sorted(n for n in os.listdir(disk) if n.startswith(prefix)) == [live]
    finally:
        holder.kill()
        holder.wait()
