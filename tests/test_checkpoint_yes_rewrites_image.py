"""`--yes` on an images: drive answers the rewrite offered for a disc image that failed its
verification: the image is written again and verified, once per disc and run; a rewrite that fails
again is asked about, and with no terminal to ask on the command stops (exit 1), the disc failed.
Real xorriso, a byte of a file's data flipped in the image."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from rabtui.cli import main
from rabtui.faults import STOP_ENV
from tests.held import stopped
from tests.trees import Lab, burn_due, write_files

DATA = b"the file's own bytes, found in the image " * 100


def _burnt(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"f": DATA})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    return lab, store, burn_due(cfg, store)


def _damage(iso) -> None:
    image = bytearray(iso.read_bytes())
    at = image.find(DATA)
    assert at > 0
    image[at + 7] ^= 0xFF
    iso.write_bytes(image)


def _state(store, number) -> str:
    return store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"]


def test_verify_yes_writes_a_damaged_image_again(tmp_path, capsys):
    lab, store, number = _burnt(tmp_path)
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    _damage(iso)
    assert main(["--config", str(lab.config_path), "checkpoint", "verify", str(number), "--yes"]) == 0
    err = capsys.readouterr().err
    assert "verification failed" in err and err.count("-> rewrite") == 1, err
    assert _state(store, number) == "verified"
    assert DATA in iso.read_bytes()


def test_burn_yes_stops_when_the_image_written_again_fails_too(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"f": DATA})
    assert lab.backup(cfg).status == "completed"
    run = subprocess.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint", "burn",
                            "--now", "--yes"], env={**os.environ, STOP_ENV: "burn.written"}, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stops = 0
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline:
        if stopped(run.pid):
            stops += 1
            _damage(next((tmp_path / "iso").iterdir()))
            run.send_signal(signal.SIGCONT)
        time.sleep(0.02)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 1, out + err
    assert stops == 2 and err.count("-> rewrite") == 1, err
    assert "no terminal to ask on" in err and "It failed again, written anew in this run. Rewrite disc 1" in err, err
    assert _state(lab.store(), 1) == "failed"


def test_a_rewrite_killed_leaves_the_failed_disc_of_a_complete_checkpoint_critical(tmp_path, capsys):
    """A disc of a complete checkpoint that failed its verification is critical in `check` until it is
    good again: a rewrite of it killed (SIGKILL as it begins) leaves it not verified, and `check`
    still says so (it said nothing once the disc read `writing`, nor did it protect what it holds)."""
    from rabtui.faults import ENV
    from rabtui.ops.health_checkpoints import failed_discs

    lab, store, number = _burnt(tmp_path)
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    _damage(iso)
    killed = subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint", "verify",
                             str(number), "--yes"], env={**os.environ, ENV: "burn.before_write"},
                            stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _state(store, number) != "verified"
    assert main(["--config", str(lab.config_path), "check"]) == 2
    out = capsys.readouterr().out
    assert f"CRITICAL: checkpoint {number}: disc RAB{number}D01 failed" in out, out
    assert f"`rabtui checkpoint resume {number}`" in out, out
    assert main(["--config", str(lab.config_path), "checkpoint", "resume", str(number), "--yes"]) == 0
    assert _state(store, number) == "verified" and DATA in iso.read_bytes()
    assert failed_discs(store) == []


def test_verify_yes_does_not_make_a_missing_image_again(tmp_path):
    """An image missing is no image that fails its verification: --yes does not write it again (it
    was taken away: burnt, kept elsewhere?); the question stays, and with no terminal the command
    stops (exit 1) naming the image missing. It was made again, unasked."""
    lab, store, number = _burnt(tmp_path)
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    iso.unlink()
    run = subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint", "verify",
                          str(number), "--yes"], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"The image {iso} is missing" in run.stderr and "no terminal to ask on" in run.stderr, run.stderr
    assert "-> rewrite" not in run.stderr and not iso.exists()


def test_verify_says_a_disc_whose_rewrite_was_killed_was_written(tmp_path):
    """`checkpoint verify` of a complete checkpoint whose rewrite of a failed disc was killed says the
    disc was written and its writing again stopped, not that it "was never written"."""
    from rabtui.faults import ENV

    lab, store, number = _burnt(tmp_path)
    _damage(tmp_path / "iso" / f"RAB{number}D01.iso")
    killed = subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint", "verify",
                             str(number), "--yes"], env={**os.environ, ENV: "burn.before_write"},
                            stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint", "verify",
                          str(number)], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "never written" not in run.stderr, run.stderr
    assert ("disc 1 was written, then written again, which stopped before it ended (the job ended while writing"
            f" this disc): it is not verified; `rabtui checkpoint resume {number}` writes it again") in run.stderr, run.stderr
