"""The catalog on discs is gzip-compressed (rabtui/catalog.tsv.gz): the room the planner keeps for
it is an upper bound of its compressed size, plain zgrep reads it off a real disc, and rebuild-state
reads both it and the plain catalog.tsv of older discs (tests/test_rebuild.py makes such discs)."""

from __future__ import annotations

import gzip
import hashlib
import random
import subprocess
import threading

from hypothesis import given, settings, strategies as st

from rabtui.checkpoint import prepare, reserve, run
from rabtui.checkpoint.layout import CATALOG_HEADER, escape_path
from rabtui.checkpoint.packing import Group
from rabtui.events import READY, ScriptedPrompter
from rabtui.rebuild.disc_text import read_disc_catalog
from tests.trees import Lab, write_files

names = st.one_of(
    st.binary(min_size=1, max_size=255).filter(lambda b: b"/" not in b and b"\0" not in b),
    st.text(min_size=1, max_size=120).map(lambda t: t.replace("/", "_").replace("\0", "_").encode("utf-8", "surrogatepass")),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=255)
    .map(lambda t: t.replace("/", "_").encode()),
)


def _catalog(prefix: bytes, rels: list[bytes], seed: int) -> bytes:
    r = random.Random(seed)
    lines = [CATALOG_HEADER]
    for rel in sorted(rels):
        sha = hashlib.sha256(r.randbytes(8)).hexdigest()
        lines.append(f"{r.randint(1, 64)}\t{escape_path(prefix + b'/' + rel)}\t{r.randrange(10**12)}"
                     f"\t{r.randrange(10**10)}\t{sha}\n")
    return "".join(lines).encode("utf-8", "surrogatepass")


@settings(max_examples=25)
@given(st.lists(st.lists(names, min_size=1, max_size=3).map(b"/".join), min_size=1, max_size=300), st.integers(0, 99))
def test_compressed_catalog_within_the_room_kept(rels, seed):
    prefix = b"data/web1/srv/files"
    text = _catalog(prefix, rels, seed)
    escaped = sum(len(escape_path(r).encode()) for r in rels)
    room = 200 + len(prefix) + 1 + reserve.gz_catalog_bytes(len(rels), escaped)
    assert len(gzip.compress(text, 6, mtime=0)) <= room


def test_random_printable_long_names_within_the_room_kept():
    r = random.Random(1)
    rels = [bytes(r.randrange(33, 127) for _ in range(255)).replace(b"/", b"_") for _ in range(2000)]
    text = _catalog(b"data/x", rels, 1)
    room = 200 + 7 + reserve.gz_catalog_bytes(len(rels), sum(len(escape_path(p).encode()) for p in rels))
    assert len(gzip.compress(text, 6, mtime=0)) <= room


def _deep(r: random.Random, piece) -> bytes:
    """A configured directory's prefix on the discs near the longest path: 15 names of 255 bytes."""
    return b"data/web1/" + b"/".join(b"".join(piece(r) for _ in range(85)) for _ in range(15))


DEEP = {"format characters": lambda r: r.choice("\u202a\u202c\u202e\u2066\u2067\u200b\u200d\u2028").encode(),
        "private use": lambda r: chr(r.randrange(0xE000, 0xF900)).encode(),
        "not UTF-8": lambda r: bytes(r.randrange(0x80, 0xC0) for _ in range(3)),
        "ASCII": lambda r: bytes(r.randrange(97, 123) for _ in range(3))}


def test_a_long_prefix_on_every_row_within_the_room_kept():
    """Each row repeats its directory's prefix: one escaped to 15,000 bytes is more than a
    back-reference of gzip, whose search may not find it again (escapes repeat within a row)."""
    r = random.Random(3)
    rels = [b"%d" % i for i in range(100)]
    for kind, piece in DEEP.items():
        prefix = _deep(r, piece)
        text = _catalog(prefix, rels, 1)
        got = len(gzip.compress(text, 6, mtime=0))
        room = reserve.catalog_room({prefix: len(rels)}, len(rels), sum(len(escape_path(p).encode()) for p in rels))
        planned = reserve.catalog_bytes_of([Group(("web1", kind), prefix, rels, [1] * len(rels))])
        assert got <= room <= planned, kind


def test_disc_holds_the_gzip_catalog_readable_with_zgrep(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {f"d{i}/file{i}.txt": b"x" * i for i in range(1, 200)})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    out = tmp_path / "disc"
    subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(out)],
                   check=True, capture_output=True)
    catalog = out / "rabtui" / "catalog.tsv.gz"
    plain = (prepare.checkpoint_dir(cfg, number) / "catalog.tsv").read_bytes()
    assert gzip.decompress(catalog.read_bytes()) == plain and len(catalog.read_bytes()) < len(plain) / 2
    found = subprocess.run(["zgrep", "d17/file17.txt", str(catalog)], capture_output=True, check=True).stdout
    assert found.startswith(b"1\tdata/loc/") and hashlib.sha256(b"x" * 17).hexdigest().encode() in found
    readme = (out / "README.txt").read_text()
    assert "rabtui/catalog.tsv.gz" in readme and "zgrep" in readme and "zcat" in readme
    assert read_disc_catalog(str(iso)) == plain
