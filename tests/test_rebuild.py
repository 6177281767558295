"""rebuild-state: the state database deleted, rebuilt from real media and a real checkpoint ISO;
find, restore and the next backup then behave as before."""

from __future__ import annotations

import json
import os
import shutil
import threading
from datetime import datetime, timedelta

import pytest

from rabtui.actions import find as find_actions
from rabtui.checkpoint import run
from rabtui.errors import UsageError
from rabtui.events import READY, ScriptedPrompter
from rabtui.state import catalog
from rabtui.actions.find import find_with_newest_backup
from rabtui.rebuild import disc_text
from rabtui.rebuild import scan as rebuild
from rabtui.restore import run as R
from rabtui.cli import main
from rabtui.state.store import Store
from tests.fidelity import unsummed_said
from tests.test_restore import _escape, make_disc
from tests.trees import Lab, hostile_tree, snapshot, write_files

T0 = datetime(2026, 9, 1, 3, 0)


def _catalog_view(store):
    """Every version with the names of its first and last backups (ids may differ after a rebuild)."""
    rows = store.all(
        "SELECT p.source, p.dir, p.path, v.medium, v.size, v.mtime, f.name AS first, l.name AS last"
        " FROM versions v JOIN paths p ON p.id=v.path_id JOIN backups f ON f.id=v.first_backup"
        " JOIN backups l ON l.id=v.last_backup")
    return sorted(tuple(bytes(v) if isinstance(v, bytes) else v for v in r) for r in rows)


def test_rebuild_then_find_restore_and_next_backup(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=2)
    images = tmp_path / "iso"
    images.mkdir()
    lab.local([("data", "standard"), ("photos", "archive")])
    text = lab.config_path.read_text().replace("[[media]]", f'[checkpoint]\ndrive = "images:{images}"\n\n[[media]]', 1)
    lab.config_path.write_text(text)
    cfg = lab.load()
    hostile_tree(lab.src / "data")
    write_files(lab.src / "data", {"etc/conf": b"v1", "keep": 3000})
    write_files(lab.src / "photos", {"p1.jpg": 500})
    b1 = lab.backup(cfg, now=T0, medium_id="m1")
    (lab.src / "data/etc/conf").write_bytes(b"v22")     # another size: rsync sees it in the same second
    write_files(lab.src / "photos", {"p2.jpg": 600})
    b2 = lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1")
    b3 = lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m2")
    assert {b1.status, b2.status, b3.status} == {"completed"}
    # a broken run on m2 (no final backup.json) and a stranger's backups on m1
    broken = b3.path.parent / "backup-20260904030000"
    (broken / "data").mkdir(parents=True)
    (lab.media[0][1] / "ghost" / "backup-20260101000000").mkdir(parents=True)
    # a checkpoint disc holding the conf file
    conf = str(lab.src / "data/etc/conf").lstrip("/").encode()
    gone = str(lab.src / "data/etc/gone.txt").lstrip("/").encode()     # on the disc only
    make_disc(images / "RAB1D01.iso", "RAB1D01", {b"data/loc/" + conf: b"v2", b"data/loc/" + gone: b"old"},
              b"disc\tpath\tsize\tmtime\tsha256\n" + b"1\t%s\t2\t1650000000\t-\n" % _escape(b"data/loc/" + conf)
              + b"1\t%s\t3\t1650000000\t-\n" % _escape(b"data/loc/" + gone))

    store = lab.store()
    before = _catalog_view(store)
    found_before = [(v.path, v.size, [l.describe() for l in v.locations])
                    for v in catalog.find(store, "conf", archive_dirs={"loc": (str(lab.src / "photos"),)})]
    store.close()
    lab.lose_database()

    code = main(["--config", str(lab.config_path), "rebuild-state"])
    out = capsys.readouterr().out
    assert code == 3                                    # something was not matched: warnings
    assert "media found: m1, m2" in out and "backups: 4" in out and "checkpoints: 1 (2 disc files)" in out
    assert "ghost" in out

    store = Store(lab.state)
    assert _catalog_view(store) == before
    rows = {r["name"]: r["status"] for r in store.all("SELECT name, status FROM backups")}
    assert rows[broken.name] == "abandoned" and rows[b2.path.name] == "completed"
    found_after = [(v.path, v.size, [l.describe() for l in v.locations])
                   for v in catalog.find(store, "conf", archive_dirs={"loc": (str(lab.src / "photos"),)})]
    on_media = [f for f in found_after if not any(d.startswith("checkpoint") for d in f[2])]
    assert on_media == found_before
    on_disc = [f for f in found_after if f not in on_media]
    assert [f[2] for f in on_disc] == [["checkpoint 1 disc 1 (RAB1D01, written)"]]

    # a file only a disc holds is found on the command line and in Browse alike
    assert [v.path for v in find_actions.find(cfg, store, "gone.txt").versions] == [gone]
    assert [(r["path"], r["backup"], r["where"]) for r in find_with_newest_backup(cfg, store, "gone.txt")] == [
        (gone, None, "checkpoint 1 disc 1 (RAB1D01, written)")]

    # restore from a medium and from the disc
    R.restore(cfg, store, "loc", str(lab.src / "data"), to=tmp_path / "out")
    assert snapshot(tmp_path / "out" / str(lab.src / "data").lstrip("/")) == snapshot(lab.src / "data")
    R.restore(cfg, store, "loc", "/" + conf.decode(), checkpoint=1, to=tmp_path / "disc")
    assert (tmp_path / "disc" / conf.decode()).read_bytes() == b"v2"

    # the next backup links against the rebuilt newest backup on its medium and extends the catalog
    (lab.src / "data/etc/conf").write_bytes(b"v333")
    b4 = lab.backup(cfg, now=T0 + timedelta(days=5), medium_id="m1")
    assert b4.status == "completed"
    keep = os.path.join(b"data", os.fsencode(str(lab.src / "data/keep")).lstrip(b"/"))
    assert os.stat(os.path.join(os.fsencode(b2.path), keep)).st_ino == os.stat(os.path.join(os.fsencode(b4.path), keep)).st_ino
    v = catalog.find(store, "keep")
    assert [(l.medium, l.backups) for l in v[0].locations] == [
        ("m1", [b1.path.name, b2.path.name, b4.path.name]), ("m2", [b3.path.name])]
    assert b4.new_bytes == 4


def test_parse_catalog_tsv():
    text = b"disc\tpath\tsize\tmtime\tsha256\n1\tdata/s/a\\tb\t3\t100\t-\n2\tdata/s/big.part02-of-03\t9\t5\tab12\n"
    rows = disc_text.parse_catalog_tsv(text)
    assert rows[0] == {"disc": 1, "disc_path": b"data/s/a\tb", "size": 3, "mtime": 100, "sha256": None}


def _rows(*entries):
    return [{"disc": disc, "disc_path": path, "size": 1, "mtime": mtime, "sha256": None}
            for disc, path, mtime in entries]


def test_only_a_whole_set_of_parts_on_consecutive_discs_is_read_as_a_file_cut_into_parts():
    cut = _rows((1, b"data/s/big.part01-of-03", 5), (2, b"data/s/big.part02-of-03", 5), (3, b"data/s/big.part03-of-03", 5))
    assert disc_text.originals(cut) == [("s", b"big", 1, 3), ("s", b"big", 2, 3), ("s", b"big", 3, 3)]
    assert disc_text.originals(_rows((2, b"add/1/x", 5))) == [None]
    for named_so in (
        _rows((1, b"data/s/x.part01-of-02", 5)),                                     # a lone one
        _rows((1, b"data/s/x.part01-of-02", 5), (1, b"data/s/x.part02-of-02", 5)),   # split by hand, one disc
        _rows((1, b"data/s/x.part01-of-02", 5), (3, b"data/s/x.part02-of-02", 5)),   # not consecutive
        _rows((1, b"data/s/x.part01-of-02", 5), (2, b"data/s/x.part02-of-02", 6)),   # two times
        _rows((2, b"data/s/x.part01-of-02", 5), (1, b"data/s/x.part02-of-02", 5)),   # backwards
        _rows((1, b"data/s/x.part01-of-01", 5)),
        # a file of the source named so: of a billion billion parts (it built their list: all memory)
        _rows((1, b"data/s/x.part1-of-1000000000000000000", 5)),
    ):
        assert [o[2:] for o in disc_text.originals(named_so)] == [(None, None)] * len(named_so)
        assert [o[1] for o in disc_text.originals(named_so)] == [r["disc_path"][len(b"data/s/"):] for r in named_so]


def test_rebuild_asks_for_discs_on_a_real_drive(tmp_path):
    from rabtui.events import ScriptedPrompter

    lab = Lab(tmp_path, media_count=1)
    drive = tmp_path / "sr0.iso"            # stands in for /dev/sr0: xorriso reads both alike
    lab.local([("data", "standard")])
    text = lab.config_path.read_text().replace("[[media]]", f'[checkpoint]\ndrive = "{drive}"\n\n[[media]]', 1)
    lab.config_path.write_text(text)
    cfg = lab.load()
    make_disc(drive, "RAB4D02", {b"data/loc/x/y": b"yy"},
              b"disc\tpath\tsize\tmtime\tsha256\n2\tdata/loc/x/y\t2\t1650000000\t-\n")
    store = lab.store()
    prompter = ScriptedPrompter(["ready", "skip"])
    report = rebuild.rebuild(cfg, store, prompter=prompter)
    assert report.checkpoints == [4] and len(prompter.asked) == 2
    row = store.one("SELECT * FROM disc_files")
    assert (row["number"], row["disc"], bytes(row["path"]), row["source"]) == (4, 2, b"x/y", "loc")
    assert store.one("SELECT discs FROM checkpoints WHERE number=4")["discs"] == 2


def _burnt_then_rebuilt(tmp_path, away: list[str] = ()):
    """A checkpoint of 2 discs or more onto images, then the database gone and rebuilt from the
    media and the images (but those `away`)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {f"f{i}": os.urandom(900_000) for i in range(6)})
    assert lab.backup(cfg).status == "completed"
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "checkpoint", "burn", "--yes", "--now"]) == 0
    lab.lose_database()
    for name in away:
        os.unlink(tmp_path / "iso" / name)
    assert main([*argv, "rebuild-state"]) in (0, 3)
    return lab, cfg, argv


def test_a_rebuilt_checkpoint_is_verified_again_and_never_written(tmp_path, capsys):
    """rebuild-state knows a checkpoint's discs, not where their files came from: `checkpoint
    verify` checks them again (each file read back against the catalog's sha256); writing one of
    them again is refused with what to do instead, and the checkpoint stays as it was."""
    lab, cfg, argv = _burnt_then_rebuilt(tmp_path)
    rebuilt = capsys.readouterr().out
    store = Store(lab.state)
    assert store.one("SELECT discs FROM checkpoints WHERE number=1")["discs"] >= 2
    # what neither the catalog read back from the discs nor the state can check is said, not passed over
    not_checked = f"but not checked: {unsummed_said()}the mode, owner and time of its directories"
    assert not_checked in rebuilt, rebuilt
    assert all(not_checked in r["message"] for r in store.all("SELECT message FROM discs")), \
        store.all("SELECT message FROM discs")

    assert main([*argv, "checkpoint", "verify", "1", "--yes", "--json"]) == 3
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed" and "not checked" in out["message"] and "verified" not in out["message"]
    discs = store.one("SELECT discs FROM checkpoints WHERE number=1")["discs"]
    assert set(out["unchecked"]) == {str(k) for k in range(1, discs + 1)} and "rebuilt from its discs" in out["unchecked"]["1"][0], out
    assert {r["state"] for r in store.all("SELECT state FROM discs")} == {"verified"}

    # a disc found but not verified (a real drive's disc the operator did not insert)
    store.execute("UPDATE discs SET state='written' WHERE disc=2")
    with pytest.raises(UsageError, match="was rebuilt from its discs.*checkpoint burn --now"):
        run.burn_checkpoint(cfg, store, 1, emit=lambda e: None, cancel=threading.Event(),
                            prompter=ScriptedPrompter(lambda q: READY))
    assert store.one("SELECT status FROM checkpoints WHERE number=1")["status"] == "completed"
    assert store.one("SELECT state FROM discs WHERE disc=2")["state"] == "written"


def test_a_rebuilt_checkpoint_that_lacks_a_disc_can_be_given_up(tmp_path, capsys):
    """rebuild-state found disc 1 of checkpoint 1 but not disc 2, and no disc read says disc 2 was
    written (the copy of the state on disc 1 was made before it): disc 2 is recorded as never
    written, the checkpoint as unfinished, its directory as due as it was before the checkpoint
    (never checkpointed), not as complete with a disc that may not exist. Verifying it checks
    disc 1 and passes over disc 2; it cannot be resumed (nothing to write it from); `check` says
    how to go on, and `checkpoint abandon` gives the missing disc up: disc 1 stays verified and
    usable."""
    lab, cfg, argv = _burnt_then_rebuilt(tmp_path, away=["RAB1D02.iso"])
    assert "disc 2 of 2 not written: no image of it in" in capsys.readouterr().out
    store = Store(lab.state)
    assert store.one("SELECT status FROM checkpoints")["status"] == "aborted"
    assert {r["disc"]: r["state"] for r in store.all("SELECT disc, state FROM discs")} == {1: "verified", 2: "planned"}
    assert store.one("SELECT last_checkpoint FROM dir_state")["last_checkpoint"] is None
    seen = []
    prompter = ScriptedPrompter(lambda q: READY)
    res = run.verify_checkpoint(cfg, store, 1, emit=seen.append, cancel=threading.Event(), prompter=prompter)
    assert res.verified == [1] and res.skipped == [2]
    assert any("disc 2 was never written; `rabtui checkpoint abandon 1` gives it up" in e.message for e in seen)
    with pytest.raises(UsageError, match="rebuilt from its discs") as refused:
        run.burn_checkpoint(cfg, store, 1, emit=lambda e: None, cancel=threading.Event(), prompter=prompter)
    assert "checkpoint abandon 1" in refused.value.hint
    capsys.readouterr()
    assert main([*argv, "check"]) == 1
    out = capsys.readouterr().out
    assert "checkpoint 1 is unfinished" in out and "checkpoint abandon 1" in out and "resume" not in out, out

    assert main([*argv, "checkpoint", "abandon", "1"]) == 0
    assert {r["disc"]: r["state"] for r in store.all("SELECT disc, state FROM discs")} == {1: "verified",
                                                                                       2: "abandoned"}
    assert store.one("SELECT status FROM checkpoints")["status"] == "abandoned"
    assert store.one("SELECT last_checkpoint FROM dir_state")["last_checkpoint"] is None
    capsys.readouterr()
    main([*argv, "check"])
    assert "checkpoint 1" not in capsys.readouterr().out


def test_a_real_drives_discs_not_inserted_are_written_only_when_a_disc_read_says_so(tmp_path, capsys):
    """In a real drive, rebuild-state reads the discs the operator inserts. Disc 1 alone of a
    2-disc checkpoint cannot tell whether disc 2 was ever written: the checkpoint is recorded
    unfinished and its directory due, the note naming the last disc to insert. The last disc tells
    (its copy of the state was made after disc 1 was verified): complete, disc 1 written."""
    lab, cfg, argv = _burnt_then_rebuilt(tmp_path)
    drive = tmp_path / "sr0.iso"        # stands in for /dev/sr0: xorriso reads both alike
    lab.config_path.write_text(lab.config_path.read_text().replace(f'drive = "images:{tmp_path / "iso"}"',
                                                                   f'drive = "{drive}"'))
    cfg = lab.load()

    def rebuilt(*discs):
        lab.lose_database()
        left = list(discs)

        def operator(q):
            if not left:
                return "skip"
            shutil.copyfile(tmp_path / "iso" / f"RAB1D0{left.pop(0)}.iso", drive)
            return READY
        store = Store(lab.state)
        report = rebuild.rebuild(cfg, store, prompter=ScriptedPrompter(operator))
        return store, report, {r["disc"]: r["state"] for r in store.all("SELECT disc, state FROM discs")}

    store, report, states = rebuilt(1)
    assert states == {1: "written", 2: "planned"}
    assert store.one("SELECT status FROM checkpoints")["status"] == "aborted"
    assert store.one("SELECT last_checkpoint FROM dir_state")["last_checkpoint"] is None
    assert any("disc 2 of 2 not read" in n and "insert its last disc, RAB1D02" in n for n in report.notes), report.notes
    store.close()
    for discs in ((2,), (1, 2)):
        store, report, states = rebuilt(*discs)
        assert states == {1: "written", 2: "written"}, discs
        assert store.one("SELECT status FROM checkpoints")["status"] == "completed"
        assert store.one("SELECT last_checkpoint FROM dir_state")["last_checkpoint"] == 1
        assert not any("not read" in n for n in report.notes), report.notes
        store.close()


def test_find_lists_files_only_a_disc_holds_in_order_with_the_others(tmp_path, capsys):
    """After a rebuild, a file that only a checkpoint disc holds (its backups deleted since) is
    listed by find in its place among the others, as it was before the database was lost."""
    lab = Lab(tmp_path, media_count=1)
    images = tmp_path / "iso"
    images.mkdir()
    lab.local()
    text = lab.config_path.read_text().replace("[[media]]", f'[checkpoint]\ndrive = "images:{images}"\n\n[[media]]', 1)
    lab.config_path.write_text(text)
    cfg = lab.load()
    write_files(lab.src / "data", {"b.txt": b"b", "d.txt": b"d"})
    assert lab.backup(cfg).status == "completed"
    gone = [str(lab.src / "data" / n).lstrip("/").encode() for n in ("a.txt", "c.txt")]
    make_disc(images / "RAB1D01.iso", "RAB1D01", {b"data/loc/" + g: b"old" for g in gone},
              b"disc\tpath\tsize\tmtime\tsha256\n"
              + b"".join(b"1\t%s\t3\t1650000000\t-\n" % _escape(b"data/loc/" + g) for g in gone))
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "find", "--json", "*.txt"]) == 0
    import json

    shown = [v["path"].rsplit("/", 1)[-1] for v in json.loads(capsys.readouterr().out)]
    assert shown == ["a.txt", "b.txt", "c.txt", "d.txt"]


def test_files_only_named_like_parts_come_back_as_themselves_after_a_rebuild(tmp_path, capsys):
    """A source's own x.part01-of-02 and x.part02-of-02 (a set split by hand) beside a file the
    checkpoint cuts into parts across discs: after a rebuild from the images, each is what it was."""
    from tests.test_checkpoint import _burn, _record

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"x.part01-of-02": b"first half", "x.part02-of-02": b"second half",
                                   "big/huge.bin": 7_500_000})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    res, _, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    cut = "SELECT path, disc, part, parts FROM disc_files WHERE part IS NOT NULL ORDER BY part"
    cut_before = [tuple(r) for r in store.all(cut)]
    assert len(cut_before) >= 2
    store.close()
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0, capsys.readouterr()
    store = Store(lab.state)
    assert [tuple(r) for r in store.all(cut)] == cut_before
    data = str(lab.src / "data")
    R.restore(cfg, store, "loc", data, checkpoint=number, to=tmp_path / "out")
    out = tmp_path / "out" / data.lstrip("/")
    assert (out / "x.part01-of-02").read_bytes() == b"first half"
    assert (out / "x.part02-of-02").read_bytes() == b"second half"
    assert not (out / "x").exists()
    assert (out / "big/huge.bin").read_bytes() == (lab.src / "data/big/huge.bin").read_bytes()
