"""A backup killed (SIGKILL) after its whole transfer, in step 6 (its post-backup commands) or step 7
(archive links, catalog) before its backup.json said complete: its recovery keeps its data as a
backup whose post-backup commands failed keeps it (`kept`: restorable, retained, never a base),
instead of deleting what rsync had copied whole. find lists it, a restore reads it, a cleanup keeps
it, a checkpoint takes what only it saved of an archive directory, rebuild-state records it again.
A kill during the transfer is still undone. Real rsync (over the test sshd too), the real process
killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from rabtui import faults
from rabtui.actions.find import find
from rabtui.media import medium_layout
from rabtui.restore import run as restore_run
from tests import invariants
from tests.test_kill_anywhere import _copy, _files, _killed, rabtui
from tests.trees import Lab, burn_due, gate_command, snapshot, ssh_source_lines


def _changed_then_killed(lab: Lab, cfg, point: str):
    """The first backup, then files changed (two only the killed run will have saved) and a backup
    killed at `point`; the killed run's row, the source as it was then, the first backup's row."""
    first = rabtui(lab, "backup", "loc")
    assert first.returncode == 0, first.stdout + first.stderr
    store = lab.store()
    b1 = store.one("SELECT * FROM backups")
    _files(lab.src / "data", {"a": b"a2" * 700, "gone": b"only the killed run"})
    _files(lab.src / "arch", {"x": b"x2" * 120, "only": b"archived once"})
    _killed(rabtui(lab, "backup", "loc", point=point))
    killed = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    at_kill = _copy(lab, cfg)
    os.unlink(lab.src / "data" / "gone")
    os.unlink(lab.src / "arch" / "only")
    return store, killed, at_kill, b1


def _lab(tmp_path) -> tuple[Lab, object]:
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard"), ("arch", "archive")])
    _files(lab.src / "data", {"a": b"a1" * 500, "sub/c": b"c1"})
    _files(lab.src / "arch", {"x": b"x1" * 100})
    return lab, cfg


def _kept_as_it_was(cfg, store, killed, at_kill, b1, out: str) -> dict:
    """The killed run is kept, on the medium and in the database, holding the source as it was; the
    backup after it was linked to the first. Its row."""
    row = store.one("SELECT * FROM backups WHERE id=?", (killed["id"],))
    assert row["status"] == "kept", (row["status"], row["reason"], out)
    assert "its transfer had ended whole" in row["reason"] and "its transfer had ended whole" in out, out
    info = medium_layout.read_backup_json(killed["path"])
    assert info["status"] == "kept" and info["reason"] == row["reason"]
    data, arch = (d.path for d in cfg.sources[0].directories)
    assert snapshot(medium_layout.backup_data_path(killed["path"], data)) == at_kill[data]
    assert snapshot(medium_layout.backup_data_path(killed["path"], arch))[b"only"] == b"archived once"
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert newest["status"] == "completed" and newest["link_dest"] == b1["id"]
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_change_counters(store)
    return row


def _found_and_restored(cfg, store, row, to) -> None:
    """find lists the files only the kept run saved in it; a restore gives them back."""
    gone = [v for v in find(cfg, store, "gone").versions if v.path.endswith(b"data/gone")]
    assert [n for v in gone for loc in v.locations for n in loc.backups] == [row["name"]], gone
    restore_run.restore(cfg, store, "loc", str(cfg.sources[0].directories[0].path) + "/gone", backup=row["name"],
                        to=to / "gone")
    assert (to / "gone" / os.path.relpath(cfg.sources[0].directories[0].path, "/") / "gone").read_bytes() \
        == b"only the killed run"
    arch = cfg.sources[0].directories[1].path
    restore_run.restore(cfg, store, "loc", arch, to=to / "arch")     # the archive as the newest backup shows it
    assert (to / "arch" / os.path.relpath(arch, "/") / "only").read_bytes() == b"archived once"


@pytest.mark.parametrize("point", ["backup.step5", "backup.step6", "backup.union_linking", "backup.archive_linked",
                                   "backup.catalog", "backup.step7_ended"])
def test_killed_after_its_transfer_is_kept(tmp_path, point):
    lab, cfg = _lab(tmp_path)
    store, killed, at_kill, b1 = _changed_then_killed(lab, cfg, point)
    if point in ("backup.catalog", "backup.step7_ended"):     # what a dry run says the cleanup would do first
        dry = rabtui(lab, "cleanup", "--dry-run")
        assert "its transfer ended whole: its data would be kept" in dry.stdout + dry.stderr, dry.stdout + dry.stderr
    after = rabtui(lab, "backup", "loc")
    out = after.stdout + after.stderr
    assert after.returncode == 0, out
    row = _kept_as_it_was(cfg, store, killed, at_kill, b1, out)
    assert ("before its post-backup commands" if point == "backup.step5" else "in step 7") in row["reason"], row["reason"]
    _found_and_restored(cfg, store, row, tmp_path / "restored")


def test_killed_during_its_transfer_is_undone(tmp_path):
    lab, cfg = _lab(tmp_path)
    store, killed, _, b1 = _changed_then_killed(lab, cfg, "backup.rsync_ended")     # the first directory's
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "abandoned"
    assert not os.path.exists(killed["path"])


def test_killed_in_its_post_commands_over_ssh_is_kept_and_read_by_all(tmp_path, sshd):
    """Killed while its post-backup command runs (a source over SSH): kept, said; a cleanup keeps
    it, a checkpoint takes the archive file only it saved, rebuild-state records it kept again."""
    lab = Lab(tmp_path, media_count=1)
    (lab.src / "data").mkdir()
    (lab.src / "arch").mkdir()
    _files(lab.src / "data", {"a": b"a1" * 500, "sub/c": b"c1"})
    _files(lab.src / "arch", {"x": b"x1" * 100})
    post, gate = tmp_path / "post-began", tmp_path / "gate"
    lab.write(ssh_source_lines(sshd, "loc") + f'post_backup_commands = ["test -e {gate} || touch {post}; '
              f'{gate_command(gate)}"]\n'
              + "".join(f'[[sources.directories]]\npath = "{lab.src / d}"\nkind = "{k}"\n'
                        for d, k in (("data", "standard"), ("arch", "archive")))
              + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    lab.trust(sshd)
    cfg = lab.load()
    gate.touch()
    assert rabtui(lab, "backup", "loc").returncode == 0
    gate.unlink()
    store = lab.store()
    b1 = store.one("SELECT * FROM backups")
    _files(lab.src / "data", {"a": b"a2" * 700, "gone": b"only the killed run"})
    _files(lab.src / "arch", {"x": b"x2" * 120, "only": b"archived once"})
    run = subprocess.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not post.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert post.exists(), "the post-backup command never began"
        run.send_signal(signal.SIGKILL)
    finally:
        run.wait()
        gate.touch()      # the command on the source ends, were it left running
    killed = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    at_kill = _copy(lab, cfg)
    os.unlink(lab.src / "data" / "gone")
    os.unlink(lab.src / "arch" / "only")

    after = rabtui(lab, "backup", "loc")
    out = after.stdout + after.stderr
    assert after.returncode == 0, out
    row = _kept_as_it_was(cfg, store, killed, at_kill, b1, out)
    assert "while its post-backup commands ran" in row["reason"], row["reason"]
    _found_and_restored(cfg, store, row, tmp_path / "restored")

    cleanup = rabtui(lab, "cleanup")
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert store.one("SELECT status FROM backups WHERE id=?", (row["id"],))["status"] == "kept"
    assert os.path.isdir(row["path"])

    number = burn_due(cfg, store, {"*"})
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "from-discs")
    arch = cfg.sources[0].directories[1].path
    on_discs = [v for v in find(cfg, store, "only").versions if v.path.endswith(b"arch/only")]
    assert any(loc.kind == "disc" for v in on_discs for loc in v.locations), on_discs

    rebuilt = rabtui(lab, "rebuild-state")
    assert rebuilt.returncode in (0, 3), rebuilt.stdout + rebuilt.stderr
    store = lab.store()
    again = store.one("SELECT * FROM backups WHERE name=?", (row["name"],))
    assert again["status"] == "kept" and "its transfer had ended whole" in again["reason"]
    assert store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")["link_dest"] != again["id"]
    invariants.check_catalog_is_media(cfg, store)
    restore_run.restore(cfg, store, "loc", arch, to=tmp_path / "rebuilt")
    assert (tmp_path / "rebuilt" / os.path.relpath(arch, "/") / "only").read_bytes() == b"archived once"


def rebuilt_kept(lab, killed) -> tuple:
    """rebuild-state run: the `killed` run recorded kept, as its backup.json says. (store, its row)."""
    rebuilt = rabtui(lab, "rebuild-state")
    assert rebuilt.returncode in (0, 3), rebuilt.stdout + rebuilt.stderr
    store = lab.store()
    row = store.one("SELECT * FROM backups WHERE name=?", (killed["name"],))
    assert row["status"] == "kept" and "its transfer ended whole" in row["reason"], dict(row)
    assert medium_layout.read_backup_json(killed["path"])["status"] == "kept"
    return store, row


def test_rebuild_state_keeps_a_run_killed_after_its_transfer(tmp_path):
    """The database lost before any run recovered it: rebuild-state records the killed run kept (its
    links undone), not abandoned, which the next backup then deleted."""
    lab, cfg = _lab(tmp_path)
    store, killed, at_kill, _ = _changed_then_killed(lab, cfg, "backup.archive_linked")
    store.close()
    lab.lose_database()
    store, row = rebuilt_kept(lab, killed)
    union = medium_layout.archive_root(lab.media[0][1], "loc", cfg.sources[0].directories[1].path)
    assert not (union / "only").exists()      # kept data links nothing into the union
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    assert store.one("SELECT status FROM backups WHERE id=?", (row["id"],))["status"] == "kept"
    data = cfg.sources[0].directories[0].path
    assert snapshot(medium_layout.backup_data_path(killed["path"], data)) == at_kill[data]
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert newest["status"] == "completed" and newest["link_dest"] != row["id"]
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    _found_and_restored(cfg, store, row, tmp_path / "restored")


@pytest.mark.parametrize("point", faults.KEEP_POINTS)
def test_a_recovery_killed_as_it_keeps_the_run_is_done_again(tmp_path, point):
    """The backup whose recovery keeps the killed run is killed too, its catalog recorded again (or
    its backup.json saying kept): the next one keeps the run all the same, the catalog as the media."""
    lab, cfg = _lab(tmp_path)
    store, killed, at_kill, b1 = _changed_then_killed(lab, cfg, "backup.catalog")
    _killed(rabtui(lab, "backup", "loc", point=point))
    after = rabtui(lab, "backup", "loc")
    out = after.stdout + after.stderr
    assert after.returncode == 0, out
    row = store.one("SELECT * FROM backups WHERE id=?", (killed["id"],))
    assert row["status"] == "kept" and "its transfer had ended whole" in row["reason"], (dict(row), out)
    data = cfg.sources[0].directories[0].path
    assert snapshot(medium_layout.backup_data_path(killed["path"], data)) == at_kill[data]
    assert store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")["status"] == "completed"
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_change_counters(store)
    _found_and_restored(cfg, store, row, tmp_path / "restored")
