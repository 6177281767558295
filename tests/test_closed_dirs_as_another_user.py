"""rabtui run as a user other than root (uid 65534), backing up a source over SSH (the test sshd,
whose user is root: it reads everything) onto a medium of its own: directories closed to their
owner on the source (mode 0000 with what is in it, 0555) are closed to that user on the medium too,
as rsync wrote them. The next backup, the archive union, a restore from the medium, a checkpoint
and a cleanup go through them all the same, or say by name what they could not do."""

from __future__ import annotations

import _strptime  # noqa: F401  (the child as nobody cannot import what lives below /root)
import os
import shutil
import stat
import secrets  # noqa: F401
import subprocess
import threading  # noqa: F401
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rabtui.backup import deletion, retention
from rabtui.backup import pipeline  # noqa: F401
from rabtui.checkpoint import prepare, run  # noqa: F401
from rabtui.errors import WorkFailed
from rabtui.restore import run as R
from rabtui.ssh import remote  # noqa: F401  (post-backup commands, run by the child)
from tests.other_user import nobody_returns
from tests.trees import Lab, ssh_source_lines, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")

T0 = datetime(2026, 3, 1, 3, 0)
NOBODY = 65534


def _lab(base: Path, sshd, kind: str = "standard", more: str = "") -> tuple[Lab, Path]:
    """A source over SSH holding closed directories, rabtui's state, media, key and config
    nobody's; nothing backed up yet."""
    lab = Lab(base, media_count=1)
    data = lab.src / "data"
    write_files(data, {"closed/in": b"inside", "read-only/in": b"inside",
                       "read-only/sub/below": b"below", "plain/in": b"elsewhere"})
    os.chmod(data / "read-only", 0o555)
    os.chmod(data / "closed", 0)
    key = base / "key"
    key.write_bytes(Path(sshd.identity_file).read_bytes())
    key.chmod(0o600)
    lab.write(ssh_source_lines(sshd, "loc").replace(str(sshd.identity_file), str(key))
              + f'[[sources.directories]]\npath = "{data}"\nkind = "{kind}"\n'
              + "[retention]\nkeep_all_days = 2\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                "keep_monthly_months = 0\nkeep_yearly_years = 0\n" + more)
    lab.trust(sshd)
    (base / "home").mkdir()
    (base / "iso").mkdir()
    for p in (base / "home", base / "iso", lab.state, lab.media[0][1], key, lab.config_path):
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(p)], check=True)
    return lab, data


def _as_nobody(lab: Lab, fn):
    return nobody_returns(fn, lab.tmp / "home")


def _restored_as_nobody(lab: Lab, path: Path, out: Path | None = None, **kw) -> tuple[str, list[str]]:
    """`path` restored by the user other than root, into `out` (made, and theirs), else as `kw`
    says: the result's summary and what it did not restore, whether the restore finished or not."""
    if out is not None:
        out.mkdir()
        os.chown(out, NOBODY, NOBODY)
        kw["to"] = out

    def restore():
        try:
            got = R.restore(lab.load(), lab.store(), "loc", str(path), **kw)
        except R.RestoreIncomplete as exc:
            got = exc.result
        return got.summary, got.written.problems()
    return _as_nobody(lab, restore)


def _backup(lab: Lab, now: datetime) -> tuple[str, str | None]:
    def go():
        r = lab.backup(lab.load(), medium_id="m1", now=now)
        return r.status, r.reason
    return _as_nobody(lab, go)


def _differences(a: Path, b: Path) -> str:
    """rsync's own comparison (owners left out: a user other than root keeps none)."""
    return subprocess.run(["rsync", "-naHAXc", "--no-o", "--no-g", "--itemize-changes", f"{a}/", f"{b}/"],
                          capture_output=True, text=True, check=True).stdout


def _backup_data(lab: Lab, name: str, data: Path) -> Path:
    return lab.media[0][1] / "loc" / name / "data" / str(data).lstrip("/")


def test_a_backup_keeps_closed_directories_as_the_source_has_them(open_base, sshd):
    lab, data = _lab(open_base, sshd)
    assert _backup(lab, T0) == ("completed", None)
    name = T0.strftime("backup-%Y%m%d%H%M%S")
    assert _differences(data, _backup_data(lab, name, data)) == ""


def test_a_restore_from_the_medium_brings_back_what_closed_directories_hold(open_base, sshd):
    lab, data = _lab(open_base, sshd)
    assert _backup(lab, T0) == ("completed", None)
    out = open_base / "out"
    summary, problems = _restored_as_nobody(lab, data, out)
    assert not problems, summary
    assert _differences(data, out / str(data).lstrip("/")) == ""
    assert _differences(data, _backup_data(lab, T0.strftime("backup-%Y%m%d%H%M%S"), data)) == "", \
        "the backup's directories are not closed again as they were"


def test_a_directory_of_the_backup_that_cannot_be_read_is_named(open_base, sshd):
    """One that is not the restoring user's (a medium prepared elsewhere): it stays as it is, and
    what is in it is said not to be restored."""
    lab, data = _lab(open_base, sshd)
    assert _backup(lab, T0) == ("completed", None)
    closed = _backup_data(lab, T0.strftime("backup-%Y%m%d%H%M%S"), data) / "closed"
    os.chown(closed, 0, 0)
    out = open_base / "out"
    _, problems = _restored_as_nobody(lab, data, out)
    assert [p for p in problems if "closed: what is in it could not be read: Permission denied" in p], problems


def test_a_cleanup_deletes_a_backup_holding_closed_directories_whole(open_base, sshd):
    lab, data = _lab(open_base, sshd)
    assert _backup(lab, T0) == ("completed", None)
    assert _backup(lab, T0 + timedelta(days=3))[0] in ("completed", "warnings")

    def cleanup():
        cfg, store = lab.load(), lab.store()
        plan = retention.plan_cleanup(cfg, store, now=T0 + timedelta(days=4))
        done = deletion.apply_cleanup(cfg, store, plan)
        return [c.name for c in done.deleted], done.failed
    deleted, failed = _as_nobody(lab, cleanup)
    assert failed == [] and deleted == [T0.strftime("backup-%Y%m%d%H%M%S")], failed
    assert sorted(os.listdir(lab.media[0][1] / "loc")) == [(T0 + timedelta(days=3)).strftime("backup-%Y%m%d%H%M%S")]


def test_a_checkpoint_says_which_directory_of_the_backup_it_cannot_read(open_base, sshd):
    """What a directory closed to the user holds is read by xorriso from the medium, and the disc
    would take the directory with the mode it has there: a checkpoint of it is for root to write.
    It is refused before anything is recorded, naming the directory, with no traceback."""
    from rabtui.errors import WorkFailed

    lab, data = _lab(open_base, sshd, more=f'[checkpoint]\ndisc = "4MiB"\ndrive = "images:{open_base / "iso"}"\n')
    assert _backup(lab, T0) == ("completed", None)

    def checkpoint():
        cfg, store = lab.load(), lab.store()
        try:
            prepare.compute(cfg, store, asked={"*"})
        except WorkFailed as exc:
            return str(exc), store.one("SELECT COUNT(*) AS n FROM checkpoints")["n"]
        return None, None
    said, recorded = _as_nobody(lab, checkpoint)
    assert said is not None and recorded == 0
    assert f"loc:{data}: cannot read closed (mode 0000) in backup {T0:backup-%Y%m%d%H%M%S}" in said, said


def test_an_archive_directory_with_closed_directories_is_linked_into_its_union(open_base, sshd):
    lab, data = _lab(open_base, sshd, kind="archive")
    assert _backup(lab, T0) == ("completed", None)
    union = lab.media[0][1] / "loc" / ".archive" / str(data).lstrip("/")
    assert (union / "closed" / "in").read_bytes() == b"inside"
    assert _differences(data, _backup_data(lab, T0.strftime("backup-%Y%m%d%H%M%S"), data)) == "", \
        "the backup's directories are not closed again as they were"
    out = open_base / "out"
    summary, problems = _restored_as_nobody(lab, data, out)
    assert not problems, summary
    # the directories too, as the backup's own tree has them: `closed` came back 0500, the mode it
    # had there while the restore had it opened to read what it holds
    assert _differences(data, out / str(data).lstrip("/")) == ""


def test_a_restore_onto_the_source_over_ssh_names_the_closed_directories_rsync_cannot_send(open_base, sshd):
    """rsync sends the backup as it holds it, from the medium, as the user: a directory closed to
    them is not read (opening it would give it their rights on the source). The rest is restored,
    and that one is named."""
    lab, data = _lab(open_base, sshd)
    assert _backup(lab, T0) == ("completed", None)
    kept = open_base / "kept"
    subprocess.run(["cp", "-a", str(data), str(kept)], check=True)
    subprocess.run(["rm", "-rf", str(data / "closed"), str(data / "read-only")], check=True)

    summary, problems = _restored_as_nobody(lab, data, to_source=True, overwrite=True)
    differ = subprocess.run(["rsync", "-naHAXc", "--numeric-ids", "--itemize-changes", f"{kept}/", f"{data}/"],
                            capture_output=True, text=True, check=True).stdout
    assert [p for p in problems if 'opendir "' in p and '/closed" failed: Permission denied' in p], summary
    # the rest as backed up: owners are the user's, who could keep none
    assert [line for line in differ.splitlines() if line[6:8] != "og"] == [">f+++++++++ closed/in"], differ


def test_on_a_medium_mounted_read_only_the_closed_directories_are_named(open_base, sshd, bind_mount):
    lab, data = _lab(open_base, sshd)
    assert _backup(lab, T0) == ("completed", None)
    medium = lab.media[0][1]
    bind_mount(medium, medium)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(medium)], check=True)
    out = open_base / "out"
    _, problems = _restored_as_nobody(lab, data, out)
    assert [p for p in problems if "closed: what is in it could not be read: Permission denied" in p], problems
    assert (out / str(data).lstrip("/") / "read-only" / "sub" / "below").read_bytes() == b"below"


def test_a_file_in_a_closed_directory_is_restored_alone(open_base, sshd):
    lab, data = _lab(open_base, sshd)
    assert _backup(lab, T0) == ("completed", None)
    out = open_base / "out"
    summary, problems = _restored_as_nobody(lab, data / "closed" / "in", out)
    assert not problems, summary
    assert (out / str(data).lstrip("/") / "closed" / "in").read_bytes() == b"inside"
    assert _differences(data, _backup_data(lab, T0.strftime("backup-%Y%m%d%H%M%S"), data)) == "", \
        "the backup's directories are not closed again as they were"


def test_what_kept_data_saved_is_found_through_its_closed_directories(open_base, sshd):
    """A kept backup holds the source's closed directories as they are (rsync makes them all, empty
    or not): the symlinks and empty directories only it saved are looked for through them, and a
    checkpoint planned by the user other than root takes them."""
    lab, data = _lab(open_base, sshd, kind="archive",
                     more=f'[checkpoint]\ndisc = "4MiB"\ndrive = "images:{open_base / "iso"}"\n')
    failing = 'post_backup_commands = ["exit 4"]\n'
    text = lab.config_path.read_text()
    assert _backup(lab, T0) == ("completed", None)
    os.symlink("in", data / "plain/link")
    os.mkdir(data / "plain/empty")
    lab.config_path.write_text(text.replace("[[sources.directories]]", failing + "[[sources.directories]]", 1))
    assert _backup(lab, T0 + timedelta(days=1))[0] == "failed"
    os.unlink(data / "plain/link")
    os.rmdir(data / "plain/empty")
    lab.config_path.write_text(text)
    assert _backup(lab, T0 + timedelta(days=2))[0] in ("completed", "warnings")
    kept = _backup_data(lab, (T0 + timedelta(days=1)).strftime("backup-%Y%m%d%H%M%S"), data)
    assert stat.S_IMODE(os.lstat(kept / "closed").st_mode) == 0

    def planned():
        c = prepare.compute(lab.load(), lab.store(), asked={"*"})
        return {p: m for d in c.data for p, m in zip(d.paths, d.marks)}
    got = _as_nobody(lab, planned)
    assert got[b"plain/link"] == "symlink" and got[b"plain/empty"] == "dir", got
    assert stat.S_IMODE(os.lstat(kept / "closed").st_mode) == 0, "closed again as it was"


@pytest.mark.parametrize("saved", ["entries", "file"])
def test_what_kept_data_saved_inside_a_closed_directory_is_refused_by_the_plan_with_its_reason(open_base, sshd, saved):
    """The burn and its verification read what only kept data saved where the kept backup holds it:
    one in a directory closed to the user other than root is refused when planned, naming that
    directory (root writes such a checkpoint), not a traceback; a restore from the medium brings it
    back."""
    lab, data = _lab(open_base, sshd, kind="archive",
                     more=f'[checkpoint]\ndisc = "4MiB"\ndrive = "images:{open_base / "iso"}"\n')
    failing = 'post_backup_commands = ["exit 4"]\n'
    text = lab.config_path.read_text()
    assert _backup(lab, T0) == ("completed", None)
    os.chmod(data / "closed", 0o700)
    made = ["link", "empty"] if saved == "entries" else ["kept.txt"]
    if saved == "entries":
        os.symlink("in", data / "closed/link")
        os.mkdir(data / "closed/empty")
    else:
        (data / "closed/kept.txt").write_bytes(b"kept only")
    os.chmod(data / "closed", 0)
    lab.config_path.write_text(text.replace("[[sources.directories]]", failing + "[[sources.directories]]", 1))
    assert _backup(lab, T0 + timedelta(days=1))[0] == "failed"
    os.chmod(data / "closed", 0o700)
    for name in made:
        (data / "closed" / name).rmdir() if name == "empty" else (data / "closed" / name).unlink()
    os.chmod(data / "closed", 0)
    lab.config_path.write_text(text)
    assert _backup(lab, T0 + timedelta(days=2))[0] in ("completed", "warnings")
    kept = _backup_data(lab, (T0 + timedelta(days=1)).strftime("backup-%Y%m%d%H%M%S"), data)

    def planned():
        try:
            prepare.compute(lab.load(), lab.store(), asked={"*"})
        except WorkFailed as exc:
            return str(exc), exc.hint
        return "planned", None
    said, hint = _as_nobody(lab, planned)
    assert said.startswith(f"loc:{data}: cannot read {kept / 'closed'}, a directory of kept data on medium m1:"
                           " permission denied"), said
    assert "root writes the checkpoint" in hint
    assert stat.S_IMODE(os.lstat(kept / "closed").st_mode) == 0, "closed again as it was"
    summary, problems = _restored_as_nobody(lab, data, open_base / "out")
    assert not problems, summary
    out = open_base / "out" / str(data).lstrip("/")
    os.chmod(out / "closed", 0o700)
    if saved == "entries":
        assert os.readlink(out / "closed/link") == "in" and os.listdir(out / "closed/empty") == []
    else:
        assert (out / "closed/kept.txt").read_bytes() == b"kept only"


def _killed_as_nobody(lab: Lab, fn, point: str) -> None:
    """`fn()` run in a child process as the user other than root, killed (SIGKILL) at the fault
    point `point`."""
    from rabtui import faults

    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.environ["HOME"] = str(lab.tmp / "home")
            os.environ[faults.ENV] = point
            fn()
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9, status


def test_a_restore_killed_while_the_backups_closed_directories_are_open_leaves_them_closed(open_base, sshd):
    """A restore by the user other than root opens the backup's closed directories on the medium
    to read them; killed meanwhile (SIGKILL), it left them open for good: the older backup changed,
    and each restore and checkpoint of it gave those directories the opened mode. The next run
    gives them their own modes back, and the restore run again restores them as they were."""
    lab, data = _lab(open_base, sshd)
    assert _backup(lab, T0) == ("completed", None)
    in_backup = _backup_data(lab, T0.strftime("backup-%Y%m%d%H%M%S"), data)
    modes = {p: stat.S_IMODE(os.lstat(in_backup / p).st_mode) for p in ("closed", "read-only")}
    out = open_base / "out"
    out.mkdir()
    os.chown(out, NOBODY, NOBODY)
    _killed_as_nobody(lab, lambda: R.restore(lab.load(), lab.store(), "loc", str(data), to=out),
                      "restore.file_written")
    summary, problems = _restored_as_nobody(lab, data, to=out, overwrite=True)
    assert not problems, summary
    assert {p: stat.S_IMODE(os.lstat(in_backup / p).st_mode) for p in modes} == modes == {"closed": 0,
                                                                                          "read-only": 0o555}
    assert _differences(data, out / str(data).lstrip("/")) == ""
    assert os.listdir(lab.state / "opened") == []


def test_what_a_killed_restore_wrote_down_of_a_backup_gone_since_is_dropped_of_a_medium_away_kept(
        open_base, sshd, tmpfs):
    """A restore killed while the backup's closed directories were open leaves them written down
    (STATE_DIR/opened/) for the next run to give them their modes back. The medium away then
    (another file system where it was) keeps them for its return; the backup deleted meanwhile (by
    a cleanup run as root, or by hand) drops them: they were kept, and read at each run, for good."""
    from rabtui.media import opened_journal

    lab, data = _lab(open_base, sshd)
    assert _backup(lab, T0) == ("completed", None)
    in_backup = _backup_data(lab, T0.strftime("backup-%Y%m%d%H%M%S"), data)
    journal = lab.state / "opened"

    def killed(out: Path) -> list[str]:
        out.mkdir()
        os.chown(out, NOBODY, NOBODY)
        _killed_as_nobody(lab, lambda: R.restore(lab.load(), lab.store(), "loc", str(data), to=out),
                          "restore.file_written")
        assert stat.S_IMODE(os.lstat(in_backup / "closed").st_mode) == 0o500    # opened to be read
        assert len(os.listdir(journal)) == 1
        return os.listdir(journal)

    def next_run() -> None:
        _as_nobody(lab, lambda: opened_journal.give_back(lab.state))

    written = killed(open_base / "out")
    medium = tmpfs(lab.media[0][1], "size=1m")
    next_run()
    assert os.listdir(journal) == written
    subprocess.run(["umount", str(medium)], check=True)
    next_run()
    assert os.listdir(journal) == [] and stat.S_IMODE(os.lstat(in_backup / "closed").st_mode) == 0
    killed(open_base / "again")
    shutil.rmtree(lab.media[0][1] / "loc" / T0.strftime("backup-%Y%m%d%H%M%S"))
    next_run()
    assert os.listdir(journal) == []


def test_a_file_below_a_read_only_directory_is_restored_alone(open_base, sshd):
    """Restored alone by its user into their own directory, a file below a directory the backup
    has read-only (0555, as Go's module cache keeps them): the directories made on the way take
    the backup's modes only once what is below them is written."""
    lab, data = _lab(open_base, sshd)
    assert _backup(lab, T0) == ("completed", None)
    out = open_base / "out"
    summary, problems = _restored_as_nobody(lab, data / "read-only" / "sub" / "below", out)
    assert not problems, summary
    restored = out / str(data).lstrip("/") / "read-only"
    assert (restored / "sub" / "below").read_bytes() == b"below"
    assert stat.S_IMODE(os.stat(restored).st_mode) == 0o555
