"""Filler: several whole directories in the space a checkpoint leaves on its discs (`add/1`,
`add/2`, ...), each mapped in README.txt of its disc and in the catalog, read back byte for byte;
each of their entries given to xorriso by itself, never a whole directory by one `-map` (which
adds its entries in readdir's order: quadratic in their number, xorriso.Entry)."""

from __future__ import annotations

import gzip

import threading

from rabtui.media import medium_layout
from rabtui.checkpoint import layout, prepare, run, xorriso
from rabtui.events import READY, ScriptedPrompter
from tests.test_checkpoint import _disc_tree, _extract, _medium_tree, _not_due
from tests.trees import Lab, write_files

FILLERS = ("f1", "f2", "f3", "f4")


def test_several_filler_directories_on_one_disc(tmp_path, monkeypatch):
    lab = Lab(tmp_path, media_count=1)
    dirs = ("data",) + FILLERS
    for d in dirs:
        (lab.src / d).mkdir()
    cfg = lab.write('[[sources]]\nid = "loc"\n'
                    + "".join(f'[[sources.directories]]\npath = "{lab.src / d}"\n' for d in dirs)
                    + f'\n[checkpoint]\ndisc = "8MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    write_files(lab.src / "data", {"a.bin": 900_000, "b/c.txt": b"data\n"})
    for n, d in enumerate(FILLERS, 1):
        write_files(lab.src / d, {f"file{n}.bin": 100_000 * n, f"sub{n}/deep.txt": d.encode() * 10})
    backup = lab.backup(cfg)
    assert backup.status == "completed"
    store = lab.store()
    for d in FILLERS:                     # checkpointed recently: not due, so candidates for filler
        _not_due(store, lab.src / d)

    c = prepare.compute(cfg, store)
    assert [d.key for d in c.data] == [f"loc:{lab.src / 'data'}"]
    number = prepare.record(cfg, store, c, drive=cfg.checkpoint.drive)
    assert store.one("SELECT discs FROM checkpoints WHERE number=?", (number,))["discs"] == 1
    given: list[xorriso.Entry] = []
    real = xorriso.command_file
    monkeypatch.setattr(xorriso, "command_file", lambda volid, entries: real(volid, given.extend(entries) or given))
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    assert [e.iso for e in given if e.kind == "tree"] == [b"/rabtui"]
    filled = [(e.kind, e.iso.count(b"/")) for e in given if e.iso.startswith(b"/add/")]
    # add/N, add/N/fileN.bin, add/N/subN, add/N/subN/deep.txt: each by itself
    assert sorted(filled) == sorted([("dir", 2), ("file", 3), ("dir", 3), ("file", 4)] * len(FILLERS)), filled

    disc = tmp_path / "x1"
    _extract(tmp_path / "iso" / f"RAB{number}D01.iso", disc)
    readme = (disc / "README.txt").read_text()
    mapped = {}
    for line in readme.splitlines():
        if line.strip().startswith("add/"):
            n, _, original = line.strip().partition("  =  loc:")
            mapped[n] = original.split("  (", 1)[0]
    assert sorted(mapped) == [f"add/{n}" for n in range(1, len(FILLERS) + 1)]
    assert sorted(mapped.values()) == sorted(str(lab.src / d) for d in FILLERS)
    catalog = layout.parse_catalog(gzip.decompress((disc / "rabtui" / "catalog.tsv.gz").read_bytes()).decode())
    for n, original in mapped.items():
        on_medium = _medium_tree(medium_layout.backup_data_path(backup.path, original))
        assert _disc_tree([disc], n.encode()) == on_medium
        listed = {path for _, path, _, _, _ in catalog if path.startswith(n.encode() + b"/")}
        assert listed == {n.encode() + b"/" + rel for rel in on_medium if not rel.endswith(b"/")}
