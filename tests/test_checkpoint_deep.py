"""Checkpoints of the deepest trees a Linux file system holds, with real rsync and xorriso onto an
`images:` drive: 255-byte names, a 4,000-byte path, non-UTF-8 and control bytes, newlines, leading
dashes. The discs are read back with osirrox and compared byte for byte with the medium."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from rabtui.media import below, medium_layout
from rabtui.checkpoint import prepare, questions, run, verify
from rabtui.errors import UsageError
from rabtui.events import READY, ScriptedPrompter
from tests.test_checkpoint import _record
from tests.trees import HOSTILE_NAMES, Lab


def _name(i: int, length: int = 255) -> bytes:
    """A name of exactly `length` bytes: control bytes, a newline, non-UTF-8, a leading dash, CJK."""
    head = b"-\n\t\x1b\xff\xfe%d " % i + "漢字".encode() * 10
    return (head + b"x" * length)[:length]


def no_room_to_extract(monkeypatch) -> None:
    """Verification finds no room to extract a disc: it reads each file back as a stream."""
    real = shutil.disk_usage
    monkeypatch.setattr(verify.shutil, "disk_usage", lambda p: real(p)._replace(free=1))


def _deep_tree(root: Path, total: int = 4000) -> bytes:
    """Directories of 255-byte names down to a file whose path is `total` bytes long; returns its
    path relative to `root`."""
    base = os.fsencode(root)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    rel, i = [], 0
    try:
        while len(base) + sum(len(n) + 1 for n in rel) + 256 + 1 < total:
            name = _name(i)
            os.mkdir(name, dir_fd=fd)
            with open(os.open(b"f" + name[1:], os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
                f.write(b"file at depth %d\n" % i)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, i = nfd, i + 1
            rel.append(name)
        last = _name(99, total - len(base) - sum(len(n) + 1 for n in rel) - 1)
        with open(os.open(last, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
            f.write(b"the deepest file\n" * 1000)
        for k, name in enumerate(HOSTILE_NAMES):
            with open(os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
                f.write(b"hostile %d" % k)
    finally:
        os.close(fd)
    return b"/".join(rel + [last])


def _tree(path: bytes) -> dict[bytes, bytes]:
    """Every file below `path` -> its content, read with directory descriptors (any depth)."""
    out: dict[bytes, bytes] = {}

    def walk(fd: int, rel: bytes) -> None:
        for name in map(os.fsencode, os.listdir(fd)):
            st = os.lstat(name, dir_fd=fd)
            r = rel + b"/" + name if rel else name
            if stat.S_ISDIR(st.st_mode):
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                try:
                    walk(sub, r)
                finally:
                    os.close(sub)
            else:
                with open(os.open(name, os.O_RDONLY, dir_fd=fd), "rb") as f:
                    out[r] = f.read()

    top = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        walk(top, b"")
    finally:
        os.close(top)
    return out


def _lab(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    return lab, cfg


@pytest.mark.parametrize("room", ["extracted", "streamed"])
def test_a_4000_byte_path_and_255_byte_names_burn_verify_and_read_back(tmp_path, monkeypatch, room):
    """Verified by extracting the disc, or (no room for that) by reading each file back as a stream."""
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    lab, cfg = _lab(tmp_path)
    deepest = _deep_tree(lab.src / "data")
    assert len(os.fsencode(lab.src / "data")) + 1 + len(deepest) == 4000
    backup = lab.backup(cfg)
    assert backup.status == "completed", lab.messages()
    store = lab.store()
    number = _record(lab, cfg, store)
    prompter = ScriptedPrompter(lambda q: READY)
    seen = []
    res = run.burn_checkpoint(cfg, store, number, emit=seen.append, cancel=threading.Event(), prompter=prompter)
    assert res.status == "completed", res.message
    # xorriso said nothing but that deep paths stay out of the Joliet tree (Rock Ridge holds them)
    assert not [e.message for e in seen if ("WARNING" in e.message or "SORRY" in e.message)
                and "can't be added to Joliet tree" not in e.message]
    assert [q.kind for q in prompter.asked] == [questions.INSERT]   # written and verified at the first try
    assert any("reading each file back as a stream" in e.message for e in seen) == (room == "streamed")

    data_root = medium_layout.backup_data_path(backup.path, str(lab.src / "data"))
    on_medium = _tree(os.fsencode(data_root))
    assert deepest in on_medium and len(on_medium) > 30
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    with tempfile.TemporaryDirectory(prefix="x") as short:   # the disc's paths fit below a short one
        subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-indev", f"stdio:{iso}",
                        "-extract", "/", short + "/d"], check=True, capture_output=True)
        prefix = b"data/loc/" + os.fsencode(lab.src / "data").lstrip(b"/")
        on_disc = _tree(os.path.join(os.fsencode(short), b"d", prefix))
    assert on_disc == on_medium
    assert on_disc[deepest] == b"the deepest file\n" * 1000


def test_a_path_too_long_for_xorriso_is_refused_when_planned(tmp_path):
    """A 4,090-byte path: with /data/loc before it, longer than xorriso writes. The plan says so
    and records nothing, instead of a checkpoint that can never be burnt."""
    lab, cfg = _lab(tmp_path)
    _deep_tree(lab.src / "data", total=4090)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    try:
        prepare.compute(cfg, store)
    except UsageError as exc:
        assert "1 path is too long for a disc" in str(exc) and f"loc:{lab.src / 'data'}" in str(exc)
    else:
        raise AssertionError("a path longer than a disc takes was planned")
    assert store.one("SELECT COUNT(*) FROM checkpoints")[0] == 0


@pytest.mark.parametrize("room", ["extracted", "streamed"])
def test_names_that_look_like_patterns_verify(tmp_path, monkeypatch, room):
    """`*`, `?` and `[` in names are names, when the disc is read back either way."""
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    lab, cfg = _lab(tmp_path)
    data = lab.src / "data"
    for name, content in {"photo[1].jpg": b"the first photo", "photo1.jpg": b"another one", "notes*": b"star",
                          "notes.txt": b"text", "a?b": b"question", "axb": b"x"}.items():
        (data / name).write_bytes(content)
    assert lab.backup(cfg).status == "completed", lab.messages()
    store = lab.store()
    number = _record(lab, cfg, store)
    prompter = ScriptedPrompter(lambda q: READY)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=prompter)
    assert res.status == "completed", res.message
    assert [q.kind for q in prompter.asked] == [questions.INSERT]   # verified at the first try


def test_the_deepest_file_removed_after_the_plan_fails_its_disc_naming_it(tmp_path):
    """The 4,000-byte path's file (a 255-byte name of control bytes and non-UTF-8) deleted on the
    medium after the plan: the disc fails before anything is written, naming it escaped, with no
    rewrite offered."""
    lab, cfg = _lab(tmp_path)
    deepest = _deep_tree(lab.src / "data")
    backup = lab.backup(cfg)
    store = lab.store()
    number = _record(lab, cfg, store)
    data_root = os.fsencode(medium_layout.backup_data_path(backup.path, str(lab.src / "data")))
    below.unlink(data_root, deepest)
    prompter = ScriptedPrompter(lambda q: "abort" if q.kind == questions.FAILED else READY)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=prompter)
    failed = [q for q in prompter.asked if q.kind == questions.FAILED]
    assert res.status == "aborted" and failed, res.message
    assert "removed from the backup on the medium" in failed[0].text and "rewrite" not in failed[0].choices
    text = failed[0].text
    assert "\\377" in text and "\x1b" not in text and "\n" not in text, text
    assert not (tmp_path / "iso" / f"RAB{number}D01.iso").exists()
