"""Discs that are not what was backed up, made with xorriso from a verified image (an entry added,
removed, a hard link broken, a 255-byte non-UTF-8 name or the end of a 4,000-byte path changed):
verification fails each by name. Real backups, real xorriso, an `images:` drive."""

from __future__ import annotations

import os

import pytest

from tests.test_checkpoint_deep import _deep_tree, _name, no_room_to_extract
from tests.test_disc_verify_metadata import MTIME, _verify, alter, burn_one
from tests.trees import Lab, made_once, write_files

ODD = _name(7)                       # 255 bytes: control bytes, a newline, non-UTF-8, CJK


def _burnt(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    data = lab.src / "data"
    write_files(data, {"a": b"linked content", "twin": b"linked content", "plain": b"plain",
                       b"odd/" + ODD: b"odd name"})
    os.link(data / "a", data / "b")
    os.symlink("odd", data / "to-dir")          # a symlink to a directory beside it
    (data / "deep").mkdir()
    deepest = _deep_tree(data / "deep")
    for path in (data / "a", data / "twin", os.path.join(os.fsencode(data / "odd"), ODD)):
        os.utime(path, (MTIME, MTIME))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    prefix = b"/data/loc/" + os.fsencode(data).lstrip(b"/")
    return lab, cfg, store, number, iso, prefix, deepest


@pytest.fixture(scope="module")
def _burnt_made(tmp_path_factory):
    def make(live):
        made = _burnt(live)
        made[2].close()
        return made

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def burnt(_burnt_made):
    """What _burnt makes, anew for each test (made once for the module, at the same paths)."""
    (_lab, _cfg, _store, number, iso, prefix, deepest), made = _burnt_made
    lab = Lab(made.anew(), media_count=1)
    return lab, lab.load(), lab.store(), number, iso, prefix, deepest


def test_a_file_added_to_a_disc_fails_it_by_name(tmp_path, burnt):
    lab, cfg, store, number, iso, prefix, _deep = burnt
    planted = tmp_path / "planted"
    planted.write_bytes(b"not backed up")
    alter(iso, "-map", str(planted), os.fsdecode(prefix + b"/planted"))
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "/planted" in why and "not in the catalog" in why, why


def test_a_directory_added_to_a_disc_fails_it_by_name(burnt):
    lab, cfg, store, number, iso, prefix, _deep = burnt
    alter(iso, "-mkdir", os.fsdecode(prefix + b"/odd/newdir"), "--")
    why = _verify(cfg, store, number)
    assert "/odd/newdir" in why and "not in the catalog" in why, why


def test_a_file_removed_from_a_disc_fails_it_by_name(burnt):
    lab, cfg, store, number, iso, prefix, _deep = burnt
    alter(iso, "-rm", os.fsdecode(prefix + b"/plain"), "--")
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "1 file missing" in why and "/plain" in why, why


def test_hard_links_symlinks_to_directories_and_odd_names_verify_as_they_are(burnt):
    lab, cfg, store, number, iso, prefix, _deep = burnt
    assert _verify(cfg, store, number) == ""


def test_the_time_of_a_file_with_a_255_byte_non_utf8_name_is_compared(burnt):
    lab, cfg, store, number, iso, prefix, _deep = burnt
    alter(iso, "-alter_date", "m", "Jan 01 00:00:00 2011", os.fsdecode(prefix + b"/odd/" + ODD), "--")
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "(mtime 2011-01-01 00:00:00 UTC" in why, why


def test_the_mode_of_a_file_at_the_end_of_a_4000_byte_path_is_compared(burnt):
    lab, cfg, store, number, iso, prefix, deepest = burnt
    alter(iso, "-chmod", "0600", os.fsdecode(prefix + b"/deep/" + deepest), "--")
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "(mode 0600, backed up 0644)" in why, why


@pytest.mark.parametrize("room", ["extracted", "streamed"])
def test_a_hard_link_broken_on_a_disc_fails_it_by_name(tmp_path, burnt, monkeypatch, room):
    """b was backed up as a hard link of a; the disc holds it as a copy with the same content, time
    and mode: a restore from it would not give the hard link back. Streamed, the listing shows the
    copy's data apart from a's."""
    lab, cfg, store, number, iso, prefix, _deep = burnt
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    copy = tmp_path / "b-copy"
    copy.write_bytes(b"linked content")
    os.chmod(copy, os.stat(lab.src / "data" / "a").st_mode & 0o7777)
    os.utime(copy, (MTIME, MTIME))
    alter(iso, "-rm", os.fsdecode(prefix + b"/b"), "--", "-map", str(copy), os.fsdecode(prefix + b"/b"))
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "/b (not hard-linked to" in why, why


@pytest.mark.parametrize("room", ["extracted", "streamed"])
def test_files_hard_linked_on_a_disc_that_were_not_so_backed_up_fail_it(burnt, monkeypatch, room):
    """twin has a's content, time and mode, and was backed up as a file of its own."""
    lab, cfg, store, number, iso, prefix, _deep = burnt
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    alter(iso, "-rm", os.fsdecode(prefix + b"/twin"), "--", "-hardlinks", "on",
          "-cp_clone", os.fsdecode(prefix + b"/a"), os.fsdecode(prefix + b"/twin"), "--")
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "/twin (hard-linked to" in why, why


@pytest.mark.parametrize("change, named", [
    (lambda p, tmp: ["-chmod", "04755", os.fsdecode(p + b"/plain"), "--"], "/plain (mode 4755, backed up 0644)"),
    (lambda p, tmp: ["-rm", os.fsdecode(p + b"/to-dir"), "--", "-lns", "/etc", os.fsdecode(p + b"/to-dir")],
     "/to-dir (symlink to '/etc', backed up to 'odd')"),
    (lambda p, tmp: ["-map", str(tmp / "planted"), os.fsdecode(p + b"/odd/planted")], "not in the catalog"),
    (lambda p, tmp: ["-chmod", "0700", os.fsdecode(p + b"/odd/" + ODD), "--"], "(mode 0700, backed up 0644)"),
])
def test_without_room_to_extract_modes_symlinks_and_extra_entries_are_still_compared(tmp_path, burnt, monkeypatch,
                                                                                     change, named):
    """No room to extract the disc: each file is read back as a stream, and the disc's listing
    (xorriso's `-exec lsdl`) is compared with what was backed up."""
    lab, cfg, store, number, iso, prefix, _deep = burnt
    (tmp_path / "planted").write_bytes(b"not backed up")
    alter(iso, *change(prefix, tmp_path))
    no_room_to_extract(monkeypatch)
    why = _verify(cfg, store, number)
    assert "verification failed" in why and named in why, why


@pytest.mark.parametrize("room", ["extracted", "streamed"])
def test_an_owner_that_differs_on_a_disc_fails_it_by_name(burnt, monkeypatch, room):
    """Extracted, owners come off a disc only as root: then they are compared; the listing
    compares them as any user."""
    if room == "extracted" and os.geteuid() != 0:
        pytest.skip("only root extracts a disc with its owners")
    lab, cfg, store, number, iso, prefix, _deep = burnt
    st = os.stat(lab.src / "data" / "plain")
    alter(iso, "-chown", str(st.st_uid + 4321), os.fsdecode(prefix + b"/plain"), "--",
          "-chgrp", str(st.st_gid + 1234), os.fsdecode(prefix + b"/twin"), "--")
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    why = _verify(cfg, store, number)
    assert f"/plain (owner {st.st_uid + 4321}:{st.st_gid}, backed up {st.st_uid}:{st.st_gid})" in why, why
    assert f"/twin (owner {st.st_uid}:{st.st_gid + 1234}, backed up {st.st_uid}:{st.st_gid})" in why, why


@pytest.mark.parametrize("room", ["extracted", "streamed"])
def test_a_checkpoint_recorded_before_modes_owners_and_links_were_kept_verifies(burnt, monkeypatch, room):
    """Its rows hold no mode, owner, symlink target nor hard links (NULL): only what they hold is
    compared, and its discs, hard links and all, verify."""
    lab, cfg, store, number, iso, prefix, _deep = burnt
    store.execute("UPDATE disc_files SET mode=NULL, link=NULL, link_group=NULL, uid=NULL, gid=NULL")
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    assert _verify(cfg, store, number) == ""


def test_a_state_database_made_before_the_columns_were_added_gets_them(tmp_path):
    from rabtui.state.schema import ADDED_COLUMNS
    from rabtui.state.store import Store

    store = Store(tmp_path / "state")
    for table, column, _kind in ADDED_COLUMNS:
        store.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    store.close()
    store = Store(tmp_path / "state")
    for table, column, _kind in ADDED_COLUMNS:
        assert column in {r[1] for r in store.all(f"PRAGMA table_info({table})")}, (table, column)


def test_a_rebuilt_checkpoint_with_filler_verifies_and_a_planted_data_file_still_fails_it(tmp_path, capsys):
    """rebuild-state records a disc's data/ rows, not its filler (add/N: whose directory it was is
    not in the catalog): `checkpoint verify` of the rebuilt checkpoint passes its filler, and
    still fails a file planted under data/."""
    from rabtui.cli import main
    from rabtui.state.store import Store
    from tests.test_checkpoint import _not_due

    lab = Lab(tmp_path, media_count=1)
    for d in ("data", "fill"):
        (lab.src / d).mkdir()
    cfg = lab.write('[[sources]]\nid = "loc"\n'
                    + "".join(f'[[sources.directories]]\npath = "{lab.src / d}"\n' for d in ("data", "fill"))
                    + f'\n[checkpoint]\ndisc = "8MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    write_files(lab.src / "data", {"a.bin": 900_000})
    write_files(lab.src / "fill", {"f.bin": 100_000, "sub/g": b"g"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    _not_due(store, lab.src / "fill")
    number = burn_one(lab, cfg, store)
    assert store.one("SELECT COUNT(*) FROM disc_files WHERE CAST(disc_path AS TEXT) GLOB 'add/*'")[0] == 2
    store.close()
    lab.lose_database()
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "rebuild-state"]) in (0, 3)
    store = Store(lab.state)
    assert _verify(cfg, store, number) == ""

    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    (tmp_path / "planted").write_bytes(b"not backed up")
    alter(iso, "-map", str(tmp_path / "planted"), "/data/loc/" + str(lab.src / "data").lstrip("/") + "/planted")
    why = _verify(cfg, store, number)
    assert "/planted" in why and "not in the catalog" in why and "add/" not in why, why
