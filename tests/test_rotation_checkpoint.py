"""Checkpoints take their content from the media at hand (issue 18 item 3): real backups on two
media that are directories, one renamed away to play "not mounted", discs written by an images: drive."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

import pytest

from rabtui.checkpoint import prepare, run
from rabtui.cli import main
from rabtui.errors import WorkFailed
from rabtui.events import READY, SKIP, WARNING, ScriptedPrompter
from rabtui.restore import run as R
from tests.trees import Lab, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def _rotated(tmp_path):
    """src/data backed up onto m1, then changed and backed up onto m2 (the newest)."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a.txt": b"old", "keep": b"k"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    write_files(lab.src / "data", {"a.txt": b"newer", "new.txt": b"n"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2").status == "completed"
    names = {r["medium"]: r["name"] for r in lab.store().all("SELECT medium, name FROM backups")}
    return lab, cfg, names


def _away(path):
    away = path.with_name(path.name + "-away")
    path.rename(away)
    return away


def test_plan_and_burn_read_the_newest_state_on_a_mounted_medium(tmp_path, capsys):
    lab, cfg, names = _rotated(tmp_path)
    key = f"loc:{lab.src / 'data'}"
    _away(lab.media[1][1])     # m2, with the newest backup, is away

    assert main(["--config", str(lab.config_path), "checkpoint", "plan", "--now", key, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(d["key"], d["medium"], d["backup"]) for d in plan["directories"]] == [(key, "m1", names["m1"])]
    assert main(["--config", str(lab.config_path), "checkpoint", "plan"]) == 0
    assert f"from {names['m1']} on m1" in capsys.readouterr().out

    store = lab.store()
    computed = prepare.compute(cfg, store, emit=lab.emit)
    assert any("medium m2" in m and "not mounted" in m for m in lab.messages(WARNING))
    number = prepare.record(cfg, store, computed, drive=cfg.checkpoint.drive)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    data = lab.src / "data"
    R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    got = tmp_path / "out" / str(data).lstrip("/")
    assert (got / "a.txt").read_bytes() == b"old" and not (got / "new.txt").exists()   # m1's state


def test_no_medium_mounted_is_asked_for_in_turn(tmp_path, capsys):
    lab, cfg, names = _rotated(tmp_path)
    m1, m2 = lab.media[0][1], lab.media[1][1]
    _away(m1)
    m2_away = _away(m2)
    store = lab.store()
    prepare_args = dict(asked={"*"})

    with pytest.raises(WorkFailed, match="no medium holding it is mounted; it is on m2 .*, m1 "):
        prepare.compute(cfg, store, **prepare_args)
    assert main(["--config", str(lab.config_path), "checkpoint", "plan", "--now"]) == 1
    assert "no medium holding it is mounted" in capsys.readouterr().err

    def answer(q):
        if q.data["copy"] == 1 and not m2.exists():
            m2_away.rename(m2)        # the newest medium is fetched; asked again, it is there
            return READY
        return SKIP

    prompter = ScriptedPrompter(answer)
    computed = prepare.compute(cfg, store, prompter=prompter, **prepare_args)
    assert [(q.kind, q.data["medium"], q.data["copy"], q.data["copies"]) for q in prompter.asked] == \
        [("insert_medium", "m2", 1, 2)]
    assert "medium 1 of 2" in prompter.asked[0].text
    assert [(d.medium, d.backup_name) for d in computed.data] == [("m2", names["m2"])]

    _away(m2)
    with pytest.raises(WorkFailed, match="each of the 2 copies"):
        prepare.compute(cfg, store, prompter=ScriptedPrompter([SKIP, SKIP]), **prepare_args)
