"""rebuild-state killed once its database was in place, with renumbered ids still to write into the
backup records of a medium, then a rebuild-state that cannot mount that medium: the new database
keeps those writes (said in its report, `check` warning ids:MEDIUM meanwhile), and the next backup
of the source onto the medium, or the next rebuild-state with it mounted, writes them: each backup
keeps the id the killed rebuild gave it (a disc burned since names it by that id). The new
database dropped them: the medium's records kept their older ids, and the rebuild after numbered
them anew. Real rsync, a real rebuild-state killed at its fault point, a real failing mount."""

from __future__ import annotations

import shutil

import pytest

from tests import test_rebuild_odd_records as odd
from tests.test_rebuild_odd_records import _ids_in_database, _ids_on_medium, _killed_once_in_place, _rabtui

_two_backups_made, two_backups = odd._two_backups_made, odd.two_backups     # its fixtures, here too


def _with_another_medium_read(lab) -> None:
    """An empty medium m2, labelled, added to the config: a rebuild that cannot read m1 reads it (one
    that reads no medium at all refuses, the database in place as it was)."""
    (lab.tmp / "medium2").mkdir(exist_ok=True)
    lab.config_path.write_text(lab.config_path.read_text() + f'\n[[media]]\nid = "m2"\npath = "{lab.tmp / "medium2"}"\n')
    done = _rabtui(lab, "media", "label", "m2")
    assert done.returncode == 0, done.stdout + done.stderr


def _pending(lab) -> list[str]:
    store = lab.store()
    try:
        return [r["key"] for r in store.all("SELECT key FROM meta WHERE key LIKE 'id_write:%'")]
    finally:
        store.close()


@pytest.mark.parametrize("then", [("rebuild-state",), ("backup", "loc")])
def test_ids_left_to_write_on_a_medium_a_rebuild_cannot_mount_are_kept_for_later(two_backups, then):
    lab, first = two_backups
    given = _killed_once_in_place(lab, first)
    assert _ids_on_medium(lab) != given and len(_pending(lab)) == 2
    text = lab.config_path.read_text()
    lab.on_device(lab.media[0][1], lab.tmp / "no-such-disk.img")
    _with_another_medium_read(lab)
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert len(_pending(lab)) == 2 and all(":m1:" in k for k in _pending(lab)), _pending(lab)
    assert "medium m1: 2 id(s) still to write into its backup records kept" in done.stdout, done.stdout
    check = _rabtui(lab, "check")
    assert "medium m1: 2 backup record(s) do not say the id" in check.stdout, check.stdout + check.stderr

    lab.config_path.write_text(text)          # mountable again (no device: the directory itself)
    done = _rabtui(lab, *then)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {n: i for n, i in _ids_on_medium(lab).items() if n in given} == given
    assert not _pending(lab)
    if then == ("rebuild-state",):
        assert _ids_in_database(lab) == given
    assert "do not say the id" not in _rabtui(lab, "check").stdout


def test_ids_left_to_write_on_a_medium_taken_out_of_the_config_are_kept_for_when_it_is_back(two_backups):
    """The medium taken out of the config (renamed there) between the killed rebuild and the next:
    that rebuild reads no medium m1, and keeps its writes as it keeps those of one it cannot mount;
    with m1 back in the config, the next rebuild-state writes them. They were dropped unsaid, and
    the medium's backups were numbered anew."""
    lab, first = two_backups
    given = _killed_once_in_place(lab, first)
    text = lab.config_path.read_text()
    lab.config_path.write_text(text.replace('id = "m1"', 'id = "m9"'))
    _with_another_medium_read(lab)
    done = _rabtui(lab, "rebuild-state")
    assert "Traceback" not in done.stderr, done.stdout + done.stderr
    assert len(_pending(lab)) == 2 and all(":m1:" in k for k in _pending(lab)), _pending(lab)
    assert "medium m1: 2 id(s) still to write into its backup records kept" in done.stdout, done.stdout
    lab.config_path.write_text(text)
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {n: i for n, i in _ids_on_medium(lab).items() if n in given} == given
    assert _ids_in_database(lab) == given and not _pending(lab)


@pytest.mark.parametrize("then", [("rebuild-state",), ("backup", "loc")])
def test_ids_left_to_write_on_a_medium_mounted_elsewhere_since_are_written_there(two_backups, then):
    """The medium mounted at another path since the killed rebuild (its config says so): the ids
    are written into its records there, each backup keeping the id it was given. They were taken
    for backups gone since (looked for at the old path), dropped, and the backups numbered anew."""
    lab, first = two_backups
    given = _killed_once_in_place(lab, first)
    old = lab.media[0][1]
    moved = old.with_name("moved")
    old.rename(moved)
    lab.config_path.write_text(lab.config_path.read_text().replace(f'path = "{old}"', f'path = "{moved}"'))
    done = _rabtui(lab, *then)
    assert done.returncode == 0 and "gone since" not in done.stdout + done.stderr, done.stdout + done.stderr
    moved.rename(old)        # where _ids_on_medium reads
    assert {n: i for n, i in _ids_on_medium(lab).items() if n in given} == given
    assert not _pending(lab)
    if then == ("rebuild-state",):
        assert _ids_in_database(lab) == given


def test_a_row_that_names_no_backup_directory_writes_nothing(two_backups):
    """A row to write whose path ends in no backup's name (`..`, damaged): nothing is written by it,
    the medium's own files least of all (a path is taken on the medium's current path by its last
    two names, which would have named the medium's top)."""
    import json

    lab, _ = two_backups
    m1 = lab.media[0][1]
    planted = m1 / "backup.json"
    planted.write_text('{"backup_id": 1}')
    store = lab.store()
    try:
        store.set_meta(f"id_write:m1:{m1}/loc/..", json.dumps(
            {"medium": "m1", "path": f"{m1}/loc/..", "was": None, "id": 99}))
    finally:
        store.close()
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert planted.read_text() == '{"backup_id": 1}' and not _pending(lab)


def test_ids_left_to_write_are_not_given_up_for_another_disk_labelled_as_the_medium(two_backups):
    """Another disk labelled m1 (another server's, or one labelled anew) at the medium's path: the
    rebuild reads none of its backups, and keeps the writes as for a medium away, for when m1's own
    disk is back. They were looked for on that disk, taken for backups gone since, and dropped."""
    import json

    lab, first = two_backups
    given = _killed_once_in_place(lab, first)
    own = lab.media[0][1]
    away = own.with_name("own-disk")
    own.rename(away)
    own.mkdir()
    label = json.loads((away / ".rabtui-medium").read_text())
    (own / ".rabtui-medium").write_text(json.dumps({**label, "created": "2020-01-01T00:00:00", "serial": "0123456789abcdef"}))
    _with_another_medium_read(lab)
    done = _rabtui(lab, "rebuild-state")
    assert "Traceback" not in done.stderr and "gone since" not in done.stdout, done.stdout + done.stderr
    assert len(_pending(lab)) == 2, done.stdout
    shutil.rmtree(own)
    away.rename(own)
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {n: i for n, i in _ids_on_medium(lab).items() if n in given} == given
    assert _ids_in_database(lab) == given and not _pending(lab)
