"""rebuild-state and an image cut short before its catalog (a copy that stopped, a disc that
cannot be read past a scratch): the disc is named with xorriso's read error on the catalog it holds,
not with the absence of the plain catalog only older discs have (it said "Cannot find path
'/rabtui/catalog.tsv'", a cause that was no cause, cut in the middle of a word). Real xorriso."""

from __future__ import annotations

import os

from rabtui.cli import main
from tests.trees import Lab, burn_due, write_files


def test_an_image_cut_short_is_named_with_the_read_error_of_its_catalog(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"a.bin": 200_000})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    store.close()
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    os.truncate(iso, 60 * 2048)      # past the tree, inside the data, before the catalog
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 3
    out = capsys.readouterr().out
    line = next((x for x in out.splitlines() if x.startswith(f"not matched: {iso}: ")), "")
    assert "larger than number of readable blocks 60" in line, out
    assert "Cannot read all bytes from ISO file '/rabtui/catalog.tsv.gz'" in line, out
    assert "Cannot find path" not in line, out
