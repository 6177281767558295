"""What a disc says of itself (README.txt, rabtui/catalog.tsv.gz) when the configured directory and
the files in it have names with control characters, bytes that are not UTF-8 and 255 bytes: read
from a real disc image written by xorriso, every line is one line, shows no byte a terminal would
obey, and gives the names back byte for byte."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess

from rabtui.checkpoint import layout
from rabtui.events import READY
from rabtui.rebuild import disc_text
from tests.test_checkpoint import _burn, _record
from tests.trees import Lab

# C0 and C1 controls and DEL, as text and as the bytes of a name (C1 as UTF-8 or as a single byte)
OBEYED = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")
LONG = "L" * 255


def _from_disc(iso, name: str, target) -> bytes:
    subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-indev", f"stdio:{iso}", "-extract", name, str(target)],
                   check=True, capture_output=True)
    return target.read_bytes()


def test_readme_and_catalog_on_the_disc_escape_what_a_terminal_would_obey(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    dir_name = "new\nline \x1b[31mred\x1b[0m \u009b2J \x7f tab\there"
    top = lab.src / dir_name / LONG
    top.mkdir(parents=True)
    names = [b"esc\x1b]0;title\x07", b"csi\xc2\x9b1m", b"latin1-\xe9t\xe9", b"del\x7f", b"back\\slash\\x41",
             LONG.encode(), b"cr\rlf\n"]
    for n in names:
        with open(os.path.join(os.fsencode(top), n), "wb") as f:
            f.write(n)
    src = (f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = {json.dumps(str(lab.src / dir_name))}\n'
           f'kind = "standard"\n\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    cfg = lab.write(src)
    backup = lab.backup(cfg)
    assert backup.status == "completed", backup.reason
    store = lab.store()
    number = _record(lab, cfg, store)
    res, _, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"

    readme = _from_disc(iso, "/README.txt", tmp_path / "README.txt")
    assert not OBEYED.search(readme), readme
    shown = layout.escape_path(os.fsencode(str(lab.src / dir_name)))
    [line] = [x for x in readme.split(b"\n") if x.startswith(b"  data/")]
    prefix, _, rest = line[2:].partition(b"  =  ")
    assert rest.startswith(f"loc:{shown}  (standard, backup ".encode())
    assert layout.unescape_path(prefix.decode()) == b"data/loc/" + os.fsencode(str(lab.src / dir_name)).lstrip(b"/")
    assert disc_text.readme_backup(readme, "loc", str(lab.src / dir_name)) == backup.backup_id

    catalog = gzip.decompress(_from_disc(iso, "/rabtui/catalog.tsv.gz", tmp_path / "catalog.tsv.gz"))
    assert not OBEYED.search(catalog)
    rows = layout.parse_catalog(catalog.decode("utf-8"))
    on_disc = {os.path.basename(path) for _disc, path, *_ in rows}
    assert set(names) <= on_disc
    assert {bytes(r["disc_path"]) for r in store.all("SELECT disc_path FROM disc_files")} == {p for _, p, *_ in rows}
