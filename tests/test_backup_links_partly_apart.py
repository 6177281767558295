"""Names of one file on the source that the backup could make apart from the base's file only in
part (a directory of the backup refusing a link or a rename): the warning says which names are
apart and which are still one file with the others, as they are in the backup, and names any
temporary name it could not remove. The file systems' own refusals: an immutable directory (no
link in it) and an append-only one (a link, but no rename over a name, nor unlink)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from rabtui.media import medium_layout
from tests.test_backup_links_apart import _apart, _ino
from tests.trees import Lab, write_files


def _lab_whose_listing_sets(tmp_path, flag: str):
    """A source of a, d, e one file and b, sub/c another, one file of five names in its first
    backup; an rsync that sets `flag` (chattr) on the backup's `sub` as the names are listed."""
    lab = Lab(tmp_path, media_count=1)
    src = lab.src / "data"
    wrapper = tmp_path / "rsync-then-chattr"
    wrapper.write_text('#!/bin/bash\nfor a in "$@"; do case "$a" in */.rabtui-*/) [ -n "$DRY" ] && a="${a%/}" &&'
                       f' chattr {flag} "${{a%/*}}/sub";; -n) DRY=1;; esac; done\nexec rsync "$@"\n')
    wrapper.chmod(0o755)
    cfg = lab.local([("data", "standard")], extra=f'rsync_path = "{wrapper}"')
    write_files(src, {"a": b"alpha", "sub/keep": b"k"})
    for name in ("b", "d", "e", "sub/c"):
        os.link(src / "a", src / name)
    base = lab.backup(cfg, medium_id="m1")
    assert base.status == "completed", base.reason
    _apart(src / "b")
    os.unlink(src / "sub/c")
    os.link(src / "b", src / "sub/c")
    return lab, cfg, src


@pytest.mark.skipif(os.geteuid() != 0, reason="chattr needs root")
@pytest.mark.parametrize("flag", ["+i", "+a"])
def test_names_made_apart_in_part_are_said_as_they_are(tmp_path, flag):
    probe = tmp_path / "probe"
    probe.mkdir()
    if subprocess.run(["chattr", flag, str(probe)], capture_output=True).returncode != 0:
        pytest.skip(f"chattr {flag} is refused on this file system")
    subprocess.run(["chattr", "-i", "-a", str(probe)], check=True)
    lab, cfg, src = _lab_whose_listing_sets(tmp_path, flag)
    second = lab.backup(cfg, medium_id="m1")
    row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    d = medium_layout.backup_data_path(row["path"], str(src))
    try:
        said = " ".join(lab.messages())
        assert second.status == row["status"] == "warnings", said
        assert _ino(d / "a") == _ino(d / "d") == _ino(d / "e") == _ino(d / "sub/c")
        left = [n for n in os.listdir(d / "sub") if n.startswith(".rabtui-")]
        assert (d / "b").read_bytes() == (d / "sub/c").read_bytes() == b"alpha"
        if flag == "+i":        # the link refused: nothing made apart, as the warning says
            assert _ino(d / "b") == _ino(d / "a") and left == []
            assert "could not be made apart in this backup (one file there, as in the backup it was made from): b:" \
                   in said, said
        else:                   # the rename refused: b apart, sub/c still one file with a, a name left
            assert _ino(d / "b") != _ino(d / "a") and len(left) == 1
            assert _ino(d / "sub" / left[0]) == _ino(d / "b")
            assert re.search(r"2 names of one file on the source made apart in part in this backup: b apart; sub/c still"
                             r" one file with [ade] \(as in the backup it was made from\): Operation not permitted", said), said
            assert f"sub/{left[0]}" in said, said
    finally:
        subprocess.run(["chattr", "-i", "-a", str(d / "sub")], check=True)
