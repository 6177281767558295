"""A checkpoint abandoned before the state database was lost comes back abandoned from
rebuild-state: `checkpoint abandon` writes it onto the media at hand (`.rabtui-abandoned`), and
the copy of the state on the discs of a later checkpoint holds it too. Real backups, real
xorriso, `images:`."""

from __future__ import annotations

import os
import shutil
import threading

from rabtui.checkpoint import prepare, run
from rabtui.cli import main
from rabtui.events import ABORT, READY, ScriptedPrompter
from rabtui.media.checkpoint_numbers import ABANDONED, KEPT_ABANDONED
from rabtui.state.store import Store
from tests.trees import Lab, write_files


def _lost_and_rebuilt(lab, argv, capsys) -> str:
    lab.lose_database()
    capsys.readouterr()
    assert main([*argv, "rebuild-state"]) in (0, 3)
    return capsys.readouterr().out


def _states(number: int) -> tuple:
    return lambda store: (store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"],
                          {r["disc"]: r["state"] for r in store.all("SELECT disc, state FROM discs WHERE number=?",
                                                                     (number,))})


def _burn_stopped_after_disc_1(tmp_path) -> tuple[Lab, list[str], int]:
    """A backup whose checkpoint's burn the operator stopped after its first disc, verified: the lab,
    the argv naming its config, the checkpoint's number."""
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
    return lab, argv, number


def test_a_checkpoint_abandoned_before_the_state_was_lost_comes_back_abandoned(tmp_path, capsys):
    lab, argv, number = _burn_stopped_after_disc_1(tmp_path)
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

    # the media's record gone (a medium away then, or made before rabtui kept it), and the state
    # directory's (the whole directory lost): the copy of the state on the discs of the checkpoint
    # made since says so
    os.unlink(medium / ABANDONED)
    os.unlink(lab.state / KEPT_ABANDONED)
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


def test_an_abandonment_made_with_no_medium_at_hand_outlives_the_database(tmp_path, capsys):
    """`checkpoint abandon` with the medium away: kept beside the database, so a database lost
    before any medium learnt it loses it not; the next backup (cron, on a database made anew)
    writes it onto its medium, which tells it once the whole state directory is lost too."""
    lab, argv, number = _burn_stopped_after_disc_1(tmp_path)
    medium = lab.media[0][1]
    os.rename(medium, tmp_path / "disk")           # the medium away
    medium.mkdir()
    assert main([*argv, "checkpoint", "abandon", str(number)]) == 0
    assert os.listdir(medium) == []
    medium.rmdir()
    os.rename(tmp_path / "disk", medium)
    assert not (medium / ABANDONED).exists()

    said = _lost_and_rebuilt(lab, argv, capsys)     # lost before any medium learnt it
    assert f"checkpoint {number}: abandoned before the state was lost" in said, said
    store = Store(lab.state)
    assert _states(number)(store) == ("abandoned", {1: "verified", 2: "abandoned"})
    store.close()

    for name in os.listdir(lab.state):               # lost again; cron backs up on a database made anew
        if name.startswith("rabtui.db"):
            os.unlink(lab.state / name)
    assert lab.backup(lab.load()).status == "completed"
    assert (medium / ABANDONED).read_text() == f'{{"abandoned": [{number}]}}\n'
    shutil.rmtree(lab.state)                         # and now the whole state directory
    lab.state.mkdir()
    said = _lost_and_rebuilt(lab, argv, capsys)
    assert f"checkpoint {number}: abandoned before the state was lost" in said, said
    store = Store(lab.state)
    assert _states(number)(store) == ("abandoned", {1: "verified", 2: "abandoned"})
    store.close()


def test_an_abandonment_the_state_directory_cannot_keep_is_said(tmp_path, capsys):
    """Its record beside the database cannot be written (a directory in its place): the abandonment
    is made, and says where it is not kept and what that means; the medium at hand has it."""
    from rabtui.actions.checkpoint import asked_dirs
    from rabtui.media.checkpoint_numbers import KEPT_ABANDONED

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"a": b"a"})
    assert lab.backup(cfg).status == "completed"
    store = Store(lab.state)
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked=asked_dirs(cfg, store, [])),
                            drive=cfg.checkpoint.drive)
    store.close()
    (lab.state / KEPT_ABANDONED).mkdir()
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "checkpoint", "abandon", str(number)]) == 0
    out = capsys.readouterr().out
    assert f"cannot keep it beside the database in {lab.state / KEPT_ABANDONED}" in out, out
    assert "lost before a medium learns it" in out and "medium learns it at its next backup" not in out, out
    assert (lab.media[0][1] / ABANDONED).read_text() == f'{{"abandoned": [{number}]}}\n'


def test_an_abandonment_made_while_a_backup_runs_is_kept_beside_the_database(tmp_path):
    """A backup under way holds the state directory's flock shared (state/dir_lock.py); the record of
    abandoned checkpoints kept beside the database took its turns on that same flock, whole: it
    waited a minute for the backup, then gave up ("cannot keep it beside the database"), and a
    backup starting while it held it was refused as if a restore ran alone. Now its turns are taken
    on locks/."""
    from tests.test_medium_identity import _ended, _stopped_at
    from tests.test_state_dir_full import _rabtui

    lab, argv, number = _burn_stopped_after_disc_1(tmp_path)
    write_files(lab.src / "data", {"later": b"later"})
    backing_up = _stopped_at(lab, "backup.catalog", "backup", "loc")
    try:
        done = _rabtui(lab, "checkpoint", "abandon", str(number))
    finally:
        _ended(backing_up)
    assert done.returncode == 0 and "cannot keep it" not in done.stdout, done.stdout + done.stderr
    assert (lab.state / KEPT_ABANDONED).read_text() == f'{{"abandoned": [{number}]}}\n'
