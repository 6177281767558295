"""A killed backup whose rsync still writes into its directory and cannot be stopped: the next
backup leaves that directory as it is and names each such process, by pid and command line, so
that the operator can act on it. The rsync is real and really cannot be stopped: frozen in a cgroup
v1 freezer, a SIGKILL waits until it is thawed (root only, where that freezer is mounted)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.procs import signalled
from tests.test_kill_anywhere import _files, _killed, rabtui
from tests.trees import Lab, write_files

FREEZER = Path("/sys/fs/cgroup/freezer")


def _until(done, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def killed_run(tmp_path: Path):
    """A lab whose second backup was killed during its transfer (its rsync ended, step 5 not yet):
    the lab and that run's row."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")])
    _files(lab.src / "data", {"a": b"a1"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    _files(lab.src / "data", {"a": b"a2" * 100})
    _killed(rabtui(lab, "backup", "loc", point="backup.rsync_ended"))
    return lab, lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")


@contextmanager
def _frozen(group: Path, argv: list[str], started):
    """`argv` run in the freezer cgroup `group` (made here), frozen once `started()`: the pids of
    its processes. Thawed and removed at the end, its processes killed."""
    if os.geteuid() != 0 or not (FREEZER / "cgroup.procs").exists():
        pytest.skip("no cgroup v1 freezer to use here")
    try:
        group.mkdir()
    except OSError as exc:
        pytest.skip(f"cannot make a freezer cgroup here: {exc.strerror}")
    run = None
    try:
        run = subprocess.Popen(["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group / "cgroup.procs"), *argv],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _until(started, f"{argv} did not start")
        (group / "freezer.state").write_text("FROZEN")
        _until(lambda: (group / "freezer.state").read_text().strip() == "FROZEN", "not frozen")
        yield [int(p) for p in (group / "cgroup.procs").read_text().split()]
    finally:
        for pid in (group / "cgroup.procs").read_text().split():
            signalled(int(pid), signal.SIGKILL)     # gone meanwhile where it was never frozen
        (group / "freezer.state").write_text("THAWED")
        if run is not None:
            run.wait(timeout=30)
        _until(lambda: not (group / "cgroup.procs").read_text().split(), "not gone once thawed")
        group.rmdir()


def test_the_writers_of_a_killed_run_that_cannot_be_stopped_are_named(tmp_path):
    lab, killed = killed_run(tmp_path)
    big = tmp_path / "big"
    write_files(tmp_path, {"big": 200_000})
    into = Path(killed["path"]) / "data" / "big"
    argv = ["rsync", "--bwlimit=1", "--inplace", str(big), str(into)]
    with _frozen(FREEZER / f"rabtui-test-{os.getpid()}", argv,
                 started=into.exists) as pids:
        busy = rabtui(lab, "backup", "loc")
        said = busy.stdout + busy.stderr
        # a standard directory's backup goes on; the killed run's directory stays for the next run
        assert busy.returncode == 0 and "Traceback" not in said, said
        assert f"{len(pids)} rsync process(es) still write into it and could not be stopped" in said, said
        # once, with its command line shortened in the middle: the program and the path it writes
        assert f"pids {', '.join(map(str, sorted(pids)))} (`rsync --bwlimit=1 " in said, said
        line = said.split("`")[1]
        assert "…" in line and line.endswith(str(into)[-60:]) and len(line) <= 160, line
        assert said.count("rsync --bwlimit=1") == 1, said
        assert os.path.isdir(killed["path"])
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    assert not os.path.exists(killed["path"])
