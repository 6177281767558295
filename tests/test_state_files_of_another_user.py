"""The state directory against another user: one they can change (theirs, a `sudo rabtui` in their
home; writable and not sticky) is refused; in one open to all but sticky, what they made first (a
database, its `-wal`, a folder, a log) is never written into: they would read every path of every
host it records, and could change what rabtui does. Host keys in a known_hosts they can change are
not trusted."""

from __future__ import annotations

import os
import pwd
import sqlite3
import subprocess
import sys

import pytest

from rabtui.errors import WorkFailed
from rabtui.restore import run as restore
from tests import preloaded
from tests.other_user import as_nobody, root_logging_kept
from tests.trees import Lab, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

NOBODY = pwd.getpwnam("nobody")


def _rabtui(lab: Lab, *args: str) -> subprocess.CompletedProcess:
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                         capture_output=True, text=True)


def _lab(base) -> Lab:
    lab = Lab(base, media_count=1)
    write_files(lab.src / "data", {"secret-name-of-a-file": b"a"})
    lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{lab.src / "data"}"\n')
    return lab


def _open_file(path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.fchmod(fd, 0o666)
    os.close(fd)


def test_a_state_dir_another_user_can_change_is_refused(open_base):
    lab = _lab(open_base)
    lab.state.mkdir(mode=0o755)
    os.chown(lab.state, NOBODY.pw_uid, NOBODY.pw_gid)      # their directory (a `sudo rabtui` in their home)
    as_nobody(lambda: _open_file(lab.state / "rabtui.db"))

    done = _rabtui(lab, "backup", "loc")
    assert sorted(os.listdir(lab.state)) == ["rabtui.db"]
    check = _rabtui(lab, "check")

    assert (lab.state / "rabtui.db").read_bytes() == b"", "root wrote its records into nobody's file"
    assert done.returncode != 0 and "Traceback" not in done.stdout + done.stderr, done.stderr
    assert "belongs to user nobody" in done.stderr, done.stderr
    assert check.returncode == 2 and "belongs to user nobody" in check.stdout + check.stderr, check.stdout

    os.chown(lab.state, 0, 0)
    os.unlink(lab.state / "rabtui.db")
    lab.state.chmod(0o777)            # anyone may rename what rabtui makes there
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode != 0 and "is writable by everyone" in done.stderr, done.stderr
    lab.state.chmod(0o1777)           # sticky, as /tmp: what rabtui makes there stays its own
    assert _rabtui(lab, "backup", "loc").returncode == 0


def test_a_wal_another_user_put_beside_roots_database_is_not_written(open_base):
    lab = _lab(open_base)
    assert _rabtui(lab, "backup", "loc").returncode == 0
    os.chmod(lab.state, 0o1777)       # an operator's chmod (`check` says CRITICAL)
    wal = lab.state / "rabtui.db-wal"
    assert not wal.exists()           # SQLite removed it as the last connection closed
    theirs = open_base / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)

    def plant():
        _open_file(theirs / "wal")    # a second name of their own: the file outlives SQLite's unlink
        os.link(theirs / "wal", wal)
    as_nobody(plant)

    done = _rabtui(lab, "backup", "loc")

    assert (theirs / "wal").stat().st_size == 0, "root wrote its transactions into nobody's -wal"
    assert done.returncode != 0 and "Traceback" not in done.stdout + done.stderr, done.stderr
    assert "rabtui.db-wal belongs to user nobody" in done.stderr, done.stderr
    os.unlink(wal)                    # the fix it names: that file removed
    assert _rabtui(lab, "backup", "loc").returncode == 0
    assert sqlite3.connect(lab.state / "rabtui.db").execute("SELECT COUNT(*) FROM backups").fetchone()[0] == 2


def _theirs_in_open_state_dir(lab: Lab, names: list[str], folder: str = "logs") -> list:
    """The state directory open to all but sticky (root's database in it, made by a backup), and
    `folder` with the files `names` made there first by another user, open to all."""
    lab.state.mkdir(mode=0o1777)
    lab.state.chmod(0o1777)
    assert _rabtui(lab, "backup", "loc").returncode == 0
    theirs = lab.state / folder
    assert not theirs.exists()

    def plant():
        os.mkdir(theirs, 0o777)
        for name in names:
            _open_file(theirs / name)
    as_nobody(plant)
    return [theirs / name for name in names]


def test_a_jobs_log_another_user_made_first_is_not_written(open_base):
    from rabtui.state import jobs

    lab = _lab(open_base)
    planted = _theirs_in_open_state_dir(lab, [f"job-{n}.log" for n in range(1, 4)])
    store = lab.store()

    with pytest.raises(PermissionError, match="belongs to user nobody"):
        jobs.start_detached(store, lab.config_path, "backup", "loc", "backup loc", ["backup", "loc"])

    assert all(p.stat().st_size == 0 for p in planted)
    assert store.one("SELECT status FROM jobs ORDER BY id DESC LIMIT 1")["status"] not in ("queued", "running")


def test_the_uis_log_another_user_made_first_is_not_written(open_base):
    import logging

    from rabtui.cli import tui_cmds
    from rabtui.errors import WorkFailed

    lab = _lab(open_base)
    [planted] = _theirs_in_open_state_dir(lab, ["tui.log"])
    with root_logging_kept():
        with pytest.raises(WorkFailed, match="belongs to user nobody"):
            tui_cmds._log_to_file(lab.state)
        logging.getLogger("rabtui.tui").warning("backing up /root/secret-name-of-a-file")
    assert planted.stat().st_size == 0


def test_host_keys_another_user_can_change_are_not_trusted(tmp_path, sshd):
    """A `known_hosts` of another user's (or one they may write: their state directory, an
    operator's chmod) would let them stand in for a source: root would send a restore `--to-source`
    to them, and take what they send for the source's files."""
    from tests.trees import ssh_source_lines

    lab = Lab(tmp_path, media_count=1)
    src = lab.src / "data"
    write_files(src, {"a": b"a"})
    cfg = lab.write(ssh_source_lines(sshd) + f'\n[[sources.directories]]\npath = "{src}"\n')
    lab.trust(sshd)                   # stands for a key of theirs: the one the source really has
    assert lab.backup(cfg, "web", medium_id="m1").status == "completed"
    (src / "a").unlink()
    known = lab.state / "known_hosts"
    os.chown(known, NOBODY.pw_uid, NOBODY.pw_gid)

    result = lab.backup(cfg, "web", medium_id="m1")

    assert result.status == "failed", result.status
    assert f"{known} belongs to user nobody" in " ".join(lab.messages()), lab.messages()
    with pytest.raises(WorkFailed, match=f"{known} belongs to user nobody"):   # ssh read it, and sent it the file
        restore.restore(cfg, lab.store(), "web", str(src / "a"), to_source=True)
    assert not (src / "a").exists()
    os.chown(known, 0, 0)
    known.chmod(0o646)
    assert lab.backup(cfg, "web", medium_id="m1").status == "failed"
    assert f"{known} is writable by everyone" in " ".join(lab.messages())


def test_a_folder_another_user_made_first_in_an_open_state_dir_is_not_written_into(open_base):
    """`checkpoints/` made by them before root's first checkpoint (the state directory open to all,
    sticky): root wrote the catalogs there, where they may swap a folder of root's for theirs, with a
    symlink at the name of the catalog's temporary file (into /etc/shadow, say)."""
    lab = Lab(open_base, media_count=1)
    write_files(lab.src / "data", {"a": b"a"})
    lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{lab.src / "data"}"\n'
              f'[checkpoint]\ndisc = "4MiB"\ndrive = "images:{open_base / "iso"}"\n')
    _theirs_in_open_state_dir(lab, [], "checkpoints")

    done = _rabtui(lab, "checkpoint", "burn", "--yes")

    assert os.listdir(lab.state / "checkpoints") == [], "root wrote into nobody's folder"
    assert done.returncode != 0 and "Traceback" not in done.stdout + done.stderr, done.stderr
    assert "belongs to user nobody" in done.stdout + done.stderr, done.stdout + done.stderr


def test_a_folder_another_user_made_first_as_a_symlink_to_roots_is_not_written_into(open_base):
    """`logs` made first as a symlink of theirs to a directory of root's (/etc/cron.d, say) in the
    state directory open to all, sticky: root wrote its job logs there, through their symlink."""
    from rabtui.state import jobs

    lab = _lab(open_base)
    _theirs_in_open_state_dir(lab, [], "unused")
    roots = open_base / "roots"
    roots.mkdir(mode=0o755)
    as_nobody(lambda: os.symlink(roots, lab.state / "logs"))
    store = lab.store()

    with pytest.raises(PermissionError, match="a symlink of user nobody"):
        jobs.start_detached(store, lab.config_path, "backup", "loc", "backup loc", ["backup", "loc"])

    assert os.listdir(roots) == [], "root wrote through their symlink"


def test_a_symlink_another_user_put_at_the_wals_name_is_named(open_base):
    """Their symlink at the -wal's name, to a file not there in a directory of root's (/etc/cron.d,
    say): nothing is made there, and the run says whose symlink stops it (it said the state
    directory was full or read-only)."""
    lab = _lab(open_base)
    assert _rabtui(lab, "backup", "loc").returncode == 0
    os.chmod(lab.state, 0o1777)       # an operator's chmod (`check` says CRITICAL)
    roots = open_base / "roots"
    roots.mkdir(mode=0o755)
    as_nobody(lambda: os.symlink(roots / "rabtui", lab.state / "rabtui.db-wal"))

    done = _rabtui(lab, "backup", "loc")

    assert not os.path.lexists(roots / "rabtui"), "root made a file through their symlink"
    assert done.returncode != 0 and "Traceback" not in done.stdout + done.stderr, done.stderr
    assert "rabtui.db-wal" in done.stderr and "nobody" in done.stderr, done.stderr
