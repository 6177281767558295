"""In a state directory or on a medium open to all but sticky (an operator's chmod 1777: `check`
says it), a file another user made first at the name of a record of checkpoint numbers is not read:
their `checkpoints-abandoned.json` gave up checkpoints at the next rebuild-state, their
`.rabtui-checkpoints` used numbers up to the largest one. rebuild-state says what it did not read."""

from __future__ import annotations

import json
import os
import pwd

import pytest

from rabtui.cli import main
from rabtui.media import checkpoint_numbers
from rabtui.media.checkpoint_numbers import KEPT_ABANDONED, RECORD
from tests.trees import Lab, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
NOBODY = pwd.getpwnam("nobody")


def _theirs(path, data: dict) -> None:
    path.write_text(json.dumps(data))
    os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)


def test_records_of_checkpoint_numbers_another_user_made_are_not_read(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a.txt": b"a"})
    assert lab.backup(cfg).status == "completed"
    medium = lab.media[0][1]
    os.chmod(lab.state, 0o1777)
    os.chmod(medium, 0o1777)
    _theirs(lab.state / KEPT_ABANDONED, {"abandoned": [1]})
    _theirs(medium / RECORD, {"used": [checkpoint_numbers.LARGEST]})
    assert checkpoint_numbers.kept_abandoned(lab.state) == set()
    assert checkpoint_numbers.read_record(medium) == set()

    lab.lose_database()
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) in (0, 3)
    said = capsys.readouterr().out
    assert f"{lab.state / KEPT_ABANDONED} is a file of user nobody (uid {NOBODY.pw_uid}), not of this one: not read" in said, said
    assert f"{medium / RECORD} is a file of user nobody (uid {NOBODY.pw_uid}), not of this one: not read" in said, said
    store = lab.store()
    assert checkpoint_numbers.in_store(store) == set()
    assert checkpoint_numbers.abandoned_here(store) == set()
    store.close()

    # rabtui's own records are read as before
    for path in (lab.state / KEPT_ABANDONED, medium / RECORD):
        os.chown(path, 0, 0)
    assert checkpoint_numbers.kept_abandoned(lab.state) == {1}
    assert checkpoint_numbers.read_record(medium) == {checkpoint_numbers.LARGEST}


def test_the_records_on_a_medium_all_of_another_user_are_read(tmp_path):
    """A vfat or exFAT medium mounted for a desktop's user shows every file as theirs, rabtui's records
    included: the owner of the directory could replace any file there, so their record is read."""
    medium = tmp_path / "medium"
    medium.mkdir()
    _theirs(medium / RECORD, {"used": [4, 7]})
    os.chown(medium, NOBODY.pw_uid, NOBODY.pw_gid)
    ignored: list[str] = []
    assert checkpoint_numbers.read_record(medium, ignored=ignored) == {4, 7} and not ignored


def test_a_label_another_user_made_first_on_a_medium_open_to_all_is_not_trusted(tmp_path, capsys):
    """Their `.rabtui-medium`, made on a fresh medium open to all but sticky before its first backup
    labelled it, was taken for the label rabtui wrote (their file, which they change at will)."""
    from rabtui.media.medium import LABEL

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a.txt": b"a"})
    medium = lab.media[0][1]
    os.chmod(medium, 0o1777)
    _theirs(medium / LABEL, {"id": "m1"})
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "backup", "loc"]) == 1
    out = capsys.readouterr()
    err = out.out + out.err
    assert f"the label {medium / LABEL} is a file of user nobody (uid {NOBODY.pw_uid}), not of this one:" \
           " not trusted" in err and "Traceback" not in err, err
    assert not [p for p in medium.iterdir() if p.name != LABEL]
    os.unlink(medium / LABEL)
    assert lab.backup(cfg).status == "completed"


def test_a_label_rabtui_wrote_as_another_user_says_how_to_take_it(tmp_path, capsys):
    """A medium labelled by rabtui run as a dedicated user, then used by root (the medium's folder
    root's): the refusal said only to move the label away, as if another user had planted it; its
    chown to this user takes it back, with what the medium holds."""
    import shlex
    import subprocess

    from rabtui.media.medium import LABEL

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a.txt": b"a"})
    assert lab.backup(cfg).status == "completed"
    label = lab.media[0][1] / LABEL
    os.chown(label, NOBODY.pw_uid, NOBODY.pw_gid)
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "backup", "loc"]) == 1
    out = capsys.readouterr()
    chown = f"chown {os.geteuid()} {label}"
    assert chown in out.out + out.err, out
    subprocess.run(shlex.split(chown), check=True)
    assert lab.backup(cfg).status == "completed"
