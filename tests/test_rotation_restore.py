"""Restore from whatever copy is at hand (issue 18 item 1), with real backups on media that are
directories (one renamed away plays "not mounted") and a checkpoint ISO written by an images: drive."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from rabtui.checkpoint import prepare, run
from rabtui.errors import WorkFailed
from rabtui.events import ABORT, READY, SKIP, WARNING, ScriptedPrompter
from rabtui.restore import run as R
from rabtui.restore.copies import copies_of
from rabtui.state import jobs
from tests.trees import Lab, closed, made_once, snapshot, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def _two_media(tmp_path):
    """`data/a.txt` changed between a backup on m1 and a newer one on m2; `data/same.txt` not."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"a.txt": b"old", "same.txt": b"same"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    write_files(lab.src / "data", {"a.txt": b"newer"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2").status == "completed"
    return lab, cfg


@pytest.fixture(scope="module")
def _two_media_made(tmp_path_factory):
    def make(live):
        closed(_two_media(live)[0])

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def two_media(_two_media_made):
    """What _two_media makes (lab, cfg), anew for each test (made once for the module), in lab.tmp."""
    lab = Lab(_two_media_made[1].anew(), media_count=2)
    return lab, lab.load()


def _away(path):
    away = path.with_name(path.name + "-in-the-drawer")
    path.rename(away)
    return away


def test_newest_medium_out_restores_the_newest_copy_at_hand(two_media, tmp_path):
    lab, cfg = two_media
    store = lab.store()
    src = lab.src / "data"
    _away(lab.media[1][1])   # m2, which holds the newest copy, is in the drawer

    res = R.restore(cfg, store, "loc", str(src / "a.txt"), to=tmp_path / "out", emit=lab.emit)
    assert res.origin.endswith("on m1")
    assert (tmp_path / "out" / str(src).lstrip("/") / "a.txt").read_bytes() == b"old"
    assert res.warnings and "newest copy" in res.warnings[0] and "m2" in res.warnings[0]
    assert any("is not at hand" in m and "medium m2" in m for m in lab.messages(WARNING))

    # a file that did not change: the copy at hand holds the same version, nothing older is reported
    res = R.restore(cfg, store, "loc", str(src / "same.txt"), to=tmp_path / "same", emit=lab.emit)
    assert res.origin.endswith("on m1") and res.warnings == []
    # --backup keeps choosing exactly: the one on m2 is asked for, not replaced
    newest = store.one("SELECT name FROM backups WHERE medium='m2'")["name"]
    with pytest.raises(WorkFailed, match="medium m2 is not there"):
        R.restore(cfg, store, "loc", str(src / "a.txt"), backup=newest, to=tmp_path / "exact")


def test_no_copy_at_hand_asks_copy_by_copy_skip_then_retry(two_media, tmp_path):
    lab, cfg = two_media
    store = lab.store()
    src = lab.src / "data"
    m1, m2 = lab.media[0][1], lab.media[1][1]
    m1_away, _ = _away(m1), _away(m2)

    def answer(q):
        if q.data["copy"] == 1:
            return SKIP                      # m2 stays away: go on to the next copy
        m1_away.rename(m1)                   # m1 is fetched from the drawer
        return READY

    prompter = ScriptedPrompter(answer)
    res = R.restore(cfg, store, "loc", str(src / "a.txt"), to=tmp_path / "out", prompter=prompter)
    assert [(q.kind, q.data["medium"], q.data["copy"], q.data["copies"]) for q in prompter.asked] == \
        [("insert_medium", "m2", 1, 2), ("insert_medium", "m1", 2, 2)]
    assert list(prompter.asked[0].choices) == [READY, SKIP, ABORT]
    assert "Copy 1 of 2" in prompter.asked[0].text and "medium m2" in prompter.asked[0].text
    assert res.origin.endswith("on m1") and res.warnings
    assert (tmp_path / "out" / str(src).lstrip("/") / "a.txt").read_bytes() == b"old"

    _away(m1)
    with pytest.raises(WorkFailed, match="aborted"):
        R.restore(cfg, store, "loc", str(src / "a.txt"), to=tmp_path / "x", prompter=ScriptedPrompter([ABORT]))
    with pytest.raises(WorkFailed, match="no copy of .* is at hand"):
        R.restore(cfg, store, "loc", str(src / "a.txt"), to=tmp_path / "x")


def test_prompt_answered_with_jobs_answer_after_the_medium_is_put_back(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"d/x": b"x" * 10, "d/y": b"y"})
    assert lab.backup(cfg, now=T0).status == "completed"
    medium = lab.media[0][1]
    away = _away(medium)
    store = lab.store()
    recorder = jobs.JobRecorder(store, "restore", "loc", "restore", argv=["restore"])
    asked = []

    def operator():
        other = lab.store()
        while not (open_ := jobs.open_prompts(other, recorder.job_id)):
            time.sleep(0.05)
        asked.append(open_[0])
        away.rename(medium)
        jobs.answer(other, open_[0]["id"], READY)

    t = threading.Thread(target=operator)
    t.start()
    res = R.restore(cfg, store, "loc", str(lab.src / "data" / "d"), to=tmp_path / "out",
                    prompter=recorder.prompter(), cancel=recorder.cancel)
    t.join(10)
    recorder.finish("completed", 0)
    assert asked and asked[0]["kind"] == "insert_medium" and "Copy 1 of 1" in asked[0]["text"]
    assert res.warnings == []
    assert snapshot(tmp_path / "out" / str(lab.src / "data" / "d").lstrip("/")) == snapshot(lab.src / "data" / "d")


def test_a_verified_disc_is_the_copy_at_hand(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a/1": b"one", "a/2": b"two" * 1000})
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    data = lab.src / "data"
    assert [c.kind for c in copies_of(store, cfg.source("loc"), str(data / "a").lstrip("/").encode())] == \
        ["backup", "disc"]
    _away(lab.media[0][1])

    res = R.restore(cfg, store, "loc", str(data / "a"), to=tmp_path / "out", emit=lab.emit)
    assert res.origin == f"checkpoint {number}"
    assert snapshot(tmp_path / "out" / str(data / "a").lstrip("/")) == snapshot(data / "a")
    # the disc holds the state of that same backup: nothing older was read
    assert res.warnings == []

    # a disc not verified is no copy
    store.execute("UPDATE discs SET state='written' WHERE number=?", (number,))
    with pytest.raises(WorkFailed, match="no copy of .* is at hand"):
        R.restore(cfg, store, "loc", str(data / "a"), to=tmp_path / "out2")


def test_cli_says_the_newest_copy_is_out_and_exits_with_warnings(two_media, tmp_path, capsys):
    from rabtui.cli import main

    lab, cfg = two_media
    _away(lab.media[1][1])
    path = str(lab.src / "data" / "a.txt")
    code = main(["--config", str(lab.config_path), "restore", "loc", path, "--to", str(tmp_path / "out")])
    captured = capsys.readouterr()
    err = captured.err
    assert code == 3
    assert "is not at hand: medium m2 is not there" in err and f"restoring {path} as of" in err, err
    assert "restored as of" not in err, err
    # that it restored, once it did, its summary says (an older copy)
    assert f"restored {path} from backup" in captured.out and "an older copy" in captured.out, captured.out
    assert (tmp_path / "out" / path.lstrip("/")).read_bytes() == b"old"


def test_cli_says_which_older_copy_it_reads_and_not_restored_when_the_restore_fails(two_media, tmp_path, capsys):
    """The older copy's warning is said before the restore runs: a restore that then fails (the
    file is there, no --overwrite) says it was restoring from it, never that it restored it."""
    from rabtui.cli import main

    lab, cfg = two_media
    _away(lab.media[1][1])
    path = str(lab.src / "data" / "a.txt")
    there = tmp_path / "out" / path.lstrip("/")
    write_files(there.parent, {there.name: b"mine"})
    code = main(["--config", str(lab.config_path), "restore", "loc", path, "--to", str(tmp_path / "out")])
    captured = capsys.readouterr()
    said = captured.out + captured.err
    assert code == 1 and there.read_bytes() == b"mine", said
    assert f"restoring {path} as of" in said and "--overwrite" in said, said
    assert "restored" not in said, said


def test_find_marks_copies_not_mounted_and_browse_restores_from_a_medium_at_hand(two_media, tmp_path, capsys):
    from rabtui.cli import main
    from rabtui.restore.copies import copy_of_version

    lab, cfg = two_media
    _away(lab.media[1][1])
    assert main(["--config", str(lab.config_path), "find", "same.txt"]) == 0
    out = capsys.readouterr().out
    assert [line.strip().split(":")[0] + (" away" if "not mounted" in line else "")
            for line in out.splitlines()[1:]] == ["m1", "m2 away"]
    assert main(["--config", str(lab.config_path), "find", "same.txt", "--json"]) == 0
    found = __import__("json").loads(capsys.readouterr().out)
    assert {loc["medium"]: loc["at_hand"] for loc in found[0]["locations"]} == {"m1": True, "m2": False}

    store = lab.store()
    rel = str(lab.src / "data" / "same.txt").lstrip("/").encode()
    size, mtime = found[0]["size"], found[0]["mtime"]
    # the newest backup holding it is on m2, which is away: Browse restores from m1's
    assert copy_of_version(cfg, store, cfg.source("loc"), rel, size, mtime).medium == "m1"
    lab.media[1][1].with_name("medium2-in-the-drawer").rename(lab.media[1][1])
    assert copy_of_version(cfg, store, cfg.source("loc"), rel, size, mtime).medium == "m2"
