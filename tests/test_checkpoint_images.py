"""An `images:` drive's folder as an unlucky operator leaves it, with real xorriso: an image of the
same name that this checkpoint did not write (another server's, or one of a checkpoint made before
the state database was new), discs written into two folders when a checkpoint was resumed with
another --drive, and a folder that holds the operator's own files or is shared."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from rabtui.checkpoint import questions, run
from rabtui.cli import main as cli_main
from rabtui.events import ABORT, READY, REWRITE, ScriptedPrompter
from tests.test_checkpoint import _burn
from tests.test_checkpoint_faults import _states, _two_discs


def test_an_image_this_checkpoint_did_not_write_is_never_replaced(tmp_path, capsys):
    """Two servers write checkpoint 1 into one folder: the second is asked to move the first's
    RAB1D01.iso away, and the first's image is left as it was."""
    lab, cfg, store, number = _two_discs(tmp_path)
    theirs = tmp_path / "iso" / f"RAB{number}D01.iso"
    theirs.parent.mkdir()
    theirs.write_bytes(b"another server's disc image")
    res, prompter, _ = _burn(lab, cfg, store, number, lambda q: ABORT if q.kind == questions.WRONG else READY)
    assert res.status == "aborted"
    wrong = prompter.asked[1]
    assert wrong.kind == questions.WRONG and f"{theirs} is already there" in wrong.text and "move it away" in wrong.text
    assert theirs.read_bytes() == b"another server's disc image"
    assert _states(store, number)[1] == "planned"
    # --yes does not answer for the operator: the run stops and says why
    code = cli_main(["--config", str(lab.config_path), "checkpoint", "resume", str(number), "--yes"])
    assert code == 1 and f"{theirs} is already there" in capsys.readouterr().out
    assert theirs.read_bytes() == b"another server's disc image"
    # moved away, the disc is written; an image of its own (a failed attempt's) is replaced
    theirs.rename(tmp_path / "theirs.iso")
    first = {"done": False}

    def operator(q):
        if q.kind == questions.INSERT and q.data["disc"] == 2 and not first["done"]:
            first["done"] = True
            return ABORT
        return READY

    res, _, _ = _burn(lab, cfg, store, number, operator)
    assert res.status == "aborted" and res.verified == [1]
    store.execute("UPDATE discs SET state='failed' WHERE number=? AND disc=1", (number,))
    res, prompter, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    assert not any(q.kind == questions.WRONG for q in prompter.asked)
    # another disc's image moved onto this disc's by hand (it may be that disc's only copy): its
    # verification fails, and the rewrite the operator asks for leaves it as it is
    ours = tmp_path / "iso" / f"RAB{number}D02.iso"
    (tmp_path / "f").write_bytes(b"of another checkpoint")
    subprocess.run(["xorriso", "-no_rc", "-outdev", f"stdio:{ours}.new", "-volid", "RAB9D01", "-map",
                    str(tmp_path / "f"), "/f", "-commit"], check=True, capture_output=True)
    os.replace(f"{ours}.new", ours)
    theirs = ours.read_bytes()
    asked = []

    def rewrite_then_abort(q):
        asked.append(q)
        return {questions.FAILED: REWRITE, questions.WRONG: ABORT}.get(q.kind, READY)

    res = run.verify_checkpoint(cfg, store, number, disc=2, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter(rewrite_then_abort))
    assert res.status == "aborted" and asked[-1].kind == questions.WRONG, [q.text for q in asked]
    assert "holds disc RAB9D01" in asked[-1].text and "move it away" in asked[-1].text, asked[-1].text
    assert ours.read_bytes() == theirs


def test_discs_written_into_two_folders_verify_where_they_were_written(tmp_path, capsys, monkeypatch):
    """Disc 1 into the configured folder, disc 2 (resumed with --drive) into another: `checkpoint
    verify` reads each disc's own image instead of failing disc 1 as missing. The other is named
    relative to the working directory, as a command line's paths are, and found from another one
    later; its name holds a backslash, quotes and a space, which each xorriso argument naming an
    image must carry as they are."""
    lab, cfg, store, number = _two_discs(tmp_path)
    res, _, _ = _burn(lab, cfg, store, number, [READY, ABORT])
    assert res.verified == [1]
    other = tmp_path / "iso 2\\x5c\"'$"
    conf = ["--config", str(lab.config_path)]
    monkeypatch.chdir(tmp_path)
    assert cli_main([*conf, "checkpoint", "resume", str(number), "--drive", f"images:{other.name}/", "--yes"]) == 0
    assert (other / f"RAB{number}D02.iso").exists() and not (other / f"RAB{number}D01.iso").exists()
    monkeypatch.chdir(lab.src)
    capsys.readouterr()
    assert cli_main([*conf, "checkpoint", "verify", str(number), "--yes"]) == 0, capsys.readouterr()
    assert set(_states(store, number).values()) == {"verified"}
    assert cli_main([*conf, "check"]) == 0, capsys.readouterr()


@pytest.mark.parametrize("mode", [0o755, 0o1777])
def test_a_folder_holding_the_operators_files_keeps_its_mode_and_theirs(tmp_path, mode):
    """Images written into a folder of the operator's (with an ISO of theirs in it), or into a
    shared one (sticky, as /tmp): only rabtui's own images are closed to others; the folder and
    the other files keep their modes."""
    lab, cfg, store, number = _two_discs(tmp_path)
    folder = tmp_path / "isos"
    folder.mkdir()
    folder.chmod(mode)
    (folder / "debian.iso").write_bytes(b"the operator's")
    (folder / "debian.iso").chmod(0o644)
    res = run.burn_checkpoint(cfg, store, number, drive=f"images:{folder}", emit=lambda e: None,
                              cancel=threading.Event(), prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    assert folder.stat().st_mode & 0o7777 == mode
    assert (folder / "debian.iso").stat().st_mode & 0o777 == 0o644
    assert {(folder / f"RAB{number}D0{k}.iso").stat().st_mode & 0o777 for k in (1, 2)} == {0o600}
