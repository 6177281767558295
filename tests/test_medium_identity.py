"""Another disk labelled with a medium's id (another backup server's medium of the same id, or the
disk a medium had before it was labelled again on a new one) is not taken for the medium: a backup
refuses it and writes nothing there, a cleanup keeps the backups it would delete, check-config
says so; `media label ID --force` takes it over. Real rsync, the real command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rabtui import faults
from rabtui.actions import status
from rabtui.media import medium as media
from tests.trees import Lab, made_once, snapshot, write_files
from tests import preloaded
from tests.held import stopped as _stopped

ROOT = Path(__file__).resolve().parent.parent
LATER = "2030-01-01T00:00:00"


def _rabtui(lab: Lab, *args: str) -> subprocess.CompletedProcess:
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                         capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=120)


def _server(tmp_path: Path, name: str) -> Lab:
    """A backup server of its own (state, media, source) with two backups of `loc` on m1."""
    (tmp_path / name).mkdir()
    lab = Lab(tmp_path / name, media_count=1)
    lab.write(lab._local_source(None, "", "loc") + "\n[retention]\nkeep_all_days = 1\nkeep_daily_days = 0\n"
              "keep_weekly_weeks = 0\nkeep_monthly_months = 0\nkeep_yearly_years = 0\n"
              f'[checkpoint]\ndrive = "images:{tmp_path / name / "iso"}"\n')
    for n in (1, 2):
        write_files(lab.src / "data", {f"{name}{n}": name.encode() * n})
        done = _rabtui(lab, "backup", "loc")
        assert done.returncode == 0, done.stdout + done.stderr
    return lab


@pytest.fixture(scope="module")
def _servers_made(tmp_path_factory):
    yield from made_once(tmp_path_factory, lambda live: [_server(live, name) for name in ("one", "two")])


@pytest.fixture
def servers(_servers_made) -> tuple[Lab, Lab]:
    """Servers one and two as _server makes them, anew for each test (made once for the module)."""
    live = _servers_made[1].anew()
    return Lab(live / "one", media_count=1), Lab(live / "two", media_count=1)


def _swap(a: Path, b: Path) -> None:
    """The disks at `a` and `b` change places (each plugged in at the other's mount point)."""
    os.rename(a, f"{a}-swap")
    os.rename(b, a)
    os.rename(f"{a}-swap", b)


def test_another_servers_disk_with_the_same_medium_id_is_refused(tmp_path, servers):
    one, two = servers
    disk_one, disk_two = one.media[0][1], two.media[0][1]
    label_one = media.read_label(disk_one)
    assert label_one["id"] == media.read_label(disk_two)["id"] == "m1"
    assert label_one["serial"] != media.read_label(disk_two)["serial"]
    _swap(disk_one, disk_two)         # server two's path now holds server one's disk
    before = snapshot(disk_two)
    rows_before = [dict(r) for r in two.store().all("SELECT id, status, path FROM backups ORDER BY id")]

    done = _rabtui(two, "backup", "loc")
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out, out
    assert f"{disk_two} holds a disk labelled 'm1' on {label_one['created']}, not the one rabtui used as medium m1" \
        in out and "refusing to use it" in out and "rabtui media label m1 --force" in out, out
    assert snapshot(disk_two) == before            # nothing written onto the other server's disk

    checked = _rabtui(two, "check-config")
    assert checked.returncode == 0 and "not the one rabtui used as medium m1" in checked.stderr \
        and "a backup refuses it" in checked.stderr, checked.stderr
    shown = {m.id: m for m in status.media(two.load(), two.store())}["m1"]    # the Media screen's row
    assert shown.label_text == "m1: another disk" and shown.total is None, shown
    health = _rabtui(two, "check")
    said = [line for line in health.stdout.splitlines() if line.startswith("WARNING: medium m1: ")
            and "not the one rabtui used as medium m1" in line and line.endswith(": a backup refuses it")]
    assert health.returncode != 0 and said, health.stdout

    # nor is it read: a restore (its copy of the file on the other disk) and find's "at hand"
    restored = _rabtui(two, "restore", "loc", str(two.src / "data" / "two1"), "--to", str(tmp_path / "out"))
    out = restored.stdout + restored.stderr
    assert restored.returncode == 1 and "not the one rabtui used as medium m1" in out, out
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("two1"))
    found = json.loads(_rabtui(two, "find", "two1", "--json").stdout)
    places = [loc for v in found for loc in v["locations"] if loc["kind"] == "backup"]
    assert places and not any(loc["at_hand"] for loc in places), found

    cleaned = _rabtui(two, "cleanup", "--now", LATER)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert "medium m1 is not there" in cleaned.stdout + cleaned.stderr, cleaned.stdout + cleaned.stderr
    assert snapshot(disk_two) == before
    rows = [dict(r) for r in two.store().all("SELECT id, status, path FROM backups ORDER BY id")]
    assert [r for r in rows if r["status"] != "failed"] == rows_before   # none forgotten

    # rebuild-state, while the other server's disk is there, does not take its backups for its own:
    # with no medium read, it refuses, the database as it was
    rebuilt = _rabtui(two, "rebuild-state")
    out = rebuilt.stdout + rebuilt.stderr
    assert rebuilt.returncode == 1 and "Traceback" not in out, out
    assert "not the one rabtui used as medium m1" in out and "not read" in out and "nothing to rebuild" in out, out
    assert [dict(r) for r in two.store().all("SELECT id, status, path FROM backups ORDER BY id")] == rows
    assert snapshot(disk_two) == before

    _swap(disk_one, disk_two)         # each disk back on its own server
    rebuilt = _rabtui(two, "rebuild-state")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert [dict(r) for r in two.store().all("SELECT id, status, path FROM backups WHERE status<>'failed'"
                                             " ORDER BY id")] == [r for r in rows_before if r["status"] != "failed"]
    for lab in (one, two):
        again = _rabtui(lab, "backup", "loc")
        assert again.returncode == 0, again.stdout + again.stderr


def _backed_up(tmp_path: Path) -> Lab:
    """A local source `loc` with one backup on its one medium, m1."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"a"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    return lab


def test_the_disk_a_medium_had_before_it_was_labelled_again_is_refused_until_taken_over(tmp_path):
    lab = _backed_up(tmp_path)
    disk = lab.media[0][1]
    os.rename(disk, tmp_path / "old-disk")      # the old disk goes to the drawer, a new one comes
    disk.mkdir()
    assert _rabtui(lab, "media", "label", "m1").returncode == 1     # known: not labelled implicitly
    assert _rabtui(lab, "media", "label", "m1", "--force").returncode == 0
    assert _rabtui(lab, "backup", "loc").returncode == 0

    os.rename(disk, tmp_path / "new-disk")      # the old disk plugged in again by mistake
    os.rename(tmp_path / "old-disk", disk)
    before = snapshot(disk)
    refused = _rabtui(lab, "backup", "loc")
    assert refused.returncode == 1 and "not the one rabtui used as medium m1" in refused.stdout + refused.stderr
    assert snapshot(disk) == before
    label = _rabtui(lab, "media", "label", "m1")
    assert label.returncode == 1 and "not the one rabtui used as medium m1" in label.stderr, label.stdout + label.stderr

    taken = _rabtui(lab, "media", "label", "m1", "--force")
    assert taken.returncode == 0 and f"the disk at {disk} is medium m1 from now on" in taken.stdout, taken.stdout
    assert _rabtui(lab, "backup", "loc").returncode == 0
    os.rename(disk, tmp_path / "old-disk")      # and now the new one is the other disk
    os.rename(tmp_path / "new-disk", disk)
    assert _rabtui(lab, "backup", "loc").returncode == 1


def test_a_label_written_before_serials_is_told_apart_by_its_time(tmp_path):
    lab = _backed_up(tmp_path)
    disk = lab.media[0][1]
    old = {k: v for k, v in media.read_label(disk).items() if k != "serial"}
    (disk / media.LABEL).write_text(json.dumps(old))
    lab.store().execute("UPDATE media SET label=? WHERE id='m1'", (json.dumps(old),))
    assert _rabtui(lab, "backup", "loc").returncode == 0
    # left as it is (a serial added now could differ per process), but for the time from which its
    # files' times are compared: written by hand, its own is not the one rabtui gave it
    assert {k: v for k, v in media.read_label(disk).items() if k != "times_since"} == old
    # another disk labelled before serials, at another time: refused
    (disk / media.LABEL).write_text(json.dumps({**old, "created": "2020-01-01T00:00:00"}))
    refused = _rabtui(lab, "backup", "loc")
    assert refused.returncode == 1 and "labelled 'm1' on 2020-01-01T00:00:00, not the one" in refused.stdout, \
        refused.stdout + refused.stderr


def _stopped_at(lab: Lab, point: str, *args: str, out=subprocess.PIPE) -> subprocess.Popen:
    """`rabtui ARGS`, stopped (SIGSTOP) at the fault point `point`; its output to `out` (a file for
    a run that says more than a pipe holds before it is read)."""
    run = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                          cwd=ROOT, env={**os.environ, faults.STOP_ENV: point},
                          stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not _stopped(run.pid):
        assert run.poll() is None and time.monotonic() < deadline, f"rabtui {' '.join(args)} did not reach {point}"
        time.sleep(0.05)
    return run


def _killed(*runs: subprocess.Popen | None) -> None:
    """Those of `runs` still there (a test that failed halfway) are killed."""
    for run in runs:
        if run is not None and run.poll() is None:
            run.kill()
            run.send_signal(signal.SIGCONT)
            run.wait(timeout=30)


def _ended(run: subprocess.Popen) -> None:
    run.send_signal(signal.SIGCONT)
    out = run.communicate(timeout=120)[0].decode()
    assert run.returncode == 0, out


def test_backups_starting_at_once_on_a_new_medium_record_the_same_label(tmp_path):
    """Separate processes (cron starts two sources' backups at once) both find the new medium empty
    and label it: the label written first stays, and each records that one, so no run after them
    takes the disk for another. Here `two` decides to label it and stops; `one` labels it and stops
    before recording its label; `two` goes on, then `one`."""
    lab = Lab(tmp_path, media_count=1)
    lab.write(lab._local_source(None, "", "one") + lab._local_source([("two", "standard")], "", "two"))
    write_files(lab.src / "data", {"a": b"a"})
    write_files(lab.src / "two", {"b": b"b"})
    two = one = None
    try:
        two = _stopped_at(lab, "medium.labelling", "backup", "two")
        one = _stopped_at(lab, "medium.labelled", "backup", "one")
        written = media.read_label(lab.media[0][1])
        _ended(two)
        _ended(one)
    finally:
        _killed(two, one)
    assert media.read_label(lab.media[0][1]) == written
    assert json.loads(lab.store().one("SELECT label FROM media WHERE id='m1'")["label"]) == written
    for sid in ("one", "two"):
        again = _rabtui(lab, "backup", sid)
        assert again.returncode == 0, again.stdout + again.stderr


def test_a_cleanup_leaves_another_servers_interrupted_deletion_alone(servers):
    """A `.deleting-` directory (a deletion its own server's cleanup did not finish) on another
    server's disk with the same medium id is that server's to finish: a cleanup here neither deletes
    it nor forgets the backup of the same name recorded here (servers whose timers start at the
    same second name their backups alike)."""
    one, two = servers
    disk_one, disk_two = one.media[0][1], two.media[0][1]
    ours = two.store().one("SELECT id, name FROM backups WHERE status='completed' ORDER BY id LIMIT 1")
    theirs = one.store().one("SELECT path FROM backups WHERE status='completed' ORDER BY id LIMIT 1")["path"]
    os.rename(theirs, Path(theirs).parent / f".deleting-{ours['name']}")   # one's cleanup was killed
    _swap(disk_one, disk_two)         # server two's path now holds server one's disk
    before = snapshot(disk_two)

    cleaned = _rabtui(two, "cleanup")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert snapshot(disk_two) == before, cleaned.stdout + cleaned.stderr
    assert two.store().one("SELECT status FROM backups WHERE id=?", (ours["id"],))["status"] == "completed"


def test_a_new_medium_on_a_file_system_without_hard_links_is_labelled_on_first_use(tmp_path, monkeypatch):
    """vfat and exfat (media the probe warns of, and backups use) refuse link(2) with EPERM: the
    label of an empty medium is created where none is yet all the same, once. No such file system
    can be mounted here, so link(2) is made to answer as theirs does."""
    import errno

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    medium, store = cfg.media[0], lab.store()

    def no_hard_links(*_args, **_kw):
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", no_hard_links)
    first = media.check_medium(medium, store=store)["label"]
    assert media.read_label(medium.path) == first and first["serial"]
    (Path(medium.path) / media.LABEL).unlink()
    written = media.write_label(medium)
    assert media.write_label(medium, first=True) == written == media.read_label(medium.path)   # the first stays
    assert sorted(os.listdir(medium.path)) == [media.LABEL]


def test_what_a_killed_labelling_left_on_a_new_medium_does_not_stop_its_first_backup(tmp_path):
    """A backup killed while it labelled an empty medium (probing what it holds, writing the label,
    trying that it is writable) leaves its temporary files there: they are rabtui's own, not files
    that make the medium look used."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"a"})
    disk = lab.media[0][1]
    (disk / ".rabtui-probe-k1ll3d").mkdir()
    (disk / ".rabtui-probe-k1ll3d" / "file").write_bytes(b"probe")
    (disk / f"{media.LABEL}.tmp-4242-1").write_text('{"id": "m1"')
    (disk / ".rabtui-write-test-4242-1").write_bytes(b"")
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert media.read_label(disk)["id"] == "m1"


def test_a_disk_whose_label_names_only_the_id_is_not_taken_for_a_medium_the_state_knows(tmp_path):
    """A label that holds just the id (written by hand: `echo m1 > .rabtui-medium`) tells no
    labelling: once the state knows the medium's, such a disk is another one. Taken for it, its
    first backup recorded its label in place of the medium's, and the medium's own disk was then
    taken as well: backups and cleanups went to whichever disk was plugged in."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"a"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    disk = lab.media[0][1]
    recorded = lab.store().one("SELECT label FROM media WHERE id='m1'")["label"]
    os.rename(disk, tmp_path / "own-disk")
    disk.mkdir()
    (disk / media.LABEL).write_text("m1\n")      # another disk, labelled by hand
    before = snapshot(disk)

    refused = _rabtui(lab, "backup", "loc")
    out = refused.stdout + refused.stderr
    assert refused.returncode == 1 and "not the one rabtui used as medium m1" in out, out
    assert snapshot(disk) == before
    assert lab.store().one("SELECT label FROM media WHERE id='m1'")["label"] == recorded

    taken = _rabtui(lab, "media", "label", "m1", "--force")
    assert taken.returncode == 0 and "is medium m1 from now on" in taken.stdout, taken.stdout + taken.stderr
    assert media.read_label(disk)["serial"]      # labelled anew: told apart from the old one from now on
    assert _rabtui(lab, "backup", "loc").returncode == 0
    os.rename(disk, tmp_path / "hand-disk")
    os.rename(tmp_path / "own-disk", disk)
    assert _rabtui(lab, "backup", "loc").returncode == 1


def test_an_interrupted_backup_is_not_recovered_from_another_servers_disk(servers):
    """A backup killed on its medium is recovered by the next run of its source, before that run
    checks the medium: another server's disk at the medium's path, holding a backup of the same
    name (servers whose timers start at the same second name their backups alike), is not read
    for it (its backup.json would record the killed backup complete) nor changed."""
    one, two = servers
    disk_one, disk_two = one.media[0][1], two.media[0][1]
    write_files(one.src / "data", {"three": b"3"})
    killed = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(one.config_path), "backup", "loc"],
                           cwd=ROOT, env={**os.environ, faults.ENV: "backup.step3"}, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    row = one.store().one("SELECT id, name FROM backups WHERE status='running'")
    theirs = two.store().one("SELECT path FROM backups WHERE status='completed' ORDER BY id DESC LIMIT 1")["path"]
    if not (Path(theirs).parent / row["name"]).exists():    # else one of theirs has that name already
        os.rename(theirs, Path(theirs).parent / row["name"])
    _swap(disk_one, disk_two)         # server one's path now holds server two's disk
    before = snapshot(disk_one)

    refused = _rabtui(one, "backup", "loc")
    assert refused.returncode == 1 and "not the one rabtui used as medium m1" in refused.stdout, refused.stdout
    assert snapshot(disk_one) == before
    assert one.store().one("SELECT status FROM backups WHERE id=?", (row["id"],))["status"] == "abandoned"
    _swap(disk_one, disk_two)         # its own disk back: the killed backup's directory goes
    again = _rabtui(one, "backup", "loc")
    assert again.returncode == 0 and f"found the interrupted backup {row['name']} on medium m1" in again.stdout, \
        again.stdout + again.stderr
    assert not (disk_one / "loc" / row["name"]).exists()


def test_a_checkpoint_writes_its_number_onto_no_other_servers_disk(tmp_path):
    """The number of a new checkpoint goes onto every medium at hand (so that a lost database never
    gives it again): not onto another server's disk at a medium's path, nor is that disk's record
    read as this server's."""
    labs = {}
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        lab = labs[name] = Lab(tmp_path / name, media_count=2)
        lab.with_discs("4MiB")
        (tmp_path / name / "iso").mkdir()
        write_files(lab.src / "data", {name: name.encode()})
        for medium in ("m1", "m2"):
            done = _rabtui(lab, "backup", "loc", "--medium", medium)
            assert done.returncode == 0, done.stdout + done.stderr
    one, two = labs["one"], labs["two"]
    for _ in range(3):     # server one's disks record numbers up to 3
        done = _rabtui(one, "checkpoint", "burn", "--now", "--yes", "--new")
        assert done.returncode == 0, done.stdout + done.stderr
    _swap(one.media[1][1], two.media[1][1])     # server two's m2 path now holds server one's m2 disk
    theirs = (two.media[1][1] / ".rabtui-checkpoints").read_bytes()
    done = _rabtui(two, "checkpoint", "burn", "--now", "--yes", "--new")
    assert done.returncode == 0, done.stdout + done.stderr
    assert os.listdir(two.tmp / "iso") == ["RAB1D01.iso"]          # not numbered after server one's
    assert (two.media[1][1] / ".rabtui-checkpoints").read_bytes() == theirs
    assert json.loads((two.media[0][1] / ".rabtui-checkpoints").read_text()) == {"used": [1]}
