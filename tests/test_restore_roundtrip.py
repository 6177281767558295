"""Round trip (issue 15's invariant): any tree of names a Linux file system allows (every byte but
`/` and NUL, names up to 255 bytes, paths up to 4,000 bytes, non-UTF-8, control characters,
leading dashes) comes back byte for byte through a real backup and a restore from the medium, and
through a checkpoint on ISO images and a restore from the discs; the discs read back with osirrox
directly give the same tree."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from datetime import datetime
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st
import pytest

from rabtui.restore import run as R
from rabtui.checkpoint import prepare, run, shortpath
from rabtui.events import READY, ScriptedPrompter
from tests.trees import Lab

T0 = datetime(2026, 6, 1, 3, 0)
PATH_MAX = 4000
_BYTE = st.integers(1, 255).filter(lambda b: b != 0x2F)


def _names(lo: int, hi: int):
    return st.lists(_BYTE, min_size=lo, max_size=hi).map(bytes).filter(lambda n: n not in (b".", b".."))


NAMES = st.one_of(_names(1, 12), _names(200, 255),
                  st.sampled_from([b"-x", b"--delete", b"-", b"new\nline", b"\x1b[31mred", b"\xff\xfe",
                                   b"\r", b" lead", "\u6f22".encode() * 85, b"\\#012"]))
TREES = st.lists(st.tuples(st.lists(NAMES, max_size=3), NAMES, st.binary(max_size=48)), min_size=1, max_size=6)


def _write(root: bytes, tree, deep: int, deep_name: bytes) -> dict[bytes, bytes | None]:
    """Create the tree below `root` (through descriptors: paths may pass PATH_MAX on the way);
    returns name below root -> content (None: a directory)."""
    want: dict[bytes, bytes | None] = {}
    entries = list(tree)
    if deep:
        chain = [deep_name[:250] + b"%02d" % i for i in range(deep)]
        entries.append((chain, b"-deep-file", b"at the bottom"))
    limit = PATH_MAX - len(root) - 1
    for dirs, name, content in entries:
        parts = dirs + [name]
        rel = b"/".join(parts)
        prefixes = [b"/".join(parts[:i]) for i in range(1, len(parts))]
        if len(rel) > limit or rel in want or any(want.get(p, None) is not None for p in prefixes) \
                or any(k.startswith(rel + b"/") for k in want):
            continue
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        for d in dirs:
            try:
                os.mkdir(d, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            nfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        f = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        os.write(f, content)
        os.close(f)
        os.close(fd)
        for p in prefixes:
            want[p] = None
        want[rel] = content
    return want


def _read(root: bytes) -> dict[bytes, bytes | None]:
    got: dict[bytes, bytes | None] = {}
    for dirpath, dirnames, filenames, dfd in os.fwalk(root):
        under = dirpath[len(root):].lstrip(b"/")
        for d in dirnames:
            got[os.path.join(under, d) if under else d] = None
        for n in filenames:
            f = os.open(n, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
            with os.fdopen(f, "rb") as fh:
                got[os.path.join(under, n) if under else n] = fh.read()
    return got


def _osirrox(iso: str, disc_dir: bytes, scratch: str) -> dict:
    into = Path(scratch) / "osirrox"
    into.mkdir()
    with shortpath.alias(into) as short:
        subprocess.run(["xorriso", "-osirrox", "on", "-iso_rr_pattern", "off", "-indev", iso, "-extract",
                        os.fsdecode(disc_dir), os.fsdecode(os.path.join(short, b"t"))], check=True, capture_output=True)
    return _read(os.path.join(os.fsencode(into), b"t"))


@pytest.mark.slow      # tens of seconds: handed out first (conftest)
@settings(max_examples=6)
@example(tree=[([b"-", "\u6f22".encode() * 85], b"\x1b\xff" * 120, b"cjk")], deep=15, deep_name=b"\xe9" * 250)
@given(tree=TREES, deep=st.integers(0, 15), deep_name=_names(250, 250))
def test_any_names_come_back_byte_for_byte(tree, deep, deep_name):
    with tempfile.TemporaryDirectory(prefix="rt") as scratch:
        tmp = Path(scratch)
        lab = Lab(tmp, media_count=1)
        cfg = lab.with_discs("dvd+r")
        data = os.fsencode(lab.src / "data")
        want = _write(data, tree, deep, deep_name)
        res = lab.backup(cfg, now=T0)
        assert res.status == "completed", res.reason
        store = lab.store()

        out = tmp / "out"
        got = R.restore(cfg, store, "loc", os.fsdecode(data), to=out)
        assert not got.written.problems(), got.summary
        assert _read(os.path.join(os.fsencode(out), data.lstrip(b"/"))) == want

        number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
        burned = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                     prompter=ScriptedPrompter(lambda q: READY))
        assert burned.status == "completed", burned.message
        discs = tmp / "discs"
        got = R.restore(cfg, store, "loc", os.fsdecode(data), checkpoint=number, to=discs)
        assert not got.written.problems(), got.summary
        assert _read(os.path.join(os.fsencode(discs), data.lstrip(b"/"))) == want

        row = store.one("SELECT path, disc_path FROM disc_files WHERE number=? LIMIT 1", (number,))
        path, disc_path = bytes(row["path"]), bytes(row["disc_path"])
        disc_root = b"/" + disc_path[: len(disc_path) - len(path)].strip(b"/")     # the source's / on the disc
        isos = sorted(str(p) for p in (tmp / "iso").glob("*.iso"))
        assert len(isos) == 1
        assert _osirrox(isos[0], os.path.join(disc_root, data.lstrip(b"/")), scratch) == want
