"""backup/holes_again.py punches holes only where the copy reads zeros, whatever ranges it is given:
never data (a copy that is not the base's content after all keeps every byte)."""

from __future__ import annotations

import os
import stat

import pytest

from rabtui.backup import holes_again


def test_punch_leaves_data_and_takes_zeros(tmp_path):
    path = tmp_path / "f"
    content = bytes(2 << 20) + b"data" + bytes((1 << 20) - 4)     # data at 2 MiB, zeros around
    path.write_bytes(content)
    before = os.stat(path).st_blocks
    fd = os.open(path, os.O_RDWR)
    try:
        holes_again.punch(fd, [(0, 3 << 20)])        # "all a hole": the data is read, and kept
        assert holes_again.holes(fd, 3 << 20) == [(0, 2 << 20)]     # the chunk that holds data, whole
    finally:
        os.close(fd)
    assert path.read_bytes() == content
    assert os.stat(path).st_blocks * 512 <= (1 << 20) < before * 512


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_read_only_copies_of_rabtuis_own_user_are_punched_and_keep_their_mode(open_base):
    """rabtui run as its own user owns every file of its backups: a copy it may not write (0444,
    0400) is opened all the same, its mode put back once punched."""
    from tests.other_user import NOBODY, nobody_returns

    content = bytes(4 << 20) + b"data" + bytes((4 << 20) - 4)
    base, dest = open_base / "base", open_base / "dest"
    for top in (base, dest):
        top.mkdir()
        for name, mode in (("ro", 0o444), ("mine", 0o400)):
            with open(top / name, "wb") as f:
                if top == base:
                    f.truncate(len(content))
                    f.seek(4 << 20)
                    f.write(b"data")
                else:
                    f.write(content)
            os.utime(top / name, (1_600_000_000, 1_600_000_000))
            os.chmod(top / name, mode)
            os.chown(top / name, NOBODY.pw_uid, NOBODY.pw_gid)
        os.chown(top, NOBODY.pw_uid, NOBODY.pw_gid)
    os.link(base / "ro", dest / "base's")         # the base's own file is never made writable
    changed = os.stat(base / "ro").st_ctime_ns
    assert nobody_returns(lambda: holes_again.settle(dest, base, [b"ro", b"mine", b"base's"]), open_base) == []
    assert os.stat(base / "ro").st_ctime_ns == changed
    for name, mode in (("ro", 0o444), ("mine", 0o400)):
        st = os.stat(dest / name)
        assert (stat.S_IMODE(st.st_mode), st.st_mtime, st.st_blocks * 512 < 1 << 20) == (mode, 1_600_000_000, True), name
        assert (dest / name).read_bytes() == content
