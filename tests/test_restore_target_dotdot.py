"""A `..` in `--to` after a symlink is the parent of where the symlink leads, as the kernel (and the
xorriso and the staging that name the target) take it, never cancelled against the symlink's name
before the walk: the restore wrote where the path read as text pointed, its staging where the
kernel pointed, and the symlink it was below was never looked at (another user's included). Real
backups, a real ISO disc."""

from __future__ import annotations

import os
from datetime import datetime

import pytest

from rabtui.cli import main
from tests.other_user import NOBODY, as_nobody
from tests.trees import Lab, burn_due, snapshot, write_files

T0 = datetime(2026, 6, 1, 3, 0)
TREE = {"d/f": b"1", "g": b"2"}


def _lab(base, disc: bool) -> Lab:
    lab = Lab(base, media_count=1)
    cfg = lab.with_discs("4MiB") if disc else lab.local()
    write_files(lab.src / "data", TREE)
    assert lab.backup(cfg, now=T0).status == "completed"
    if disc:
        burn_due(cfg, lab.store())
    return lab


def _restore(lab, to, disc: bool) -> int:
    return main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), "--to", str(to),
                 *(("--checkpoint", "1") if disc else ())])


@pytest.mark.parametrize("missing_first", [False, True])
@pytest.mark.parametrize("relative", [False, True])
@pytest.mark.parametrize("disc", [False, True])
def test_dotdot_after_a_symlink_is_the_parent_of_where_it_leads(tmp_path, monkeypatch, capsys, disc, relative,
                                                                missing_first):
    """`missing_first`: a directory not there yet and a `..` before the symlink (nope/../alias/..):
    that `..` cancels the missing one, never the symlink's name further on."""
    lab = _lab(tmp_path, disc)
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "mine").mkdir()
    os.symlink(tmp_path / "real" / "sub", tmp_path / "mine" / "alias")
    way = ("nope", "..") if missing_first else ()
    to = os.path.join(tmp_path / "mine", *way, "alias", "..", "x")
    if relative:
        monkeypatch.chdir(tmp_path / "mine")
        to = os.path.join(*way, "alias", "..", "x")
    assert _restore(lab, to, disc) == 0, capsys.readouterr()
    assert not (tmp_path / "mine" / "x").exists(), "the .. was cancelled against the symlink's name"
    got = snapshot(tmp_path / "real" / "x" / str(lab.src / "data").lstrip("/"))
    assert got == {k.encode(): v for k, v in TREE.items()}
    assert [n for n in os.listdir(tmp_path / "real" / "x") if n.startswith(".rabtui")] == []


@pytest.mark.parametrize("missing_first", [False, True])
@pytest.mark.parametrize("disc", [False, True])
def test_dotdot_after_another_users_symlink_is_refused(open_base, capsys, disc, missing_first):
    """Reaching the `..` takes following the user's symlink, which is not followed (also after a
    directory not there yet and a `..` that cancels it)."""
    (open_base / "lab").mkdir()
    lab = _lab(open_base / "lab", disc)
    theirs = open_base / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    elsewhere = open_base / "etc" / "sub"            # stands for /etc/sub
    elsewhere.mkdir(parents=True, mode=0o755)
    as_nobody(lambda: os.symlink(elsewhere, theirs / "restore"))
    way = ("nope", "..") if missing_first else ()
    code = _restore(lab, os.path.join(theirs, *way, "restore", "..", "x"), disc)
    out = capsys.readouterr()
    assert code == 1 and "restore is a symlink" in out.err and "Traceback" not in out.err, out
    assert os.listdir(open_base / "etc") == ["sub"] and os.listdir(theirs) == ["restore"]


def test_dotdot_below_a_directory_still_to_be_made(tmp_path, capsys):
    """Past the first directory that is not there yet, `..` cancels the name before it: those are
    made as real directories (as mkdir -p does), and the one named before the .. is not needed."""
    lab = _lab(tmp_path, False)
    assert _restore(lab, tmp_path / "new" / "a" / ".." / "b", False) == 0, capsys.readouterr()
    assert sorted(os.listdir(tmp_path / "new")) == ["b"]


@pytest.mark.parametrize("disc", [False, True])
def test_a_directory_of_another_user_swapped_for_a_symlink_after_the_target_was_resolved(open_base, monkeypatch,
                                                                                       capsys, disc):
    """--to is resolved once, up front; the user whose directory is on the way then swaps it for a
    symlink to where root's files are (as their inotify watch may, the moment the restore starts).
    The writer walks the path again from / and does not follow their symlink: nothing is written
    there, nor anything left in their directory."""
    from rabtui.restore import target_places

    (open_base / "lab").mkdir()
    lab = _lab(open_base / "lab", disc)
    theirs = open_base / "theirs"
    (theirs / "dir").mkdir(parents=True)
    for d in (theirs, theirs / "dir"):
        os.chown(d, NOBODY.pw_uid, NOBODY.pw_gid)
    elsewhere = open_base / "etc"            # stands for /etc
    elsewhere.mkdir(mode=0o755)
    real_resolved = target_places.resolved

    def resolved_then_swapped(to):
        out = real_resolved(to)
        assert out == os.fsencode(theirs / "dir" / "x")

        def swap():
            os.rename(theirs / "dir", theirs / "old")
            os.symlink(elsewhere, theirs / "dir")
        as_nobody(swap)
        return out

    monkeypatch.setattr(target_places, "resolved", resolved_then_swapped)
    code = _restore(lab, theirs / "dir" / "x", disc)
    out = capsys.readouterr()
    assert code == 1 and "dir is a symlink" in out.err and "Traceback" not in out.err, out
    assert os.listdir(elsewhere) == [] and os.listdir(theirs / "old") == []


def test_the_dialogs_target_with_dotdot_after_a_symlink_is_where_the_command_line_restores(tmp_path, capsys):
    """The directory typed in the restore dialog becomes the job's --to as typed (~ expanded), not
    normalized as text first: the `..` after a symlink was cancelled against its name there."""
    from rabtui.tui.dialogs.restore import RestoreRequest, check_target

    lab = _lab(tmp_path, False)
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "mine").mkdir()
    os.symlink(tmp_path / "real" / "sub", tmp_path / "mine" / "alias")
    to = check_target(f" {tmp_path}/mine/alias/../x/ ")
    store = lab.store()
    backup = store.one("SELECT name FROM backups")["name"]
    store.close()
    req = RestoreRequest("loc", os.fsencode(str(lab.src / "data")).lstrip(b"/"), backup, to)
    assert main(["--config", str(lab.config_path), *req.args()]) == 0, capsys.readouterr()
    assert not (tmp_path / "mine" / "x").exists(), "the .. was cancelled against the symlink's name"
    got = snapshot(tmp_path / "real" / "x" / str(lab.src / "data").lstrip("/"))
    assert got == {k.encode(): v for k, v in TREE.items()}
