"""rebuild-state and a backup.json edited by hand (a note in `reason`, a list for `status`, an id
SQLite cannot hold): each field is checked, a record that does not say what its backup is has that
backup recorded as failed (kept: it may be complete) and is named in the report with what to do,
and the rebuild goes on. A rebuild that fails for any other reason
leaves the database that was there in its place, names it, and leaves nothing half made beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rabtui.actions import rebuild
from rabtui.errors import WorkFailed
from rabtui.events import no_emit
from rabtui.media import medium_layout
from rabtui.rebuild import scan
from tests.trees import Lab, made_once, next_second, write_files
from tests import preloaded
from tests.held import stopped as _stopped

ROOT = Path(__file__).resolve().parents[1]


def _rabtui(lab, *args):
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                         capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=120)


def _two_backups(tmp_path) -> tuple[Lab, Path]:
    """A lab with two backups of one file; the first one's backup.json."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    (tmp_path / "iso").mkdir()              # an images: drive with no checkpoint: no disc is asked for
    drive = f'[checkpoint]\ndrive = "images:{tmp_path / "iso"}"\n\n[[media]]'
    lab.config_path.write_text(lab.config_path.read_text().replace("[[media]]", drive, 1))
    write_files(lab.src / "data", {"a": b"one"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    write_files(lab.src / "data", {"a": b"two, longer"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    return lab, _first_json(lab)


def _first_json(lab: Lab) -> Path:
    root = lab.media[0][1] / "loc"
    return root / sorted(os.listdir(root))[0] / "backup.json"


@pytest.fixture(scope="module")
def _two_backups_made(tmp_path_factory):
    yield from made_once(tmp_path_factory, _two_backups)


@pytest.fixture
def two_backups(_two_backups_made) -> tuple[Lab, Path]:
    """What _two_backups makes, anew for each test (made once for the module)."""
    lab = Lab(_two_backups_made[1].anew(), media_count=1)
    return lab, _first_json(lab)


def _backups(lab) -> list[tuple]:
    store = lab.store()
    try:
        return [tuple(r) for r in store.all("SELECT name, status, reason FROM backups ORDER BY name")]
    finally:
        store.close()


@pytest.mark.parametrize("key,value,recorded", [("reason", {"note": "checked by hand"}, "completed"),
                                                ("status", ["completed"], "failed"),
                                                ("backup_id", 2 ** 70, "completed"),
                                                ("totals", {"files": "many", "new_bytes": 2 ** 64}, "completed"),
                                                ("directories", [{"path": ["x"]}, "data"], "completed")])
def test_rebuild_state_survives_an_odd_backup_json(two_backups, key, value, recorded):
    lab, first = two_backups
    info = json.loads(first.read_text())
    info[key] = value                       # an operator's note, an editor's slip
    first.write_text(json.dumps(info))

    done = _rabtui(lab, "rebuild-state")
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert done.returncode in (0, 3), out
    assert "backups: 2," in done.stdout, out
    if key != "reason":                     # what was left out is said, with the file it is in
        assert done.returncode == 3 and f"not matched: medium m1: {first}: {key}" in done.stdout, out
    assert "kept the old database as" in done.stdout and "rabtui.db.before-rebuild-" in done.stdout
    status = _rabtui(lab, "status")
    assert status.returncode == 0, status.stderr
    assert "never backed up" not in status.stdout, f"rebuild-state said:\n{out}"
    assert [s for _, s, _ in _backups(lab)] == [recorded, "completed"]
    if key == "reason":                     # the note is kept, as text
        assert json.loads(_backups(lab)[0][2]) == value


def test_a_directory_of_a_backup_json_that_leads_out_of_its_backup_is_left_out(tmp_path, two_backups):
    """A backup.json on a medium (one that was offsite) names a directory `/../../<a folder of this
    server>`: rebuild-state leaves it out and says so. Recorded, a restore of that source once it is
    out of the config (its directories are then those its backups name) would copy that folder of
    this server, outside every medium, into the restore's target."""
    lab, first = two_backups
    secret = tmp_path / "secret"
    write_files(secret, {"key": b"the server's own"})
    info = json.loads(first.read_text())
    planted = "/" + "../" * 40 + str(secret).lstrip("/")
    info["directories"].append({"path": planted, "kind": "standard", "state": "ok"})
    first.write_text(json.dumps(info))
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3 and f"{first}: directories[1].path" in done.stdout, done.stdout + done.stderr
    lab.config_path.write_text(lab.config_path.read_text().replace('id = "loc"', 'id = "other"'))
    done = _rabtui(lab, "restore", "loc", str(secret), "--to", str(tmp_path / "to"))
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert not (tmp_path / "to" / str(secret).lstrip("/") / "key").exists()


@pytest.mark.parametrize("where", ["data", "source"])
def test_a_symlink_planted_on_the_way_to_a_backups_tree_is_not_walked_into_the_catalog(tmp_path, two_backups, where):
    """The first backup's data/ (or its copy of the source's directory) made a symlink to a folder of
    this server: rebuild-state recorded what is there as on the medium (`find` listed it, a restore
    copied it from there). The catalog holds what the medium holds: nothing of that backup's tree,
    and the symlink is said."""
    lab, first = two_backups
    secret = tmp_path / "secret"
    src = str(lab.src / "data").lstrip("/")
    write_files(secret, {"key": b"the server's own", f"{src}/key": b"the server's own"})
    planted = first.parent / "data" if where == "data" else first.parent / "data" / src
    os.rename(planted, f"{planted}.moved")
    os.symlink(secret, planted)
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3 and f"{planted} is a symlink" in done.stdout, done.stdout + done.stderr
    found = _rabtui(lab, "find", "key")
    assert found.returncode == 1 and "key" not in found.stdout, found.stdout + found.stderr
    # nor does a restore of that backup read through it
    done = _rabtui(lab, "restore", "loc", str(lab.src / "data"), "--backup", first.parent.name,
                   "--to", str(tmp_path / "to"))
    assert not list((tmp_path / "to").rglob("key")), done.stdout + done.stderr
    assert done.returncode != 0 and f"{planted} is a symlink" in done.stderr, done.stdout + done.stderr


def test_a_checkpoint_reads_nothing_through_a_symlink_planted_on_the_way_to_a_backups_tree(tmp_path, two_backups):
    """The newest backup's data/ made a symlink to a folder of this server: the plan took that
    folder's files for the backup's (a burn would put them on a disc)."""
    lab, first = two_backups
    newest = sorted(first.parent.parent.iterdir())[-1]
    write_files(tmp_path / "secret", {str(lab.src / "data" / "key").lstrip("/"): b"the server's own"})
    os.rename(newest / "data", tmp_path / "data-moved")
    os.symlink(tmp_path / "secret", newest / "data")
    done = _rabtui(lab, "checkpoint", "plan", "--now")
    assert done.returncode != 0 and f"{newest / 'data'} is a symlink" in done.stderr, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_a_backup_json_that_is_no_json_object_has_its_backup_kept_and_says_so(two_backups):
    lab, first = two_backups
    first.write_text("[1, 2]")
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"not matched: medium m1: {first}: it cannot be read as a JSON object" in done.stdout
    assert "run `rabtui rebuild-state` again" in done.stdout
    # kept: no cleanup deletes it (retention.unread_record), each names it
    assert [status for _, status, _ in _backups(lab)] == ["failed", "completed"]
    assert "its backup.json: it cannot be read as a JSON object" in _backups(lab)[0][2]


def test_a_backup_kept_by_rebuild_state_keeps_its_links_in_the_archive_union(tmp_path):
    """A complete backup whose backup.json was damaged since, made before the source's newest one:
    the rebuild records it as kept (it may be complete; each cleanup names it: test_backup_record_killed),
    and the next backup onto its medium does not undo its links in the archive union, as it does a
    killed run's."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard"), ("arch", "archive")])
    write_files(lab.src / "arch", {"x": b"x1"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    write_files(lab.src / "arch", {"y": b"y1"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    first = medium_layout.list_backups(lab.media[0][1], "loc")[0][1] / "backup.json"
    first.write_text('{"status": "comp')
    assert _rabtui(lab, "rebuild-state").returncode == 3
    assert _rabtui(lab, "backup", "loc").returncode == 0
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch")) / "x"
    assert os.path.samefile(union, medium_layout.backup_data_path(first.parent, str(lab.src / "arch")) / "x")


def test_a_failed_rebuild_leaves_the_old_database_in_place_and_says_so(tmp_path, monkeypatch):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"one"})
    assert lab.backup(cfg).status == "completed"
    lab.store().close()
    db = lab.state / "rabtui.db"
    before = _backups(lab)

    def half_then_fail(cfg, store, **kw):
        store.execute("DELETE FROM backups")
        raise ValueError("something the checks did not foresee")

    monkeypatch.setattr(scan, "rebuild", half_then_fail)
    with pytest.raises(WorkFailed) as failed:
        rebuild.rebuild_state(cfg, no_emit, threading.Event(), None)
    message = str(failed.value)
    assert "rebuild-state failed: ValueError: something the checks did not foresee" in message
    assert f"{db} is as it was before" in message and "run `rabtui rebuild-state` again" in message
    assert _backups(lab) == before
    assert not list(lab.state.glob("rabtui.db.*"))      # nothing moved aside, no half-made database left


@pytest.mark.parametrize("point", ["rebuild.kept_aside", "rebuild.old_wal_gone"])
def test_a_rebuild_killed_while_it_swaps_leaves_a_database_in_place_and_the_old_one_whole(two_backups, point):
    """Killed (SIGKILL) anywhere between keeping the old database aside and putting the new one in
    its place: a database is at rabtui.db, the backups are known, and the old database's last
    transaction, still in its -wal when rabtui died earlier, is in the copy kept aside too."""
    import sqlite3

    from rabtui import faults

    lab, _ = two_backups
    db = lab.state / "rabtui.db"
    preloaded.run([sys.executable, "-c", "import sqlite3, os\n"
                   f"c = sqlite3.connect({str(db)!r}); c.execute('PRAGMA wal_autocheckpoint=0')\n"
                   "c.execute(\"INSERT INTO jobs(kind, title, status, started) VALUES ('backup','LAST','completed',1)\")\n"
                   "c.commit(); os.kill(os.getpid(), 9)"], check=False)
    assert (lab.state / "rabtui.db-wal").stat().st_size > 0      # a rabtui killed with it open
    killed = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "rebuild-state"],
                           cwd=ROOT, env={**os.environ, faults.ENV: point}, capture_output=True, timeout=120,
                           stdin=subprocess.DEVNULL)
    assert killed.returncode == -9, killed.stderr
    status = _rabtui(lab, "status")
    assert status.returncode == 0 and "never backed up" not in status.stdout, status.stdout
    aside = next(lab.state.glob("rabtui.db.before-rebuild-*"))
    conn = sqlite3.connect(f"file:{aside}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT count(*) FROM jobs WHERE title='LAST'").fetchone()[0] == 1
    finally:
        conn.close()
    assert _rabtui(lab, "rebuild-state").returncode == 0
    assert len(_backups(lab)) == 2


def test_a_rebuild_never_builds_through_a_symlink_planted_in_the_state_directory(tmp_path, two_backups):
    lab, _ = two_backups
    elsewhere = tmp_path / "theirs"          # a directory of whoever planted the link
    elsewhere.mkdir()
    os.symlink(elsewhere, lab.state / "rabtui.db.rebuilding")
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(elsewhere.iterdir()) == [] and not os.path.lexists(lab.state / "rabtui.db.rebuilding")
    assert len(_backups(lab)) == 2


def test_names_found_on_a_medium_are_printed_escaped(two_backups):
    """A stranger's directory on a medium, its name holding a line break, an escape sequence and
    a byte that is not UTF-8: the report names it on one line, as `ls -b` shows it. The backups of
    a source taken out of the config are named with the way to have them recorded."""
    lab, _ = two_backups
    medium = os.fsencode(lab.media[0][1])
    for name in (b"ev\nil\x1b[31m", b"bad\xff", b"gone"):
        os.makedirs(os.path.join(medium, name, b"backup-20260101000000"))
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3, done.stdout + done.stderr
    # a source taken out of the config: what is left of its backups, and how to have them again
    assert ("not matched: medium m1: backups of gone, a source not in the config: not recorded, their files stay"
            " on the medium as they are (to find and restore them, put the source back into the config and run"
            " `rabtui rebuild-state` again)\n") in done.stdout, done.stdout
    assert "not matched: medium m1: backups of ev\\nil\\033[31m, a source not in the config\n" in done.stdout
    assert "not matched: medium m1: backups of bad\\377, a source not in the config\n" in done.stdout
    assert "\x1b" not in done.stdout


def _nested(first: Path) -> None:
    info = json.loads(first.read_text())
    first.write_text(json.dumps(info)[:-1] + ', "note": ' + "[" * 100_000 + "]" * 100_000 + "}")


def _huge(first: Path) -> None:
    info = json.loads(first.read_text())
    first.write_text(json.dumps(info)[:-1] + ', "note": "' + "x" * (20 << 20) + '"}')


def _fifo(first: Path) -> None:
    first.unlink()
    os.mkfifo(first)


def _to_zero(first: Path) -> None:
    first.unlink()
    os.symlink("/dev/zero", first)


@pytest.mark.parametrize("damage", [_nested, _huge, _fifo, _to_zero])
def test_a_backup_json_no_run_of_rabtui_wrote_has_its_backup_kept_and_the_rest_is_rebuilt(two_backups, damage):
    """Nested deeper than Python's JSON reader goes, larger than any record rabtui writes, a FIFO
    (read for ever), a symlink to /dev/zero (all memory): that backup is recorded as failed (kept)
    and named, as an unreadable one is; the rebuild neither fails whole, nor waits, nor fills the memory; and the next
    backup, which lists the medium's backups too, does not wait on it either."""
    lab, first = two_backups
    damage(first)
    done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "rebuild-state"],
                         capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode == 3 and "Traceback" not in out, out
    assert f"not matched: medium m1: {first}: it cannot be read as a JSON object" in done.stdout, out
    assert "backups: 2," in done.stdout and [s for _, s, _ in _backups(lab)] == ["failed", "completed"], out
    write_files(lab.src / "data", {"a": b"three"})
    after = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                          capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=60)
    assert after.returncode in (0, 3) and "Traceback" not in after.stderr, after.stdout + after.stderr


def _ids_on_medium(lab) -> dict[str, int]:
    root = lab.media[0][1] / "loc"
    return {name: json.loads((root / name / "backup.json").read_text()).get("backup_id")
            for name in sorted(os.listdir(root))}


@pytest.mark.parametrize("value", ["7", -3, 2 ** 62, None])
def test_a_backup_json_whose_id_is_none_of_rabtuis_is_given_the_id_it_is_recorded_under(tmp_path, value):
    """An id that is no id (text, negative, from 2**62 up; or none at all): rebuild-state records the
    backup under a new one and writes it into its backup.json, so that the medium and the database
    agree and the next rebuild numbers every backup as this one did."""
    lab, first = _two_backups(tmp_path)
    info = json.loads(first.read_text())
    if value is None:
        del info["backup_id"]
    else:
        info["backup_id"] = value
    first.write_text(json.dumps(info))

    done = _rabtui(lab, "rebuild-state")
    assert done.returncode in (0, 3), done.stdout + done.stderr
    rows = {r["name"]: r["id"] for r in lab.store().all("SELECT name, id FROM backups")}
    assert _ids_on_medium(lab) == rows and len(rows) == 2, (done.stdout, rows)
    name = first.parent.name
    assert f"renumbered: medium m1: {first.parent}: recorded as backup id {rows[name]}" in done.stdout, done.stdout
    assert json.loads(first.read_text()).get("former_ids", []) == info.get("former_ids", [])

    again = _rabtui(lab, "rebuild-state")
    assert again.returncode in (0, 3), again.stdout + again.stderr
    assert "renumbered" not in again.stdout, again.stdout
    assert {r["name"]: r["id"] for r in lab.store().all("SELECT name, id FROM backups")} == rows


def test_an_id_that_cannot_be_written_on_a_medium_mounted_read_only_is_said(tmp_path, bind_mount):
    """The same, the medium mounted read-only: the backup is recorded under its new id all the same,
    and the report says its backup.json could not be changed, and why (exit 3)."""
    lab, first = _two_backups(tmp_path)
    info = json.loads(first.read_text())
    info["backup_id"] = "7"
    first.write_text(json.dumps(info))
    medium = lab.media[0][1]
    bind_mount(medium, medium)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(medium)], check=True)

    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3, done.stdout + done.stderr
    bid = lab.store().one("SELECT id FROM backups WHERE name=?", (first.parent.name,))["id"]
    # the second one's, written first (the newest first), fails; the first one's waits for it
    assert "(another backup holds it, or it came before an older backup's there); its backup.json could not be"\
           " changed: Read-only file system" in done.stdout, done.stdout
    assert (f"medium m1: {first.parent}: recorded as backup id {bid}; its backup.json is left as it is until the id"
            " of a backup made after it there is written") in done.stdout, done.stdout
    assert json.loads(first.read_text())["backup_id"] == "7"


def test_a_rebuild_killed_before_its_database_is_in_place_changes_no_backup_json(two_backups):
    """rebuild-state renumbers both backups (the first one's backup.json holds no id) and is killed
    once the media are read, before the new database takes the old one's place: the old database
    stays, and so does every backup.json (the ids in them are the ones that database recorded), and
    a restore goes on from it; the next rebuild writes the new ids."""
    from rabtui import faults

    lab, first = two_backups
    info = json.loads(first.read_text())
    del info["backup_id"]
    first.write_text(json.dumps(info))
    records = {p: p.read_bytes() for p in sorted(first.parent.parent.glob("backup-*/backup.json"))}
    before = _ids_in_database(lab)
    killed = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "rebuild-state"],
                           cwd=ROOT, env={**os.environ, faults.ENV: "rebuild.media_read"}, capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert {p: p.read_bytes() for p in records} == records
    assert _ids_in_database(lab) == before
    assert _ids_on_medium(lab)[sorted(before)[1]] == before[sorted(before)[1]]
    out = lab.tmp / "out"
    restored = _rabtui(lab, "restore", "loc", str(lab.src / "data"), "--backup", first.parent.name, "--to", str(out))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert (out / str(lab.src / "data").lstrip("/") / "a").read_text() == "one"

    done = _rabtui(lab, "rebuild-state")
    assert done.returncode in (0, 3) and "renumbered" in done.stdout, done.stdout + done.stderr
    assert _ids_on_medium(lab) == _ids_in_database(lab)


def _ids_in_database(lab) -> dict[str, int]:
    store = lab.store()
    try:
        return {r["name"]: r["id"] for r in store.all("SELECT name, id FROM backups")}
    finally:
        store.close()


def test_ids_are_written_on_a_medium_with_a_device_mounted_again_once_the_database_is_in_place(tmp_path, disk_image):
    """The medium has a device: rebuild-state mounts it to read it, and again to write the ids it
    renumbered once the new database is in place; it is left unmounted."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    medium = lab.media[0][1]
    lab.on_device(medium, disk_image)
    write_files(lab.src / "data", {"a": b"one"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    subprocess.run(["mount", str(disk_image), str(medium)], check=True)
    try:
        first = _first_json(lab)
        info = json.loads(first.read_text())
        del info["backup_id"]
        first.write_text(json.dumps(info))
    finally:
        subprocess.run(["umount", str(medium)], check=True)

    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0 and "its backup.json says so now" in done.stdout, done.stdout + done.stderr
    assert not os.path.ismount(medium)
    subprocess.run(["mount", str(disk_image), str(medium)], check=True)
    try:
        assert _ids_on_medium(lab) == _ids_in_database(lab)
    finally:
        subprocess.run(["umount", str(medium)], check=True)


def test_a_backup_kept_by_rebuild_state_stays_once_its_record_is_corrected(two_backups):
    """The operator corrects the damaged backup.json of a backup rebuild-state recorded as failed and
    kept, and a cleanup (run-due's, say) comes before the rebuild-state the report asks for: the
    cleanup keeps it and says what to do. It deleted it as a failed run, complete as it is."""
    from datetime import datetime, timedelta

    lab, first = two_backups
    original = first.read_text()
    first.write_text("[1, 2]")
    assert _rabtui(lab, "rebuild-state").returncode == 3
    first.write_text(original)                  # corrected

    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="minutes")
    done = _rabtui(lab, "cleanup", "--now", later)
    assert done.returncode == 0, done.stdout + done.stderr
    assert first.exists(), done.stdout
    assert f"keeping {first.parent.name}: its backup.json says completed" in done.stdout, done.stdout
    assert "rebuild-state" in done.stdout, done.stdout
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [s for _, s, _ in _backups(lab)] == ["completed", "completed"]


def _killed_once_in_place(lab, first: Path, point: str = "rebuild.in_place") -> dict[str, int]:
    """rebuild-state renumbers both backups (the first one's backup.json holds no id) and is killed
    at `point` (by default once its database is in place, before it writes the new ids): the ids
    it gave, by name."""
    from rabtui import faults

    info = json.loads(first.read_text())
    del info["backup_id"]
    first.write_text(json.dumps(info))
    killed = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "rebuild-state"],
                           cwd=ROOT, env={**os.environ, faults.ENV: point}, capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    return _ids_in_database(lab)


def _former_ids(lab) -> dict[str, list[int]]:
    root = lab.media[0][1] / "loc"
    return {name: json.loads((root / name / "backup.json").read_text()).get("former_ids", [])
            for name in sorted(os.listdir(root))}


def test_ids_a_killed_rebuild_left_unwritten_are_written_by_the_next_backup(two_backups):
    """Killed once its database is in place, before the ids are written: the database keeps the
    writes still to do, and the next backup of the source onto the medium does them first; the
    records and the database agree again, the ids the records held before kept as former ids."""
    lab, first = two_backups
    was = _ids_on_medium(lab)
    given = _killed_once_in_place(lab, first)
    assert _ids_on_medium(lab) != given       # the records still hold the ids from before
    check = _rabtui(lab, "check")
    assert "medium m1: 2 backup record(s) do not say the id" in check.stdout, check.stdout + check.stderr
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    on_medium = _ids_on_medium(lab)
    assert {n: on_medium[n] for n in given} == given, (on_medium, given)
    second = sorted(given)[1]
    assert _former_ids(lab)[second] == [was[second]]
    assert not lab.store().all("SELECT key FROM meta WHERE key LIKE 'id_write:%'")
    assert "do not say the id" not in _rabtui(lab, "check").stdout


def test_ids_a_killed_rebuild_left_unwritten_are_written_by_the_next_rebuild(two_backups):
    """The same, rebuild-state run again next: it writes the ids the database it replaces recorded
    before it reads the media, so that each backup keeps the id the killed rebuild gave it (a disc
    burned since names it by that id); it numbered them anew, and those ids were in no record."""
    lab, first = two_backups
    given = _killed_once_in_place(lab, first)
    assert _ids_on_medium(lab) != given       # the records still hold the ids from before
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _ids_in_database(lab) == given == _ids_on_medium(lab), done.stdout
    assert not lab.store().all("SELECT key FROM meta WHERE key LIKE 'id_write:%'")


def test_ids_that_cannot_be_written_once_the_database_is_in_place_are_said_and_the_rest_written(tmp_path,
                                                                                               disk_image):
    """m1 has a device; its mount point becomes a file while rebuild-state holds its new database in
    place (stopped there): the ids of m1's backups cannot be written. That is said (exit 3, no
    traceback), m2's are written, and m1's stay recorded for the next rebuild to write."""
    import signal
    import time

    from rabtui import faults

    lab = Lab(tmp_path, media_count=2)
    lab.local()
    (m1, m1_path), (m2, m2_path) = lab.media
    lab.on_device(m1_path, disk_image)
    write_files(lab.src / "data", {"a": b"one"})
    assert _rabtui(lab, "backup", "loc", "--medium", m2).returncode == 0         # id 1
    for path in lab.state.glob("rabtui.db*"):      # lost: the next backup, onto m1, takes id 1 again
        os.unlink(path)
    for medium in (m1, m2):       # both renumbered: m1's clashes, m2's second was made after it
        next_second()
        done = _rabtui(lab, "backup", "loc", "--medium", medium)
        assert done.returncode == 0, done.stdout + done.stderr

    run = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "rebuild-state"],
                          cwd=ROOT, env={**os.environ, faults.STOP_ENV: "rebuild.in_place"}, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _stopped(run.pid):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.02)
        assert not os.path.ismount(m1_path)
        os.rmdir(m1_path)
        m1_path.write_text("no mount point")
    finally:
        run.send_signal(signal.SIGCONT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 3 and "Traceback" not in err, out + err
    assert f"medium m1: cannot be used at {m1_path}" in out and "renumbered: medium m2" in out, out
    rows = {(r["medium"], r["name"]): r["id"] for r in lab.store().all("SELECT medium, name, id FROM backups")}
    for name, _, info in medium_layout.list_backups(m2_path, "loc"):
        assert info["backup_id"] == rows[("m2", name)], (name, info, rows)
    left = lab.store().all("SELECT key FROM meta WHERE key LIKE 'id_write:%'")
    assert left and all(":m1:" in r["key"] for r in left), [tuple(r) for r in left]


def test_a_rebuild_killed_as_it_writes_the_ids_leaves_the_records_in_the_order_the_backups_were_made(two_backups):
    """Both backups renumbered (the first one's backup.json holds no id), rebuild-state killed once it
    wrote one id: the records on the medium still say the first was made first. The union's undoings
    go by that order (made_order.made_before: the complete backups made before a killed run, those
    made after a backup whose undoing a killed cleanup recorded). It wrote the oldest first: the
    first one's new id (above every id) then passed the second one's old id, taken for made later."""
    from rabtui.backup.made_order import made_before

    lab, first = two_backups
    given = _killed_once_in_place(lab, first, "ids.written")
    assert sum(_ids_on_medium(lab)[n] == given[n] for n in given) == 1     # one written, one left
    listed = medium_layout.list_backups(lab.media[0][1], "loc")
    assert [n for n, _, _ in listed] == sorted(given)
    assert made_before(listed, 0, 1) and not made_before(listed, 1, 0), [(n, i) for n, _, i in listed]
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {n: i for n, i in _ids_on_medium(lab).items() if n in given} == given


def test_an_id_that_cannot_be_written_leaves_the_older_backups_records_as_they_were(two_backups):
    """Both backups renumbered; the second one's backup.json cannot be replaced (immutable: chattr +i,
    as a medium failing there would refuse it). The first one's is left as it was too, to be written
    after it, so that the records still say the first was made first (made_order.made_before, which
    the union's undoings go by): its new id, above every id, was written and passed the second one's
    old id. Said (exit 3), and the next backup writes both once the second can be written."""
    from rabtui.backup.made_order import made_before

    lab, first = two_backups
    info = json.loads(first.read_text())
    del info["backup_id"]
    first.write_text(json.dumps(info))
    second = sorted(first.parent.parent.iterdir())[1] / "backup.json"
    subprocess.run(["chattr", "+i", str(second)], check=True)
    try:
        done = _rabtui(lab, "rebuild-state")
        assert done.returncode == 3 and "Traceback" not in done.stderr, done.stdout + done.stderr
        listed = medium_layout.list_backups(lab.media[0][1], "loc")
        assert made_before(listed, 0, 1) and not made_before(listed, 1, 0), [(n, i) for n, _, i in listed]
        assert f"{first.parent}: recorded as backup id" in done.stdout, done.stdout
    finally:
        subprocess.run(["chattr", "-i", str(second)], check=True)
    given = _ids_in_database(lab)
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {n: i for n, i in _ids_on_medium(lab).items() if n in given} == given


def test_a_backup_json_of_another_backup_is_said_and_its_directory_kept(two_backups):
    """A backup.json copied from another backup's directory (an operator who "repaired" a damaged
    record with a neighbour's) names another backup than its directory: taken at its word, the
    directory was recorded under that backup's status, start, totals and id. It is a record that
    does not say what its backup is: recorded as failed, kept, never deleted nor used as a base,
    and said, by rebuild-state and by each cleanup."""
    lab, first = two_backups
    root = first.parent.parent
    older, newer = sorted(os.listdir(root))
    info = json.loads((root / newer / "backup.json").read_text())
    first.write_text(json.dumps(info))      # the newer one's record in the older one's directory

    done = _rabtui(lab, "rebuild-state")
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert done.returncode == 3, out
    assert f"not matched: medium m1: {first}: name " in done.stdout, out
    assert "another backup's record" in done.stdout, out
    assert [(n, s) for n, s, _ in _backups(lab)] == [(older, "failed"), (newer, "completed")], out
    assert first.read_text() == json.dumps(info)        # nothing written into it

    # a cleanup long after keeps the directory, and says why
    later = (datetime.now() + timedelta(days=3)).isoformat(timespec="seconds")
    cleanup = _rabtui(lab, "cleanup", "--now", later)
    assert "Traceback" not in cleanup.stdout + cleanup.stderr
    assert (root / older / "data").is_dir(), cleanup.stdout + cleanup.stderr
    assert "another backup's record" in cleanup.stdout + cleanup.stderr, cleanup.stdout


def test_a_directory_named_as_a_backup_holding_what_no_run_leaves_is_kept_by_rebuild_and_cleanup(two_backups):
    """A directory of someone else's on the medium, named as a backup, with no backup.json: only
    data/ was looked at, so rebuild-state recorded it as an abandoned run (exit 0, said nothing)
    and the next cleanup deleted it with the file it held. A run killed before its record leaves
    only data/, backup.log and its record's temporary files: anything else is said and kept."""
    lab, first = two_backups
    planted = first.parent.parent / "backup-20200101000000"
    planted.mkdir()
    (planted / "notes.txt").write_bytes(b"the operator's own")

    done = _rabtui(lab, "rebuild-state")
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert done.returncode == 3 and '"notes.txt"' in done.stdout and "which no run of rabtui leaves" in out, out
    assert ("backup-20200101000000", "failed") in [(n, s) for n, s, _ in _backups(lab)], out

    later = (datetime.now() + timedelta(days=3)).isoformat(timespec="seconds")
    cleanup = _rabtui(lab, "cleanup", "--now", later)
    assert "Traceback" not in cleanup.stdout + cleanup.stderr
    assert (planted / "notes.txt").read_bytes() == b"the operator's own", cleanup.stdout + cleanup.stderr


def test_a_complete_backup_whose_status_was_edited_to_failed_is_kept(two_backups):
    """The newest backup.json's status edited from completed to failed, no reason given, no step
    failed: no run writes that (a failed run says why, and marks the step it failed in). rebuild-state
    records it failed but damaged, says so, and no cleanup deletes it a day later, as it deletes a
    failed run: its data, the source's newest, stays; check names it."""
    from rabtui.backup import records

    assert len(records.STEPS) == medium_layout.LAST_STEP
    lab, _ = two_backups
    newest = sorted(_first_json(lab).parent.parent.iterdir())[-1] / "backup.json"
    info = json.loads(newest.read_text())
    assert info["reason"] is None and {s["state"] for s in info["steps"]} == {"ok", "skipped"}   # no commands
    newest.write_text(json.dumps({**info, "status": "failed"}))
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3, done.stdout + done.stderr
    assert (f"not matched: medium m1: {newest}: status \"failed\", with no reason, while each of its steps ended"
            " well") in done.stdout, done.stdout
    assert [s for _, s, _ in _backups(lab)] == ["completed", "failed"]
    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="minutes")
    done = _rabtui(lab, "cleanup", "--now", later)
    assert done.returncode in (0, 3) and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert [s for _, s, _ in _backups(lab)] == ["completed", "failed"], done.stdout + done.stderr
    assert (newest.parent / "data").is_dir() and "no run of rabtui writes that" in done.stdout + done.stderr
    done = _rabtui(lab, "check")
    assert "no run of rabtui writes that" in done.stdout, done.stdout + done.stderr

    # a run's own failure, with its reason, goes as before
    newest.write_text(json.dumps({**info, "status": "failed", "reason": "rsync: exit 12"}))
    assert _rabtui(lab, "rebuild-state").returncode == 0
    assert _rabtui(lab, "cleanup", "--now", later).returncode == 0
    assert [s for _, s, _ in _backups(lab)] == ["completed", "deleted"]
