"""rebuild-state and a disc whose catalog is damaged (or none of rabtui's): a row no checkpoint
writes, a compressed catalog cut short, a disc number past the 64 discs a checkpoint has. That
disc is named, not read, and the rebuild goes on: another disc of the checkpoint, whose catalog
can be read, records it. It failed the whole rebuild (naming no disc), or recorded a disc row for
each number up to the one named (hundreds of thousands, for minutes). So is an image whose volume
id names a checkpoint number rabtui never gives (0, past a billion, past what the database holds),
and a README.txt whose date no clock gives, or whose numbers no database holds: what it cannot
tell is not taken from it. Real xorriso, `images:`."""

from __future__ import annotations

import gzip
import subprocess

from rabtui.cli import main
from rabtui.state.store import Store
from tests.test_restore import make_disc
from tests.trees import Lab

HEAD = b"disc\tpath\tsize\tmtime\tsha256\n"
GOOD = HEAD + b"1\tdata/loc/x\t1\t1650000000\t-\n2\tdata/loc/y\t1\t1650000000\t-\n"


def _images_lab(tmp_path) -> tuple[Lab, object]:
    lab = Lab(tmp_path, media_count=1)
    images = tmp_path / "iso"
    images.mkdir()
    lab.local([("data", "standard")])
    text = lab.config_path.read_text().replace("[[media]]", f'[checkpoint]\ndrive = "images:{images}"\n\n[[media]]', 1)
    lab.config_path.write_text(text)
    return lab, images


DAMAGED = [  # (catalog of disc 1, what is said of it)
    (HEAD + b"1\tdata/loc/x\tmany\t1650000000\t-\n", "line 2: invalid literal for int()"),
    (HEAD + b"1\tdata/loc/x\t1\tinf\t-\n", "line 2: cannot convert float infinity"),
    (HEAD + b"1\tdata/loc/x\t99999999999999999999999\t1\t-\n", "line 2: a size or time no file has"),
    (HEAD + b"1\tdata/loc/\\xZZ\t1\t1\t-\n", "line 2: invalid literal for int() with base 16"),
    (HEAD + b"9" * 5000 + b"\tdata/loc/x\t1\t1\t-\n", "line 2: the disc number"),
    (gzip.compress(GOOD * 50)[:-30], "EOFError: Compressed file ended"),
    (HEAD + b"1\tdata/loc/x\t1\t1\t-\n200000\tdata/loc/y\t1\t1\t-\n", "names disc 200000, and a checkpoint has discs 1 to 64"),
]


def test_a_disc_whose_catalog_is_damaged_is_named_and_another_disc_read(tmp_path, capsys):
    """Checkpoints 1 to 7, disc 1 of each with a damaged catalog; checkpoint 1 has a disc 2 whose
    catalog is good: it is recorded from it."""
    lab, images = _images_lab(tmp_path)
    for number, (catalog, _said) in enumerate(DAMAGED, 1):
        make_disc(images / f"RAB{number}D01.iso", f"RAB{number}D01", {b"data/loc/x": b"x"}, catalog)
    make_disc(images / "RAB1D02.iso", "RAB1D02", {b"data/loc/y": b"y"}, GOOD)
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 3
    out = capsys.readouterr().out
    for number, (_catalog, said) in enumerate(DAMAGED, 1):
        line = next((x for x in out.splitlines() if x.startswith(f"not matched: {images / f'RAB{number}D01.iso'}: ")), "")
        assert said in line, (number, out)
    assert "checkpoints: 1 (2 disc files)" in out, out
    assert f"checkpoint numbers used before (discs not read): up to {len(DAMAGED)}" in out, out
    store = Store(lab.state)
    assert [(r["number"], r["disc"]) for r in store.all("SELECT number, disc FROM discs ORDER BY disc")] == [(1, 1), (1, 2)]
    store.close()


def test_an_image_whose_volume_id_names_no_checkpoint_rabtui_gives_is_named_and_the_rest_read(tmp_path, capsys):
    lab, images = _images_lab(tmp_path)
    (tmp_path / "stage/rabtui").mkdir(parents=True)
    (tmp_path / "stage/rabtui/catalog.tsv").write_bytes(GOOD)
    odd = ["RAB0D01", "RAB99999999999999999999D01", "RAB4D65"]
    for volid in odd:
        subprocess.run(["xorriso", "-outdev", str(images / f"{volid}.iso"), "-blank", "as_needed", "-volid", volid,
                        "-map", str(tmp_path / "stage"), "/", "-commit"], check=True, capture_output=True)
    make_disc(images / "RAB3D01.iso", "RAB3D01", {b"data/loc/x": b"x"}, GOOD)
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 3
    out = capsys.readouterr().out
    for volid in odd:
        assert f"not matched: {images / volid}.iso: no rabtui checkpoint disc's volume id" in out, out
    assert "checkpoints: 3 (2 disc files)" in out, out


def test_a_readme_with_a_date_or_numbers_no_checkpoint_has_is_not_taken_from(tmp_path, capsys):
    lab, images = _images_lab(tmp_path)
    data = str(lab.src / "data").lstrip("/").encode()
    catalog = HEAD + b"1\tdata/loc/" + data + b"/x\t1\t1650000000\t-\n"
    for number, made, backup in ((3, b"3, made 2026-13-45 25:61:61", b"1"),
                                 (4, b"4" * 5000 + b", made 2026-01-01 00:00:00", b"1"),
                                 (5, b"5, made 2026-01-01 00:00:00", b"9" * 30)):
        readme = (b"rabtui checkpoint " + made + b" UTC\n\n  data/loc  =  loc:/" + data + b"  (standard, backup "
                  + backup + b", discs 1-1)\n")
        make_disc(images / f"RAB{number}D01.iso", f"RAB{number}D01",
                  {b"README.txt": readme, b"data/loc/" + data + b"/x": b"x"}, catalog)
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 3     # no labelled medium
    out = capsys.readouterr().out
    assert "checkpoints: 3, 4, 5 (3 disc files)" in out and "not matched: RAB" not in out, out
    store = Store(lab.state)
    assert [r["backup_id"] for r in store.all("SELECT backup_id FROM checkpoint_dirs ORDER BY number")] == [None] * 3
    store.close()
