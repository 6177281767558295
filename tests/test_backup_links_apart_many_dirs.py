"""backup/copy_apart.py: names of one file made apart, spread over more directories than may be open at once."""

from __future__ import annotations

import os
import resource

from rabtui.media import medium_layout
from tests.test_backup_links_apart import _apart, _ino
from tests.trees import Lab, write_files


def test_a_file_of_more_names_in_directories_than_open_files_allowed_is_made_apart(tmp_path):
    """Two files of the source, each with a name in each of 300 directories (one file in the base), under a limit of 256 open files
    (systemd's services run with 1024): made apart all the same, one directory open at a time
    beside the first name's."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    src = lab.src / "data"
    write_files(src, {"a": b"alpha"})
    dirs = [f"d{i:03d}" for i in range(300)]
    for d in dirs:
        os.mkdir(src / d)
        os.link(src / "a", src / d / "m")
        os.link(src / "a", src / d / "n")
    os.link(src / "a", src / "b")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    _apart(src / "b")
    for d in dirs:
        os.unlink(src / d / "n")
        os.link(src / "b", src / d / "n")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        second = lab.backup(cfg, medium_id="m1")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert (second.status, second.exit_code) == ("completed", 0), (second.reason, lab.messages()[-5:])
    d = medium_layout.backup_data_path(second.path, str(src))
    assert _ino(d / "a") != _ino(d / "b") and {_ino(d / x / "n") for x in dirs} == {_ino(d / "b")}
    assert {_ino(d / x / "m") for x in dirs} == {_ino(d / "a")}
