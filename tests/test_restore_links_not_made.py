"""A hard link the target cannot make (its names on two file systems there: a mount inside the
target; a vfat, which has none; a file at its file system's most links): the name comes back as a
copy of the file, named as not linked, instead of missing from the restore."""

from __future__ import annotations

import os

from rabtui.restore import run as R
from tests.trees import Lab


def test_a_link_across_a_mount_in_the_target_comes_back_as_a_named_copy(tmp_path, tmpfs):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    (data / "a").mkdir()
    (data / "b").mkdir()
    (data / "d").mkdir()
    (data / "a/x").write_text("one file, two names\n")
    os.link(data / "a/x", data / "b/y")
    os.link(data / "a/x", data / "c")      # the first name restored (those of a directory before what is below)
    os.link(data / "a/x", data / "d/z")    # after b/y: linked to the first still, not to the copy
    os.chmod(data / "a/x", 0o640)
    assert lab.backup(cfg).status == "completed"
    into = tmp_path / "out" / str(data).lstrip("/")
    (into / "b").mkdir(parents=True)
    tmpfs(into / "b", "size=1m,mode=0755")      # another file system where the second name goes
    got = R.restore(cfg, lab.store(), "loc", str(data), to=tmp_path / "out")
    assert not got.written.errors, got.summary
    assert (into / "b/y").read_text() == "one file, two names\n"
    assert os.stat(into / "b/y").st_mode & 0o7777 == 0o640
    assert os.stat(into / "b/y").st_ino != os.stat(into / "a/x").st_ino == os.stat(into / "c").st_ino \
        == os.stat(into / "d/z").st_ino
    named = [(kind, os.path.relpath(n, str(data).lstrip("/").encode())) for kind, n, _why in got.written.not_restored]
    assert named == [("hard link", b"b/y")], got.written.not_restored
    why = got.written.not_restored[0][2]
    assert why.startswith(f"not linked to {str(data / 'c').lstrip('/')}: ") and why.endswith(": a copy"), why
