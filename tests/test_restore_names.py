"""Restore of long and non-UTF-8 names (issue 15, 2.2), and a restore that cannot finish: it says
what it restored and the first error, exit 1, no traceback."""

from __future__ import annotations

import json
import os
from datetime import datetime

from rabtui.cli import main
from tests.trees import Lab, write_files

T0 = datetime(2026, 6, 1, 3, 0)
CJK_255 = ("\u6f22" * 85).encode()          # 85 three-byte characters: a 255-byte name


def _lab(tmp_path, files):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", files)
    assert lab.backup(cfg, now=T0).status == "completed"
    return lab


def test_255_byte_names_restore(tmp_path, capsys):
    files = {CJK_255: b"long", b"d" * 255 + b"/" + b"e" * 255: b"deep long", "x" * 234: b"234"}
    lab = _lab(tmp_path, files)
    out = tmp_path / "out"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), "--to", str(out)]) == 0
    base = os.path.join(os.fsencode(out), os.fsencode(lab.src / "data").lstrip(b"/"))
    for rel, content in files.items():
        with open(os.path.join(base, os.fsencode(rel)), "rb") as f:
            assert f.read() == content
    assert "3 files" in capsys.readouterr().out


def test_one_non_utf8_file_restores_and_is_shown_escaped(tmp_path, capsys):
    name = b"caf\xe9\x1b[31m-\xff"
    lab = _lab(tmp_path, {name: b"latin-1 name"})
    path = os.fsdecode(os.path.join(os.fsencode(lab.src / "data"), name))
    out = tmp_path / "out"
    assert main(["--config", str(lab.config_path), "restore", "loc", path, "--to", str(out)]) == 0
    with open(os.path.join(os.fsencode(out), os.fsencode(path).lstrip(b"/")), "rb") as f:
        assert f.read() == b"latin-1 name"
    printed = capsys.readouterr()
    assert "\x1b" not in printed.out + printed.err and "caf\\351\\033[31m-\\377" in printed.out
    # JSON keeps the exact name
    assert main(["--config", str(lab.config_path), "restore", "loc", path, "--to", str(out), "--overwrite",
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert os.fsencode(got["path"]) == os.fsencode(path) and got["restored"]["files"] == 1


def test_a_restore_that_cannot_finish_says_what_it_restored(tmp_path, capsys):
    lab = _lab(tmp_path, {"a/one": b"1", "b/two": b"2", "c/three": b"3"})
    out = tmp_path / "out"
    base = out / str(lab.src / "data").lstrip("/")
    base.mkdir(parents=True)
    # a directory holding files at the name of a file to restore: a file is never written over it
    (base / "b" / "two" / "theirs").mkdir(parents=True)
    code = main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), "--to", str(out),
                 "--overwrite"])
    printed = capsys.readouterr()
    assert code == 3, printed
    assert "2 files" in printed.out and "not restored (file): " in printed.out
    assert "b/two: a directory holding files is there where the backup has a file" in printed.out
    assert "Traceback" not in printed.err
    assert (base / "a/one").read_bytes() == b"1" and (base / "c/three").read_bytes() == b"3"
