"""Each medium's label is recorded in the state database and kept beside it as well
(STATE_DIR/media/ID.label, for rebuild-state). `check` says when the kept one is missing or is not
the one the database records, with what to do, and `media label ID` puts it right; a kept file that
cannot be written is said by the run that could not write it. The real command line, real rsync."""

from __future__ import annotations

import json
import shutil

from tests.test_medium_identity import _rabtui
from tests.trees import Lab, write_files

FIX = "then run `rabtui media label m1` with the medium's disk at its path"


def _lab(tmp_path) -> Lab:
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"a"})
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _check(lab) == (1, "")
    return lab


def _check(lab: Lab) -> tuple[int, str]:
    """The exit code and the lines of `check`, but for the checkpoint it says is due (never one)."""
    done = _rabtui(lab, "check")
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stdout.splitlines(keepends=True) if not line.startswith("WARNING: checkpoint due")]
    return done.returncode, "".join(lines)


def _recorded(lab: Lab) -> dict:
    row = lab.store().one("SELECT label FROM media WHERE id='m1'")
    return json.loads(row["label"])


def _relabelled_in_place(lab: Lab) -> None:
    done = _rabtui(lab, "media", "label", "m1")
    assert done.returncode == 0 and "medium m1 is already labelled" in done.stdout, done.stdout + done.stderr
    assert "warning" not in done.stdout
    assert json.loads((lab.state / "media" / "m1.label").read_text()) == _recorded(lab)
    assert _check(lab) == (1, "")


def test_a_kept_label_that_is_not_the_recorded_one_is_a_warning_until_labelled_again(tmp_path):
    lab = _lab(tmp_path)
    kept = lab.state / "media" / "m1.label"
    kept.write_text(json.dumps({"id": "m1", "created": "2020-01-02T03:04:05", "serial": "0ld5e71a1"}) + "\n")
    code, out = _check(lab)
    assert code == 1, out
    assert f"WARNING: medium m1: the label kept in {kept} (created 2020-01-02T03:04:05, serial 0ld5e71a1)" \
           " is not the one the database records" in out, out
    assert FIX in out, out
    _relabelled_in_place(lab)


def test_a_kept_label_missing_for_a_labelled_medium_is_a_warning_until_labelled_again(tmp_path):
    lab = _lab(tmp_path)
    kept = lab.state / "media" / "m1.label"
    kept.unlink()
    code, out = _check(lab)
    assert code == 1, out
    assert f"WARNING: medium m1: its label is recorded in the database, but {kept} is missing" in out, out
    assert FIX in out, out
    _relabelled_in_place(lab)


def test_a_kept_label_that_cannot_be_written_is_said_by_the_backup_and_by_check(tmp_path):
    lab = _lab(tmp_path)
    kept = lab.state / "media" / "m1.label"
    kept.unlink()
    kept.mkdir(0o700)          # where the file goes, something it cannot replace (root or not)
    write_files(lab.src / "data", {"b": b"b"})
    done = _rabtui(lab, "backup", "loc")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"medium m1: could not keep its label in {kept} (Is a directory)" in out, out
    code, said = _check(lab)
    assert code == 1 and f"but {kept} holds no label rabtui can read" in said, said
    done = _rabtui(lab, "media", "label", "m1")
    assert done.returncode == 3 and "medium m1 is already labelled" in done.stdout, done.stdout + done.stderr
    assert f"rabtui: warning: medium m1: could not keep its label in {kept}" in done.stderr, done.stderr
    shutil.rmtree(kept)
    _relabelled_in_place(lab)


def test_a_labelling_whose_kept_label_cannot_be_written_completes_with_a_warning(tmp_path):
    """`media label` of a new medium writes the disk's label and records it, but the kept one
    cannot be written: it completed with warnings (exit 3), the warning said, never a plain 0."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    kept = lab.state / "media" / "m1.label"
    kept.mkdir(0o700, parents=True)
    done = _rabtui(lab, "media", "label", "m1")
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"labelled {lab.media[0][1]} as medium m1" in done.stdout, done.stdout
    assert f"rabtui: warning: medium m1: could not keep its label in {kept} (Is a directory)" in done.stderr, \
        done.stderr
    assert json.loads((lab.media[0][1] / ".rabtui-medium").read_text()) == _recorded(lab)
    shutil.rmtree(kept)
    done = _rabtui(lab, "media", "label", "m1")
    assert done.returncode == 0 and "medium m1 is already labelled" in done.stdout, done.stdout + done.stderr
    assert "warning" not in done.stdout + done.stderr
    assert json.loads(kept.read_text()) == _recorded(lab)


def test_a_kept_label_nested_deeper_than_json_is_read_is_one_that_cannot_be_read(tmp_path):
    """A kept file nested past the JSON reader (a damaged disk's, by hand) is no label: check says
    so and a backup completes, neither ends in a traceback (or an internal error)."""
    lab = _lab(tmp_path)
    kept = lab.state / "media" / "m1.label"
    kept.write_bytes(b"[" * 50_000)
    code, said = _check(lab)
    assert code == 1 and f"but {kept} holds no label rabtui can read" in said, said
    write_files(lab.src / "data", {"b": b"b"})
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0 and "internal error" not in done.stdout + done.stderr, done.stdout + done.stderr
