"""A backup whose state directory fills up at its step 6 or 7 (a real small tmpfs, real rsync): the run
fails saying so, and its backup.json on the medium says `failed` with that reason, not `running`,
with what step 7 linked into the archive union undone and no temporary file of its record left;
one whose transfer had ended whole leaves it saying so, for its data to be kept. Its database row
stays `running` (it cannot be written); once there is room, the next run's recovery records it as
its backup.json says, and so does rebuild-state."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess

import pytest

from rabtui.backup.records import transfer_whole
from tests import invariants, preloaded
from tests.test_medium_identity import _killed, _rabtui, _stopped_at
from tests.test_union_undo_lock import _Holder
from tests.trees import Lab, fill_up, write_files


def _small_state(tmp_path, tmpfs) -> Lab:
    """A lab of one medium whose state directory is on a tmpfs of its own, 8 MiB: one that fills up."""
    lab = Lab(tmp_path, media_count=1)
    lab.state = tmpfs(tmp_path / "small", "size=8m") / "state"
    return lab


def _lab(tmp_path, tmpfs) -> Lab:
    lab = _small_state(tmp_path, tmpfs)
    lab.local([("data", "standard"), ("arch", "archive")])
    write_files(lab.src / "data", {"a": 300})
    write_files(lab.src / "arch", {"x": "x1"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    write_files(lab.src / "data", {"b": 300})
    write_files(lab.src / "arch", {"y": "y1", "x": "x2"})
    return lab


def _state_full_at(lab: Lab, point: str, *, union_held: bool = False, args: tuple[str, ...] = ("backup", "loc"),
                   meanwhile=None) -> tuple[subprocess.Popen, str, dict]:
    """A backup of `loc` (`rabtui ARGS`) stopped at `point` goes on once the state directory is full
    (and, with `union_held`, another holds the source's union: what it linked there cannot be
    undone; `meanwhile()` is called before it fills)."""
    run = holder = None
    try:
        run = _stopped_at(lab, point, *args)
        row = dict(lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
        if union_held:
            holder = _Holder(lab)
        if meanwhile is not None:
            meanwhile()
        fill_up(lab.state.parent / "filler")
        run.send_signal(signal.SIGCONT)
        out = run.communicate(timeout=120)[0].decode()
    finally:
        if holder is not None:
            holder.release()
        _killed(run)
    return run, out, row


def _union(lab: Lab) -> dict[str, str]:
    root = lab.media[0][1] / "loc" / ".archive"
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name)) as f:
                out[name] = f.read()
    return out


@pytest.mark.parametrize("point, then", [
    ("backup.step5", "backup"),            # step 6 cannot be recorded begun: its transfer ended whole, the data kept
    ("backup.step5", "rebuild-state"),
    ("backup.step6", "backup"),            # its sizes cannot be recorded: nothing of step 7 written, the data kept
    ("backup.step6", "rebuild-state"),
    ("backup.archive_linked", "backup"),   # its catalog cannot be: its archive links are undone, the data kept
    ("backup.archive_linked", "rebuild-state"),
])
def test_a_backup_whose_state_directory_is_full_says_failed_on_its_medium(tmp_path, tmpfs, point, then):
    lab = _lab(tmp_path, tmpfs)
    before = _union(lab)
    run, out, row = _state_full_at(lab, point)
    assert run.returncode == 1 and "Traceback" not in out, out
    assert "state database" in out and "cannot be written" in out, out
    with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
        record = json.load(f)
    # in step 7: its backup.json says its transfer ended whole, for the data to be kept, and the
    # room kept for its final record stays with it
    assert transfer_whole(record), record
    assert sorted(os.listdir(row["path"])) == ["backup.json", "backup.json.tmp", "backup.log", "data"]
    assert _union(lab) == before        # y and x2 were never this medium's complete data
    with open(os.path.join(row["path"], "backup.log"), encoding="utf-8") as f:
        log = f.read()
    assert "backup of loc failed: the state database" in log
    assert "its transfer had ended whole" in log, log

    os.unlink(lab.state.parent / "filler")
    assert lab.store().one("SELECT status FROM backups WHERE id=?", (row["id"],))["status"] == "running"
    if then == "backup":
        done = _rabtui(lab, "backup", "loc")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "its transfer had ended whole: kept" in done.stdout, done.stdout
        assert _union(lab) == {"x": "x2", "y": "y1"}
    else:
        done = _rabtui(lab, "rebuild-state")
        assert done.returncode in (0, 3), done.stdout + done.stderr
        assert _union(lab) == before
    store = lab.store()
    got = store.one("SELECT * FROM backups WHERE name=?", (row["name"],))
    assert got["status"] == "kept", dict(got)
    # why it stopped, as its backup.log says it: the state database full (it said only how far it got)
    assert "the state database" in got["reason"] and "cannot be written" in got["reason"], got["reason"]
    assert os.path.isdir(row["path"])
    invariants.check_json_agrees(lab.load(), store)
    invariants.check_catalog_is_media(lab.load(), store)


@pytest.mark.parametrize("full_at, then", [
    ("as the failed command's step 6 is recorded", "backup"),   # the command itself fills it
    ("as the failed command's step 6 is recorded", "rebuild-state"),
    ("as step 7 begins", "backup"),
    ("as step 7 begins", "rebuild-state"),
])
def test_a_failed_post_backup_command_then_a_full_state_directory_keeps_the_data_both_said(
        tmp_path, tmpfs, full_at, then):
    """A post-backup command fails after the transfer ended whole (the data to be kept), then the
    state directory is full: the data is kept by the next run (or rebuild-state), its reason naming
    both the command's failure and the full state database (it named neither, only backup.log did)."""
    lab = _small_state(tmp_path, tmpfs)
    once = tmp_path / "failed-once"     # the next backup's own command does not fail
    fill = f"cat /dev/zero > {lab.state.parent}/filler 2>/dev/null; " if full_at.startswith("as the failed") else ""
    post = f"test -e {once} && exit 0; touch {once}; {fill}exit 4"
    lab.local(extra=f"post_backup_commands = {json.dumps([post])}")
    write_files(lab.src / "data", {"a": "a1"})
    if full_at.startswith("as the failed"):
        out, row, _ = _failed_as_the_state_fills(lab)
    else:
        run, out, row = _state_full_at(lab, "backup.step6")
        assert run.returncode == 1 and "Traceback" not in out and "cannot be written" in out, out
    with open(os.path.join(row["path"], "backup.log"), encoding="utf-8") as f:
        assert "post-backup command failed (exit 4)" in f.read()
    _kept_after(lab, row, then)
    got = lab.store().one("SELECT reason FROM backups WHERE name=?", (row["name"],))["reason"]
    assert "post-backup command failed (exit 4)" in got and "the state database" in got, got
    assert "the data is kept" in got, got


def test_two_sources_whose_medium_and_state_directory_fill_up_at_once_say_failed_on_the_medium(tmp_path, tmpfs):
    """Two sources' backups (processes of their own) on one medium reach step 7 when both their
    medium (to its last block and inode) and the state directory are full: their transfers had
    ended whole, so each one's backup.json stays saying so (the room kept for its final record left
    with it) and each one's log says why it failed; once there is room, the next run of each keeps
    its data."""
    from tests.test_full_medium_final_record import _fill_inodes

    lab = _small_state(tmp_path, tmpfs)
    medium = tmpfs(lab.media[0][1], "size=8m,nr_inodes=400")
    lab.write(lab._local_source([("one", "archive")], "", "one") + lab._local_source([("two", "standard")], "", "two"))
    write_files(lab.src / "one", {"x": "x1"})
    write_files(lab.src / "two", {"y": "y1"})
    runs = []
    try:
        for source in ("one", "two"):
            runs.append(_stopped_at(lab, "backup.step6", "backup", source))
        rows = [dict(r) for r in lab.store().all("SELECT * FROM backups ORDER BY id")]
        fill_up(medium / "filler")
        _fill_inodes(medium / "inodes")
        fill_up(lab.state.parent / "filler")
        outs = []
        for run in runs:
            run.send_signal(signal.SIGCONT)
            outs.append(run.communicate(timeout=120)[0].decode())
    finally:
        _killed(*runs)
    for run, out, row in zip(runs, outs, rows):
        assert run.returncode == 1 and "Traceback" not in out and "cannot be written" in out, out
        with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
            assert transfer_whole(json.load(f))
        assert sorted(os.listdir(row["path"])) == ["backup.json", "backup.json.tmp", "backup.log", "data"]
        with open(os.path.join(row["path"], "backup.log"), encoding="utf-8") as f:
            assert "its transfer had ended whole" in f.read()
    for name in ("filler", "inodes"):
        (os.unlink if name == "filler" else shutil.rmtree)(medium / name)
    os.unlink(lab.state.parent / "filler")
    for source in ("one", "two"):
        done = _rabtui(lab, "backup", source)
        assert done.returncode == 0 and "its transfer had ended whole: kept" in done.stdout, done.stdout + done.stderr
    store = lab.store()
    assert [store.one("SELECT status FROM backups WHERE id=?", (r["id"],))["status"] for r in rows] == ["kept"] * 2
    for row in rows:
        with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
            assert json.load(f)["status"] == "kept"
    invariants.check_json_agrees(lab.load(), store)
    invariants.check_catalog_is_media(lab.load(), store)


def test_the_post_backup_commands_run_when_the_state_directory_fills_up_after_the_pre_backup_ones(tmp_path, tmpfs):
    """The pre-backup commands ran (a service stopped, say), then the state directory filled up:
    the post-backup commands that undo them run all the same, said in the run's log on the medium
    and in its backup.json, which says failed."""
    lab = _small_state(tmp_path, tmpfs)
    marks = tmp_path / "marks"
    marks.mkdir()
    lab.local(extra=f'pre_backup_commands = ["touch {marks}/stopped"]\n'
                    f'post_backup_commands = ["rm {marks}/stopped", "touch {marks}/started"]')
    write_files(lab.src / "data", {"a": "a1"})
    run, out, row = _state_full_at(lab, "backup.step4")
    assert run.returncode == 1 and "Traceback" not in out and "cannot be written" in out, out
    assert sorted(os.listdir(marks)) == ["started"]
    with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
        assert json.load(f)["status"] == "failed"
    with open(os.path.join(row["path"], "backup.log"), encoding="utf-8") as f:
        assert f"post-backup: $ touch {marks}/started" in f.read()


@pytest.mark.parametrize("then", ["backup", "rebuild-state"])
def test_the_links_a_failed_run_could_not_undo_are_undone_next(tmp_path, tmpfs, then):
    """The state directory filled up after step 7 linked the new archive files and wrote the
    catalog, and another held the union (a cleanup hung on its medium) past the source's
    io_timeout: the run's backup.json still says its transfer ended whole, its links left. The next
    run's recovery, or rebuild-state run before it, undoes them and keeps its data as a killed
    run's: the union shows again what the complete backups saved."""

    lab = _small_state(tmp_path, tmpfs)
    lab.local([("arch", "archive")], extra="io_timeout = 1")
    write_files(lab.src / "arch", {"x": "x1"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    write_files(lab.src / "arch", {"y": "y1", "x": "x2"})
    before = _union(lab)
    run, out, row = _state_full_at(lab, "backup.catalog", union_held=True)
    assert run.returncode == 1 and "cannot be written" in out, out
    with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
        record = json.load(f)
    assert transfer_whole(record), record
    with open(os.path.join(row["path"], "backup.log"), encoding="utf-8") as f:
        assert "cannot be undone now" in f.read()
    assert _union(lab) == {"x": "x2", "y": "y1"}

    os.unlink(lab.state.parent / "filler")
    write_files(lab.src / "arch", {"z": "z1"})
    done = _rabtui(lab, then, "loc") if then == "backup" else _rabtui(lab, then)
    assert done.returncode in (0, 3), done.stdout + done.stderr
    assert _union(lab) == ({"x": "x2", "y": "y1", "z": "z1"} if then == "backup" else before)
    assert then != "backup" or "its transfer had ended whole: kept" in done.stdout, done.stdout
    store = lab.store()
    assert store.one("SELECT status FROM backups WHERE name=?", (row["name"],))["status"] == "kept"
    invariants.check_json_agrees(lab.load(), store)
    invariants.check_catalog_is_media(lab.load(), store)


@pytest.mark.parametrize("full_at", ["end of step 4", "start of step 6", "end of step 6"])
def test_the_post_backup_commands_run_once_whenever_the_state_directory_fills_up_after_the_pre_backup_ones(
        tmp_path, tmpfs, full_at):
    """The state directory fills up while the pre-backup commands run (the last of them fills it),
    or once the transfer is recorded but before step 6 is: the post-backup commands that undo them
    run all the same; once, also when it fills up while they run."""
    lab = _small_state(tmp_path, tmpfs)
    marks = tmp_path / "marks"
    marks.mkdir()
    pre = [f"touch {marks}/stopped"]
    if full_at == "end of step 4":
        pre.append(f"cat /dev/zero > {lab.state.parent}/filler; true")
    post = [f"rm {marks}/stopped", f"echo x >> {marks}/started"]
    if full_at == "end of step 6":
        post.append(f"cat /dev/zero > {lab.state.parent}/filler; true")
    lab.local(extra=f"pre_backup_commands = {json.dumps(pre)}\npost_backup_commands = {json.dumps(post)}")
    write_files(lab.src / "data", {"a": "a1"})
    if full_at != "start of step 6":
        run = preloaded.Popen([*_argv(lab), "backup", "loc"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
        out = run.communicate(timeout=120)[0].decode()
        os.unlink(lab.state.parent / "filler")
        row = dict(lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    else:
        run, out, row = _state_full_at(lab, "backup.step5")
    assert run.returncode == 1 and "Traceback" not in out and "cannot be written" in out, out
    assert sorted(os.listdir(marks)) == ["started"], out
    assert (marks / "started").read_text() == "x\n", out
    with open(os.path.join(row["path"], "backup.log"), encoding="utf-8") as f:
        assert f"post-backup: $ rm {marks}/stopped" in f.read()
    if full_at == "end of step 4":
        with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
            assert json.load(f)["status"] == "failed"
    else:       # in step 6: its transfer had ended whole, the data kept (rebuild-state: no command fills it again)
        _kept_after(lab, row, "backup" if full_at == "start of step 6" else "rebuild-state")


def _kept_after(lab: Lab, row: dict, then: str) -> None:
    """The run of `row` left its backup.json saying its transfer ended whole; once there is room,
    `then` (the next backup's recovery, or rebuild-state) keeps its data, said."""
    with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
        assert transfer_whole(json.load(f))
    if os.path.exists(lab.state.parent / "filler"):
        os.unlink(lab.state.parent / "filler")
    done = _rabtui(lab, then, *(["loc"] if then == "backup" else []))
    assert done.returncode in ((0,) if then == "backup" else (0, 3)), done.stdout + done.stderr
    if then == "backup":
        assert "its transfer had ended whole: kept" in done.stdout, done.stdout
    got = lab.store().one("SELECT * FROM backups WHERE name=?", (row["name"],))
    assert got["status"] == "kept", dict(got)
    assert "did not run" not in got["reason"], dict(got)      # they ran, unrecorded: never said not run
    assert os.path.isdir(os.path.join(row["path"], "data"))


def _argv(lab: Lab) -> list[str]:
    import sys

    return [sys.executable, "-m", "rabtui", "--config", str(lab.config_path)]


def _failed_as_the_state_fills(lab: Lab) -> tuple[str, dict, dict]:
    """A backup of loc whose commands fill the state directory (`filler`, removed after): it fails,
    saying the state cannot be written. Its output, its row and its backup.json."""
    write_files(lab.src / "data", {"a": "a1"})
    run = subprocess.run([*_argv(lab), "backup", "loc"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                         timeout=120)
    out = run.stdout + run.stderr
    os.unlink(lab.state.parent / "filler")
    assert run.returncode == 1 and "Traceback" not in out and "cannot be written" in out, out
    row = dict(lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
        record = json.load(f)
    return out, row, record


def test_a_failed_transfer_whose_post_backup_commands_fill_the_state_directory_says_failed_on_its_medium(
        tmp_path, tmpfs):
    """rsync failed after the pre-backup commands ran; the post-backup commands that then run fill
    the state directory: the run's backup.json says failed, with both reasons, not running."""
    lab = _small_state(tmp_path, tmpfs)
    failing = tmp_path / "bin" / "rsync"
    failing.parent.mkdir()
    failing.write_text("#!/bin/sh\necho 'no room on the source' >&2\nexit 12\n")
    failing.chmod(0o755)
    post = [f"cat /dev/zero > {lab.state.parent}/filler; true"]
    lab.local(extra=f'rsync_path = "{failing}"\npre_backup_commands = ["true"]\n'
                    f"post_backup_commands = {json.dumps(post)}")
    _, row, record = _failed_as_the_state_fills(lab)
    assert record["status"] == "failed", record
    assert "rsync" in record["reason"] and "state database" in record["reason"], record["reason"]
    done = _rabtui(lab, "backup", "loc")       # its own post-backup commands fill it again
    os.unlink(lab.state.parent / "filler")
    assert "its backup.json says failed" in done.stdout, done.stdout + done.stderr
    assert lab.store().one("SELECT status FROM backups WHERE id=?", (row["id"],))["status"] == "failed"


def test_rebuild_state_undoes_the_links_of_a_failed_run_made_after_a_complete_one_dated_ahead(tmp_path, tmpfs):
    """A complete backup was dated ahead by a clock that was wrong (named after the runs that came
    after it); a run after it linked its new archive files, then failed with its links left (the
    state directory full, another holding the union): rebuild-state goes by which was made first,
    as recovery does, and undoes them; the union shows what the complete backups saved."""
    from datetime import datetime, timedelta


    lab = _small_state(tmp_path, tmpfs)
    cfg = lab.local([("arch", "archive")], extra="io_timeout = 1")
    write_files(lab.src / "arch", {"x": "x1"})
    assert lab.backup(cfg, "loc").status == "completed"
    write_files(lab.src / "arch", {"y": "y1"})
    assert lab.backup(cfg, "loc", now=datetime.now() + timedelta(days=1)).status == "completed"
    before = _union(lab)
    write_files(lab.src / "arch", {"z": "z1", "x": "x2"})
    run, out, _ = _state_full_at(lab, "backup.catalog", union_held=True)
    assert run.returncode == 1 and "cannot be written" in out, out
    assert _union(lab) == {"x": "x2", "y": "y1", "z": "z1"}     # its links, left
    os.unlink(lab.state.parent / "filler")
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode in (0, 3), done.stdout + done.stderr
    assert _union(lab) == before
    store = lab.store()
    invariants.check_json_agrees(lab.load(), store)
    invariants.check_catalog_is_media(lab.load(), store)


@pytest.mark.parametrize("full_at", ["backup.step4", "backup.step5"])
def test_the_post_backup_commands_run_over_ssh_when_the_state_directory_fills_up(tmp_path, tmpfs, request, full_at):
    """As above, a source reached over SSH (the test sshd): the post-backup commands run on it all
    the same, though the state directory, which holds the SSH connection's files, is full."""
    from tests.trees import ssh_source_lines

    sshd = request.getfixturevalue("sshd")
    lab = _small_state(tmp_path, tmpfs)
    marks = tmp_path / "marks"
    marks.mkdir()
    write_files(lab.src / "data", {"a": "a1"})
    lab.write(ssh_source_lines(sshd, "loc") + f'pre_backup_commands = ["touch {marks}/stopped"]\n'
              f'post_backup_commands = ["rm {marks}/stopped", "touch {marks}/started"]\n'
              f'[[sources.directories]]\npath = "{lab.src / "data"}"\n')
    lab.trust(sshd)
    run, out, row = _state_full_at(lab, full_at)
    assert run.returncode == 1 and "Traceback" not in out and "cannot be written" in out, out
    assert sorted(os.listdir(marks)) == ["started"], out
    if full_at == "backup.step4":
        with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
            assert json.load(f)["status"] == "failed"
    else:       # as step 6 begins: its transfer had ended whole, the data kept by the next backup
        _kept_after(lab, row, "backup")


def test_no_post_backup_command_runs_when_a_pre_backup_one_failed_and_the_state_directory_filled_up(
        tmp_path, tmpfs):
    """A pre-backup command fails, having filled the state directory: as after any failure of
    theirs, no post-backup command runs; the run says failed on its medium."""
    lab = _small_state(tmp_path, tmpfs)
    marker = tmp_path / "post-ran"
    pre = [f"cat /dev/zero > {lab.state.parent}/filler 2>/dev/null; exit 3"]
    lab.local(extra=f'pre_backup_commands = {json.dumps(pre)}\npost_backup_commands = ["touch {marker}"]')
    out, _, record = _failed_as_the_state_fills(lab)
    assert not marker.exists(), out
    assert record["status"] == "failed" and "pre-backup command failed (exit 3)" in record["reason"], record


def test_no_post_backup_command_runs_when_the_pre_backup_ones_were_cancelled_and_the_state_directory_full(
        tmp_path, tmpfs):
    """Ctrl-C while a pre-backup command runs, the state directory full meanwhile: as after any
    cancel there, no post-backup command runs; the run says failed on its medium."""
    import time

    lab = _small_state(tmp_path, tmpfs)
    marks = tmp_path / "marks"
    marks.mkdir()
    lab.local(extra=f'pre_backup_commands = ["touch {marks}/began; sleep 60"]\n'
                    f'post_backup_commands = ["touch {marks}/post-ran"]')
    write_files(lab.src / "data", {"a": "a1"})
    run = preloaded.Popen([*_argv(lab), "backup", "loc"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (marks / "began").exists():
            assert run.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        fill_up(lab.state.parent / "filler")
        run.send_signal(signal.SIGINT)
        out = run.communicate(timeout=120)[0].decode()
    finally:
        _killed(run)
    os.unlink(lab.state.parent / "filler")
    assert run.returncode != 0 and "Traceback" not in out, out
    assert sorted(os.listdir(marks)) == ["began"], out
    row = dict(lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
        assert json.load(f)["status"] == "failed"


@pytest.mark.parametrize("argv", [["backup", "--all"], ["run-due", "--now", "2026-10-01T03:00"]])
def test_a_parallel_run_whose_state_directory_fills_up_reports_every_source_s_outcome(tmp_path, tmpfs, argv):
    """`backup --all` (or `run-due`), two sources at once and a third waiting its turn: the first
    one's pre-backup command fills the state directory, so that the third's job cannot even be taken
    over when its turn comes. Each source's outcome is reported, named, and the run exits with the
    worst (issue 19)."""
    lab = _small_state(tmp_path, tmpfs)
    fill = [f"cat /dev/zero > {lab.state.parent}/filler 2>/dev/null; true"]
    due = 'schedule = "0 2 * * *"\n'
    lab.write(lab._local_source([("one", "standard")], f"{due}pre_backup_commands = {json.dumps(fill)}", "one")
              + lab._local_source([("two", "standard")], f'{due}pre_backup_commands = ["sleep 1"]', "two")
              + lab._local_source([("three", "standard")], due, "three"))
    lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", "[rabtui]\nmax_parallel = 2\n", 1))
    for source in ("one", "two", "three"):
        write_files(lab.src / source, {"f": source})
    done = _rabtui(lab, *argv)
    os.unlink(lab.state.parent / "filler")
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out, out
    for source in ("one", "two", "three"):     # the backup failed so, or its job could not start
        assert re.search(rf"^(rabtui: )?{source}: (failed: )?the state database", out, re.M), out



def test_a_scheduled_backup_whose_end_fills_the_state_directory_is_said_once_as_it_ended(tmp_path, tmpfs):
    """`run-due`: a backup fails (a directory missing), its job's row says so, and the state
    directory fills before its schedule's mark is written. Its outcome is said as it ended (why it
    failed, and what could not be recorded), notified once (the health check's changes after it,
    the full directory among them, are notified too), and the run exits 1."""
    lab = _small_state(tmp_path, tmpfs)
    notified, script = tmp_path / "notified", tmp_path / "notify.sh"
    script.write_text(f"cat >> {notified}; echo >> {notified}\n")
    lab.write(lab._local_source([("one", "standard")], 'schedule = "0 2 * * *"\n', "one")
              + f'\n[notify]\ncommand = "sh {script}"\n')
    shutil.rmtree(lab.src / "one", ignore_errors=True)
    run = _stopped_at(lab, "run_due.backup_ended", "run-due", "--now", "2026-10-01T03:00")
    try:
        subprocess.run(["sh", "-c", f"cat /dev/zero > {lab.state.parent}/filler 2>/dev/null"])
        run.send_signal(signal.SIGCONT)
        out = run.communicate(timeout=120)[0].decode()
    finally:
        _killed(run)
    os.unlink(lab.state.parent / "filler")
    assert run.returncode == 1 and "Traceback" not in out, out
    line, = [n for n in out.splitlines() if n.startswith("one: ") and "due (schedule" not in n]
    assert "one: failed: " in line and "cannot be read on the source" in line, out
    assert "its schedule time could not be marked done" in line, out
    said = [json.loads(n) for n in notified.read_text().splitlines() if n.strip()]
    assert [n["kind"] for n in said].count("backup_failed") == 1, said
    # the health check after it cannot record its changes either: they are notified all the same
    assert any(n["kind"] == "health" and n["data"]["check"] == "full:state" for n in said), said


@pytest.mark.parametrize("point", ["backup.archive_linked", "backup.catalog"])
def test_a_medium_swapped_before_the_state_directory_fills_up_is_not_undone_on(tmp_path, tmpfs, point):
    """Step 7 linked the new archive files (and wrote the catalog), then the medium was swapped for
    a copy of itself and the state directory filled up: the run undoes nothing on the disk at the
    medium's path, which it did not write (its union keeps what the copy was made with), and says
    its links are left; once there is room, the next run keeps the data there."""
    from tests.test_medium_swapped_during_backup import _swap_command

    lab = _lab(tmp_path, tmpfs)
    medium, aside = lab.media[0][1], tmp_path / "aside"
    swap = _swap_command("copy on the same file system", medium, aside)
    run, out, row = _state_full_at(lab, point, meanwhile=lambda: subprocess.run(swap, shell=True, check=True))
    assert run.returncode == 1 and "Traceback" not in out and "cannot be written" in out, out
    assert _union(lab) == {"x": "x2", "y": "y1"}        # the copy's union as the swap made it
    with open(aside / "loc" / row["name"] / "backup.log", encoding="utf-8") as f:
        log = f.read()
    assert "cannot be undone with medium m1 away or swapped" in log, log

    os.unlink(lab.state.parent / "filler")
    assert lab.store().one("SELECT status FROM backups WHERE id=?", (row["id"],))["status"] == "running"
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    store = lab.store()
    assert store.one("SELECT status FROM backups WHERE id=?", (row["id"],))["status"] == "kept"
    assert _union(lab) == {"x": "x2", "y": "y1"}
    invariants.check_json_agrees(lab.load(), store)
    invariants.check_catalog_is_media(lab.load(), store)


@pytest.mark.parametrize("then, older", [("run-due", False), ("rebuild-state", False),
                                         ("run-due", True), ("rebuild-state", True)])
def test_a_run_due_whose_state_directory_fills_up_as_its_step_7_ends_leaves_the_night_due(
        tmp_path, tmpfs, then, older):
    """The state directory fills up as step 7 records its end (the catalog written): the run did not
    end (its backup.json never says complete), so its step 7 is not said ended there either. The
    night's time stays due once there is room, live and after rebuild-state alike: the data kept by
    a recovery is no backup of the night (schedule._ENDED). So it does for a record an earlier rabtui
    wrote so, with its step 7 said ended (`older`)."""
    lab = _small_state(tmp_path, tmpfs)
    lab.local(extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": "a1"})
    run, out, row = _state_full_at(lab, "backup.catalog", args=("run-due",))
    assert run.returncode == 1 and "Traceback" not in out and "cannot be written" in out, out
    with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
        record = json.load(f)
    assert transfer_whole(record), record
    assert [s["state"] for s in record["steps"] if s["step"] == 7] == ["failed"], record["steps"]
    if older:
        record["steps"][6]["state"] = "ok"
        with open(os.path.join(row["path"], "backup.json"), "w", encoding="utf-8") as f:
            json.dump(record, f)

    os.unlink(lab.state.parent / "filler")
    if then == "rebuild-state":
        rebuilt = _rabtui(lab, "rebuild-state")
        assert rebuilt.returncode in (0, 3), rebuilt.stdout + rebuilt.stderr
        assert lab.store().one("SELECT status FROM backups WHERE name=?", (row["name"],))["status"] == "kept"
    again = _rabtui(lab, "run-due")
    assert again.returncode == 0 and "loc: due" in again.stdout, again.stdout + again.stderr
    store = lab.store()
    assert store.one("SELECT status FROM backups WHERE name=?", (row["name"],))["status"] == "kept"
    with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
        assert [s["state"] for s in json.load(f)["steps"] if s["step"] == 7] == ["failed"]
    invariants.check_json_agrees(lab.load(), store)
