"""A file restored by itself below a directory the restore makes on the way to it: that directory
gets the mode the backup has for it, so a file the source kept from others in a closed directory
(0644 in a 0700 one) does not come back open to every user of the restoring machine, and, restored
by root, its owner once the file is in it (the user it belongs to reaches their file). From the
discs, whose staging holds none of those directories, they are made 0700, root's."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from datetime import datetime

import pytest

from rabtui.restore import run as R
from tests.trees import Lab, burn_due, write_files

T0 = datetime(2026, 6, 1, 3, 0)
NOBODY = pwd.getpwnam("nobody").pw_uid


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("modes"), media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"priv/deeper/notes": b"secret"})
    os.chmod(lab.src / "data/priv", 0o700)
    if os.geteuid() == 0:
        os.chown(lab.src / "data/priv", NOBODY, NOBODY)
    os.chmod(lab.src / "data/priv/deeper", 0o711)
    os.chmod(lab.src / "data/priv/deeper/notes", 0o644)
    assert lab.backup(cfg, now=T0).status == "completed"
    burn_due(cfg, lab.store(), verified=True)
    return lab, cfg


@pytest.mark.parametrize("disc", [False, True])
def test_directories_made_on_the_way_to_a_file_keep_it_as_closed_as_the_backup(lab, tmp_path, disc):
    lab, cfg = lab
    old = os.umask(0o022)
    try:
        R.restore(cfg, lab.store(), "loc", str(lab.src / "data/priv/deeper/notes"), to=tmp_path / "out",
                  **({"checkpoint": 1} if disc else {}))
    finally:
        os.umask(old)
    data = tmp_path / "out" / str(lab.src / "data").lstrip("/")
    assert (data / "priv/deeper/notes").read_bytes() == b"secret"
    modes = [os.stat(data / d).st_mode & 0o777 for d in ("priv", "priv/deeper")]
    assert modes == ([0o700, 0o700] if disc else [0o700, 0o711])
    assert os.stat(data / "priv/deeper/notes").st_mode & 0o777 == 0o644
    if os.geteuid() == 0:
        assert [os.stat(data / d).st_uid for d in ("priv", "priv/deeper")] == ([0, 0] if disc else [NOBODY, 0])


@pytest.mark.parametrize("onto", [False, True])
def test_directories_the_program_makes_on_the_way_have_the_backups_modes(tmp_path, onto):
    """The program runs with a umask of 077: the directories it makes on the way to a restored one
    get the backup's modes all the same (0750, a setgid 2775), into a directory and onto the source
    (which a directory closed to its group would break), not 0700. The real `rabtui` process."""
    from tests.test_kill_anywhere import rabtui

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"shared/www/site/index": b"i"})
    os.chmod(data / "shared", 0o750)
    os.chmod(data / "shared/www", 0o2775)
    assert lab.backup(cfg, now=T0).status == "completed"
    if onto:
        shutil.rmtree(data / "shared")
    where = ["--to-source"] if onto else ["--to", str(tmp_path / "out")]
    done = rabtui(lab, "restore", "loc", str(data / "shared/www/site"), *where)
    assert done.returncode == 0, done.stdout + done.stderr
    base = data if onto else tmp_path / "out" / str(data).lstrip("/")
    assert [oct(stat.S_IMODE(os.stat(base / d).st_mode)) for d in ("shared", "shared/www", "shared/www/site")] \
        == [oct(0o750), oct(0o2775), oct(0o755)]
    assert (base / "shared/www/site/index").read_bytes() == b"i"
