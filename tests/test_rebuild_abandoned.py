"""A checkpoint abandoned before the state database was lost comes back abandoned from
rebuild-state: `checkpoint abandon` writes it onto the media at hand (`.rabtui-abandoned`), and
the copy of the state on the discs of a later checkpoint holds it too. Real backups, real
xorriso, `images:`."""

from __future__ import annotations

import os
import threading

from rabtui.checkpoint import prepare, run
from rabtui.cli import main
from rabtui.events import ABORT, READY, ScriptedPrompter
from rabtui.media.checkpoint_numbers import ABANDONED
from rabtui.state.store import Store
from tests.trees import Lab, write_files


def _lost_and_rebuilt(lab, argv, capsys) -> str:
    for name in os.listdir(lab.state):
        if name.startswith("rabtui.db"):
            os.unlink(lab.state / name)
    capsys.readouterr()
    assert main([*argv, "rebuild-state"]) in (0, 3)
    return capsys.readouterr().out


def _states(number: int) -> tuple:
    return lambda store: (store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"],
                          {r["disc"]: r["state"] for r in store.all("SELECT disc, state FROM discs WHERE number=?",
                                                                     (number,))})


def test_a_checkpoint_abandoned_before_the_state_was_lost_comes_back_abandoned(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {f"f{i}": os.urandom(900_000) for i in range(6)})
    assert lab.backup(cfg).status == "completed"
    argv = ["--config", str(lab.config_path)]
    store = Store(lab.state)
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter([READY, ABORT]))
    assert res.verified == [1] and res.status == "aborted"
    store.close()
    assert main([*argv, "checkpoint", "abandon", str(number)]) == 0
    medium = lab.media[0][1]
    assert (medium / ABANDONED).read_text() == f'{{"abandoned": [{number}]}}\n'
    assert oct((medium / ABANDONED).stat().st_mode & 0o777) == "0o600"

    said = _lost_and_rebuilt(lab, argv, capsys)
    assert f"checkpoint {number}: abandoned before the state was lost" in said, said
    assert "not written" not in said and f"checkpoint abandon {number}" not in said, said
    store = Store(lab.state)
    assert _states(number)(store) == ("abandoned", {1: "verified", 2: "abandoned"})
    assert store.one("SELECT last_checkpoint FROM dir_state")["last_checkpoint"] is None
    store.close()
    assert main([*argv, "check"]) == 1
    assert f"checkpoint {number}" not in capsys.readouterr().out

    # the media's record gone (a medium away then, or made before rabtui kept it): the copy of the
    # state on the discs of the checkpoint made since says so
    os.unlink(medium / ABANDONED)
    assert main([*argv, "checkpoint", "burn", "--yes", "--now"]) == 0
    assert not (medium / ABANDONED).exists()
    said = _lost_and_rebuilt(lab, argv, capsys)
    assert f"checkpoint {number}: abandoned before the state was lost" in said, said
    store = Store(lab.state)
    assert _states(number)(store) == ("abandoned", {1: "verified", 2: "abandoned"})
    assert _states(number + 1)(store)[0] == "completed"
    store.close()
    # and each backup writes what the database knows onto its medium
    assert lab.backup(lab.load()).status == "completed"
    assert (medium / ABANDONED).read_text() == f'{{"abandoned": [{number}]}}\n'
