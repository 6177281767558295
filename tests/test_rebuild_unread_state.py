"""A disc whose copy of the state cannot be read: rebuild-state records its checkpoint from the
catalog, and says (a warning, exit 3) which disc's copy it could not read and what later restores
from the discs will lack: the xattrs with an empty value kept off the discs (kept_off.py) and the
ACLs and xattrs of the directories (dir_attrs.py), which only that copy holds. Real backup, real
xorriso onto an `images:` drive; the image made anew by xorriso with a damaged copy."""

from __future__ import annotations

import os
import time

import pytest

from rabtui.cli import main
from rabtui.state.store import Store
from tests.trees import Lab, write_files
from tests.test_disc_empty_xattrs import _burnt, place  # noqa: F401  (a fixture)
from tests.test_disc_verify_metadata import alter
from tests.test_checkpoint_stalls import stopping
from tests.test_rebuild_disc_state import _rebuilt


def test_a_disc_whose_state_copy_cannot_be_read_is_named_with_what_later_restores_lack(place, capsys):
    lab, argv, _data, _prefix = _burnt(place)
    (place / "not-a-database").write_bytes(b"no database here\n" * 64)
    alter(place / "iso" / "RAB1D01.iso", "-map", str(place / "not-a-database"), "/rabtui/rabtui.db")
    capsys.readouterr()
    _rebuilt(lab, argv)
    out = capsys.readouterr()
    said = out.out + out.err
    assert "RAB1D01" in said and "copy of the state" in said and "cannot be read" in said, said
    assert "empty value" in said and "ACLs" in said and "restore" in said, said
    store = Store(lab.state)
    assert store.one("SELECT COUNT(*) FROM disc_files WHERE number=1")[0] > 0
    job = store.one("SELECT status FROM jobs WHERE kind='rebuild'")
    assert job["status"] == "warnings", dict(job)


def test_a_disc_whose_state_copy_is_gone_is_named_too(place, capsys):
    lab, argv, _data, _prefix = _burnt(place)
    alter(place / "iso" / "RAB1D01.iso", "-rm", "/rabtui/rabtui.db", "--")
    capsys.readouterr()
    _rebuilt(lab, argv)
    said = "".join(capsys.readouterr())
    assert "RAB1D01" in said and "copy of the state" in said and "cannot be read" in said, said



def _two_discs_one_damaged(place, damaged: str) -> tuple:
    """A checkpoint of three 1.5 MB files (one with an empty-valued xattr, kept off the discs)
    burnt onto two 4 MiB discs, the copy of the state on the disc `damaged` (its image's name)
    replaced by a file that is no database: (lab, the command line's --config arguments)."""
    lab = Lab(place, media_count=1)
    lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {f"big{k}": os.urandom(1_500_000) for k in range(3)})
    os.setxattr(data / "big0", "user.empty", b"")
    assert lab.backup(lab.load()).status == "completed"
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "checkpoint", "burn", "--yes", "--now"]) == 0
    assert (place / "iso" / "RAB1D02.iso").exists()
    (place / "not-a-database").write_bytes(b"no database here\n" * 64)
    alter(place / "iso" / damaged, "-map", str(place / "not-a-database"), "/rabtui/rabtui.db")
    return lab, argv


def test_the_copy_of_another_disc_of_the_checkpoint_is_read_instead(place, capsys):
    """Each disc holds the whole record: with disc 1's copy damaged, disc 2's is read, and nothing
    is lacking (the empty-valued xattr is still recorded, no warning)."""
    lab, argv = _two_discs_one_damaged(place, "RAB1D01.iso")
    capsys.readouterr()
    _rebuilt(lab, argv)
    said = "".join(capsys.readouterr())
    assert "warning" not in said and "that on RAB1D02 was read instead" in said, said
    assert [bytes(r["name"]) for r in Store(lab.state).all("SELECT name FROM disc_xattrs_off")] == [b"user.empty"]


def test_a_copy_of_the_state_without_the_checkpoint_is_named_as_unread(place, capsys):
    """A disc whose copy of the state holds no record of its checkpoint (another checkpoint's
    copy, or another server's, put there; a database made anew) gives nothing: it is said as a
    copy that cannot be read, not taken silently as one that records nothing."""
    lab, argv, _data, _prefix = _burnt(place)
    other = place / "other-state"
    other.mkdir()
    Store(other).close()           # a state database with no checkpoint in it
    alter(place / "iso" / "RAB1D01.iso", "-map", str(other / "rabtui.db"), "/rabtui/rabtui.db")
    capsys.readouterr()
    _rebuilt(lab, argv)
    said = "".join(capsys.readouterr())
    assert "RAB1D01" in said and "copy of the state" in said and "cannot be read" in said, said
    assert "no record of checkpoint 1" in said, said
    job = Store(lab.state).one("SELECT status FROM jobs WHERE kind='rebuild'")
    assert job["status"] == "warnings", dict(job)


@pytest.mark.parametrize("order", [("RAB1D01.iso", "RAB1D02.iso"), ("RAB1D02.iso", "RAB1D01.iso")])
def test_a_disc_read_later_whose_copy_cannot_be_read_keeps_what_an_earlier_disc_gave(place, order):
    """On a drive the operator inserts the discs one after the other; disc 2's copy of the state
    cannot be read. Read after disc 1's, what disc 1's gave stays (the empty-valued xattr kept off
    the discs is still recorded), not replaced by nothing; read before it, disc 1's takes its
    place. Either way nothing is said lacking, and the checkpoint is counted once."""
    import shutil

    from rabtui.rebuild import scan as rebuild_run
    from rabtui.events import ScriptedPrompter

    lab, _argv = _two_discs_one_damaged(place, "RAB1D02.iso")
    drive = place / "sr0.iso"         # stands in for /dev/sr0: xorriso reads both alike
    text = lab.config_path.read_text().replace(f'images:{place / "iso"}', str(drive))
    assert str(drive) in text
    lab.config_path.write_text(text)
    lab.lose_database()
    inserted = iter(order)

    def operator(q):
        name = next(inserted, None)
        if name is None:
            return "skip"
        shutil.copyfile(place / "iso" / name, drive)
        return "ready"

    store = Store(lab.state)
    report = rebuild_run.rebuild(lab.load(), store, prompter=ScriptedPrompter(operator))
    assert [bytes(r["name"]) for r in store.all("SELECT name FROM disc_xattrs_off")] == [b"user.empty"]
    assert store.one("SELECT COUNT(*) FROM disc_files WHERE number=1 AND mode IS NOT NULL")[0] > 0
    assert not report.lacking, report.lacking
    assert any("RAB1D02" in n for n in report.notes), report.notes
    assert report.checkpoints == [1], report.checkpoints
    assert report.disc_files == store.one("SELECT COUNT(*) FROM disc_files")[0]


def _rebuilt_with_a_hang(place, capsys, on_disc: str) -> tuple[int, str, float]:
    """rebuild-state (checkpoint.io_timeout 2 s) with the xorriso that reads `on_disc` of the
    disc stopped as it starts, as a hung drive leaves it: its exit code, what it said, how long
    it took."""
    lab, argv, _data, _prefix = _burnt(place)
    text = lab.config_path.read_text().replace("[checkpoint]\n", "[checkpoint]\nio_timeout = 2\n", 1)
    assert "io_timeout = 2" in text
    lab.config_path.write_text(text)
    lab.lose_database()
    began = time.monotonic()
    capsys.readouterr()
    with stopping(os.fsencode(on_disc), place, hang=40):
        code = main([*argv, "rebuild-state"])
    return code, "".join(capsys.readouterr()), time.monotonic() - began


def test_a_drive_that_hangs_while_the_copy_is_read_is_said_after_io_timeout(place, capsys):
    """The xorriso that reads a disc's copy of the state stops (a hung drive): after
    checkpoint.io_timeout seconds it is stopped, the copy is said unread with why, and the
    rebuild goes on, instead of waiting an hour."""
    code, said, took = _rebuilt_with_a_hang(place, capsys, "/rabtui/rabtui.db")
    assert code in (0, 3) and took < 35, said
    assert "RAB1D01" in said and "cannot be read" in said and "wrote nothing for 2 s" in said, said


def test_a_drive_that_hangs_while_the_catalog_is_read_is_said_after_io_timeout(place, capsys):
    """As for the copy of the state, the xorriso that reads a disc's catalog is stopped after
    checkpoint.io_timeout seconds without output or work (it waited ten minutes, then the rebuild
    ended as cancelled); the disc is named with why and the rebuild goes on."""
    code, said, took = _rebuilt_with_a_hang(place, capsys, "/rabtui/catalog.tsv.gz")
    assert code in (1, 3) and took < 35, said
    assert "RAB1D01" in said and "wrote nothing for 2 s" in said and "catalog" in said, said


@pytest.mark.parametrize("damage", ["UPDATE disc_files SET disc_path=CAST(disc_path AS TEXT)",
                                    "UPDATE disc_files SET disc_path=-1",
                                    # bytes() of it was a TiB of zeros: all memory
                                    "UPDATE disc_files SET link=1099511627776 WHERE rowid=1"])
def test_a_copy_of_the_state_with_values_of_the_wrong_kind_is_named_as_unread(place, capsys, damage):
    """A copy of the state whose record of the checkpoint holds what rabtui never writes there (a
    path as text or as a number, a link as a number: another server's, or a damaged one SQLite still reads) is
    said as a copy that cannot be read, and the checkpoint is recorded from its catalog; it failed the
    rebuild whole."""
    lab, argv = _copy_damaged(place, damage)
    said = "".join(capsys.readouterr())
    assert "RAB1D01" in said and "copy of the state" in said and "cannot be read" in said, said
    assert "values of another kind" in said, said
    store = Store(lab.state)
    assert store.one("SELECT COUNT(*) FROM disc_files WHERE number=1")[0] > 0
    assert store.one("SELECT status FROM jobs WHERE kind='rebuild'")["status"] == "warnings"


def test_a_plan_nested_deeper_than_the_json_reader_goes_is_a_plan_not_read(place, capsys):
    """The checkpoint's plan in the copy nested past Python's JSON reader: its filler is not known,
    as of a plan that is no JSON, and the rest of the copy is read; it failed the rebuild whole."""
    lab, argv = _copy_damaged(place, "UPDATE checkpoints SET plan='{\"dirs\": ' || replace(hex(zeroblob(60000)),"
                                     " '00', '[') || '}'")
    store = Store(lab.state)
    assert store.one("SELECT COUNT(*) FROM disc_files WHERE number=1 AND mode IS NOT NULL")[0] > 0


def _copy_damaged(place, damage: str) -> tuple:
    """A checkpoint burnt, the copy of the state on its disc replaced by one changed by the SQL
    `damage`, the state rebuilt (exit 0 or 3)."""
    import sqlite3

    lab, argv, _data, _prefix = _burnt(place)
    other = place / "other-state"
    other.mkdir()
    conn = sqlite3.connect(other / "rabtui.db")
    source = sqlite3.connect(lab.state / "rabtui.db")     # with what its -wal holds
    source.backup(conn)
    source.close()
    with conn:
        conn.execute(damage)
    conn.execute("VACUUM")
    conn.close()
    alter(place / "iso" / "RAB1D01.iso", "-map", str(other / "rabtui.db"), "/rabtui/rabtui.db")
    _rebuilt(lab, argv)
    return lab, argv


def test_a_copy_of_the_state_with_a_time_no_clock_gives_is_read_without_it(place, capsys):
    """The copy of the state records the checkpoint made at an infinite time (damaged, or
    another's): that time is left out and the README's taken. It failed the whole rebuild
    (OverflowError, naming no disc)."""
    lab, argv = _copy_damaged(place, "UPDATE checkpoints SET created=9e999")
    store = Store(lab.state)
    created = store.one("SELECT created FROM checkpoints WHERE number=1")["created"]
    assert 1e9 < created < time.time() + 60, created
    assert store.one("SELECT COUNT(*) FROM disc_files WHERE number=1 AND mode IS NOT NULL")[0] > 0
