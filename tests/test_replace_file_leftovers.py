"""A file written whole (file_replace.replace_file: the config by `init --force` or an edit, the labels
kept, the settings) goes through a temporary file beside it. A write killed between its write and
its rename leaves that file behind: the next write of the same file removes it, and nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rabtui import faults, file_replace
from tests.held import stopped as _stopped

ROOT = Path(__file__).resolve().parent.parent
OLD = "# mine\n[rabtui]\nstate_dir = '/var/lib/mine'\n"


def _init(config: Path, env: dict | None = None, wait: bool = True):
    argv = [sys.executable, "-m", "rabtui", "--config", str(config), "init", "--force"]
    env = {k: v for k, v in os.environ.items() if k not in (faults.ENV, faults.STOP_ENV)} | (env or {})
    if wait:
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _leftovers(config: Path) -> list[str]:
    return sorted(p.name for p in config.parent.iterdir() if p.name.startswith(f".{config.name}."))


def test_a_write_killed_before_its_rename_leaves_a_file_the_next_write_removes(tmp_path):
    config = tmp_path / "rabtui.toml"
    config.write_text(OLD)
    killed = _init(config, {faults.ENV: "replace.written"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert config.read_text() == OLD
    left = _leftovers(config)
    assert len(left) == 1 and left[0].endswith(".tmp")
    again = _init(config)
    assert again.returncode == 0, again.stderr
    assert "[rabtui]" in config.read_text() and config.read_text() != OLD
    assert _leftovers(config) == []


def test_a_write_under_way_in_another_process_keeps_its_file_and_ends_well(tmp_path):
    """One `init --force` stops (as a run hung on a slow disk) between its write and its rename;
    another runs to its end meanwhile: the first one's file is still its own, and its rename works."""
    config = tmp_path / "rabtui.toml"
    config.write_text(OLD)
    first = _init(config, {faults.STOP_ENV: "replace.written"}, wait=False)
    try:
        deadline = time.monotonic() + 60
        while not _stopped(first.pid):
            assert first.poll() is None and time.monotonic() < deadline, "init did not reach replace.written"
            time.sleep(0.05)
        held = _leftovers(config)
        assert len(held) == 1
        second = _init(config)
        assert second.returncode == 0, second.stderr
        assert _leftovers(config) == held
    finally:
        first.send_signal(signal.SIGCONT)
        out = first.communicate(timeout=120)[0].decode()
    assert first.returncode == 0, out
    assert _leftovers(config) == [] and "[rabtui]" in config.read_text()


def test_only_the_files_of_its_own_name_older_than_the_process_are_removed(tmp_path):
    target = tmp_path / "settings.json"
    old = time.time() - 3600
    kept = [".settings.json.bak.abcd1234.tmp",     # a leftover of settings.json.bak
            ".settings.json.abcd1234.tmp.x", ".settings.json.abc.tmp", "settings.json.abcd1234.tmp",
            ".settings.json.young123.tmp"]          # newer than this process: maybe a write under way
    gone = ".settings.json.k_ll3d00.tmp"
    for name in kept + [gone]:
        (tmp_path / name).write_text("x")
        if name != ".settings.json.young123.tmp":
            os.utime(tmp_path / name, (old, old))
    (tmp_path / ".settings.json.d1r3ct0r.tmp").mkdir()
    os.utime(tmp_path / ".settings.json.d1r3ct0r.tmp", (old, old))
    file_replace.replace_file(target, b"{}\n")
    assert target.read_bytes() == b"{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + [".settings.json.d1r3ct0r.tmp", "settings.json"])


def test_the_sweep_leaves_a_file_by_that_name_another_user_or_a_second_name_holds(tmp_path):
    """In a sticky directory open to all (as /tmp), another user may make a file named as a killed
    write's leftover; root's write of a file there removed it. Nor is a name of a file with another
    name removed (this user's writes make files of one name)."""
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user takes root")
    tmp_path.chmod(0o1777)
    target = tmp_path / "settings.json"
    old = time.time() - 3600
    theirs, linked, mine = (tmp_path / f".settings.json.{n}.tmp" for n in ("theirs12", "linked12", "mine1234"))
    for p in (theirs, linked, mine):
        p.write_text("x")
    os.chown(theirs, 12345, 12345)
    os.link(linked, tmp_path / "second")
    for p in (theirs, linked, mine):
        os.utime(p, (old, old))
    file_replace.replace_file(target, b"{}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([theirs.name, linked.name, "second", "settings.json"])
    assert theirs.read_text() == "x" and theirs.stat().st_uid == 12345
