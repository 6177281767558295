"""A file of the last backup damaged on the medium at its size and time (bit rot, a hand that kept
the time): rsync, comparing size and time, links it into the next backup as if it were the source's
file, so every backup made since holds the damage (nothing but its content tells it). With
`rsync_options = ["--checksum"]` rsync compares contents too: the file is copied anew from the
source, and the older backup keeps its own file, untouched. Real rsync."""

from __future__ import annotations

import os

import pytest

from tests.trees import Lab, next_second, write_files

GOOD = b"GOOD-CONTENT " * 4000


def _damaged(path) -> None:
    """A few bytes of `path` changed in place, its size and times kept."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(5)
        f.write(b"BAD!")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("options, copied", [("", False), ('rsync_options = ["--checksum"]', True)])
def test_a_file_of_the_base_damaged_at_its_size_and_time(tmp_path, options, copied):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local(extra=options)
    data = lab.src / "data"
    write_files(data, {"a.txt": GOOD})
    first = lab.backup(cfg)
    assert first.status == "completed"
    in_first = first.path / "data" / str(data / "a.txt").lstrip("/")
    _damaged(in_first)
    next_second()
    second = lab.backup(cfg)
    assert second.status == "completed"
    in_second = second.path / "data" / str(data / "a.txt").lstrip("/")
    assert (in_second.read_bytes() == GOOD) is copied
    assert os.path.samefile(in_first, in_second) is not copied
    assert in_first.read_bytes()[5:9] == b"BAD!"      # an older backup is never modified
