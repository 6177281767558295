"""`checkpoint burn` shows the per-disc plan and asks before writing (`--yes` goes on); `plan
--from-list` over max_discs says so and exits 2, as `burn` does."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from rabtui.cli import main as cli_main
from tests.test_checkpoint import _lab
from tests.trees import write_files


def _burn_at_a_terminal(config, answer: str) -> subprocess.CompletedProcess:
    """The real program, its standard input a terminal on which the operator types `answer`."""
    leader, follower = pty.openpty()
    try:
        os.write(leader, answer.encode() + b"\n")
        return subprocess.run([sys.executable, "-m", "rabtui", "--config", str(config), "checkpoint", "burn"],
                              stdin=follower, capture_output=True, text=True, timeout=120)
    finally:
        os.close(leader)
        os.close(follower)


def _prepared(tmp_path):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {f"f{i}": 1_000_000 for i in range(5)})
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    return lab


def test_burn_shows_the_plan_and_writes_nothing_when_declined(tmp_path):
    lab = _prepared(tmp_path)
    done = _burn_at_a_terminal(lab.config_path, "no")
    assert done.returncode == 1, done.stderr
    err = done.stderr
    assert "reserve" in err and "lower bound" in err and "per disc kept for README" in err
    assert "Write these" in err and "the plan was not accepted: nothing was written" in err
    assert "Traceback" not in err
    store = lab.store()
    assert store.one("SELECT COUNT(*) FROM checkpoints")[0] == 0
    assert not (tmp_path / "iso").exists() or not list((tmp_path / "iso").iterdir())
    assert store.one("SELECT status FROM jobs ORDER BY id DESC LIMIT 1")["status"] == "cancelled"


def test_burn_goes_on_when_the_plan_is_accepted(tmp_path):
    lab = _prepared(tmp_path)
    done = _burn_at_a_terminal(lab.config_path, "yes" + "\nready" * 10)
    assert done.returncode == 0, done.stderr
    assert "Write these" in done.stderr and "Insert blank disc 1 of" in done.stderr
    assert lab.store().one("SELECT status FROM checkpoints")["status"] == "completed"


def test_burn_from_cron_without_yes_asks_nobody_and_writes_nothing(tmp_path, capsys):
    lab = _prepared(tmp_path)
    code = cli_main(["--config", str(lab.config_path), "checkpoint", "burn"])
    assert code == 1
    err = capsys.readouterr().err
    assert "no terminal to ask on" in err and "Write these" in err and "--yes answers it" in err
    assert lab.store().one("SELECT COUNT(*) FROM checkpoints")[0] == 0


def test_plan_from_list_over_max_discs_exits_2(tmp_path, capsys, write_config):
    listing = tmp_path / "list"
    listing.write_bytes(b"".join(b"%d /srv/x/f%d\n" % (600_000_000, i) for i in range(70)))
    assert cli_main(["checkpoint", "plan", "--from-list", str(listing), "--disc", "cd-700"]) == 2
    captured = capsys.readouterr()
    assert "70 discs of cd-700" in captured.out
    assert "more than max_discs = 64" in captured.err and "nothing was written" in captured.err
    config = write_config(f'[rabtui]\nstate_dir = "{tmp_path / "state"}"\n[checkpoint]\nmax_discs = 3\n')
    listing.write_bytes(b"".join(b"%d /srv/x/f%d\n" % (600_000_000, i) for i in range(4)))
    assert cli_main(["--config", str(config), "checkpoint", "plan", "--from-list", str(listing), "--disc", "cd-700"]) == 2
    assert "more than max_discs = 3" in capsys.readouterr().err
    listing.write_bytes(b"".join(b"%d /srv/x/f%d\n" % (600_000_000, i) for i in range(3)))
    assert cli_main(["--config", str(config), "checkpoint", "plan", "--from-list", str(listing), "--disc", "cd-700"]) == 0
