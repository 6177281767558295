"""backup/holes_again.py punches holes only where the copy reads zeros, whatever ranges it is given:
never data (a copy that is not the base's content after all keeps every byte)."""

from __future__ import annotations

import os

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
