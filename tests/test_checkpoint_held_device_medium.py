"""A burn held (SIGSTOP at a fault point: as one waiting at its disc question) while it counts as the
user of a medium with a `device` it mounted: a backup, a cleanup, a restore and a find onto that
medium meanwhile, real processes each, end at once and leave the medium mounted for it; the burn,
let go, unmounts it at its end, and killed instead, leaves it to the next backup to unmount. Real
rsync, xorriso (an images: drive), a loop-mounted ext2 image."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from rabtui import faults
from tests.held import stopped
from tests.test_kill_anywhere import rabtui
from tests.trees import Lab, write_files


def _held_burn(tmp_path, disk_image):
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("cd-700")
    m1 = lab.media[0][1]
    lab.on_device(m1, disk_image)
    write_files(lab.src / "data", {"a.txt": b"a" * 5000, "b/c.txt": b"c" * 7000})
    assert rabtui(lab, "backup", "loc").returncode == 0
    assert not os.path.ismount(m1)
    burn = subprocess.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint", "burn",
                             "--yes", "--now", f"loc:{lab.src / 'data'}"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            env={**os.environ, faults.STOP_ENV: "burn.before_write"})
    deadline = time.monotonic() + 60
    while not stopped(burn.pid):
        assert burn.poll() is None and time.monotonic() < deadline, burn.communicate()[0]
        time.sleep(0.05)
    return lab, m1, burn


@pytest.mark.parametrize("end", ["let go", "killed"])
def test_others_use_the_medium_a_held_burn_mounted_and_its_end_or_the_next_backup_unmounts_it(
        tmp_path, disk_image, end):
    lab, m1, burn = _held_burn(tmp_path, disk_image)
    try:
        assert os.path.ismount(m1), "the burn did not mount its medium"
        for argv in (["backup", "loc"], ["cleanup"], ["restore", "loc", str(lab.src / "data" / "b"), "--to",
                                                     str(tmp_path / "out")], ["find", "c.txt"]):
            done = rabtui(lab, *argv, timeout=60)
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
            assert os.path.ismount(m1), argv
            if argv[0] != "find":     # a look mounts nothing: nothing to say
                assert f"medium m1 stays mounted at {m1} for a checkpoint (pid {burn.pid})" in \
                    " ".join((done.stdout + done.stderr).split()), (argv, done.stdout, done.stderr)
        assert (tmp_path / "out" / str(lab.src / "data" / "b/c.txt").lstrip("/")).read_bytes() == b"c" * 7000
        if end == "let go":
            burn.send_signal(signal.SIGCONT)
            said = burn.communicate(timeout=60)[0]
            assert burn.returncode == 0, said
        else:
            burn.kill()
            burn.wait()
            assert os.path.ismount(m1)
            said = rabtui(lab, "backup", "loc")
            assert said.returncode == 0, said.stdout + said.stderr
        assert not os.path.ismount(m1), said
    finally:
        if burn.poll() is None:
            burn.kill()
            burn.wait()
