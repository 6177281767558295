"""A save of the configuration (the UI's edits) puts a new file in place of the old one: it keeps
the old file's mode, owner, group, ACL and xattrs (`init --force`, a new starter file, is 0600). A config with another name (a hard
link) is not saved: the rename would leave the other name with the old contents."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rabtui.config import edit as config_edit
from rabtui.errors import UsageError
from tests.fidelity import ACCESS_ACL
from tests.test_config_edit_keeps_the_file import DB1, HEAD, WEB1, _edit, _write
from tests.test_replace_file_leftovers import _leftovers


def _attrs(path) -> dict[str, bytes]:
    return {n: os.getxattr(path, n) for n in os.listxattr(path) if not n.startswith("security.")}


@pytest.mark.parametrize("how", ["edit", "delete"])
def test_a_save_keeps_the_files_mode_owner_group_acl_and_xattrs(tmp_path, how):
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    if os.geteuid() == 0:
        os.chown(path, 1234, 2345)
    os.chmod(path, 0o640)
    os.setxattr(path, "user.note", b"the operator's own")
    os.setxattr(path, "system.posix_acl_access", ACCESS_ACL)     # a named user and group may read it
    before, attrs = path.stat(), _attrs(path)
    if how == "edit":
        _edit(path, host="h2")
        assert 'host = "h2"' in path.read_text()
    else:
        snap = config_edit.read(path)
        config_edit.save(snap, snap.delete_source("db1"))
        assert 'id = "db1"' not in path.read_text()
    after = path.stat()
    assert after.st_ino != before.st_ino        # a new file, renamed in place
    assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
    assert _attrs(path) == attrs and attrs["system.posix_acl_access"] == ACCESS_ACL
    assert _leftovers(path) == []


def test_a_hard_linked_config_is_not_saved_and_says_why(tmp_path):
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    other = tmp_path / "copy-in-git.toml"
    os.link(path, other)
    with pytest.raises(UsageError, match=r"has 2 names \(hard links\): a save would give the new contents to"
                                         r" this one only.*nothing was saved") as refused:
        _edit(path, host="h2")
    assert "ln -sf" in refused.value.hint
    assert path.read_text() == other.read_text() == HEAD + WEB1 + DB1
    assert path.stat().st_ino == other.stat().st_ino and _leftovers(path) == []


BY_HAND = (HEAD + WEB1 + DB1).replace('host = "d"', 'host = "d"  # by hand')


def _editor_saves_at_the_last_look(monkeypatch, path, editor: str, look: int = 2, text: str = BY_HAND) -> None:
    """The operator's editor saves `text` right after the save's last look at `path` (or another)."""
    real_read, looks = Path.read_bytes, []

    def read_bytes(self):
        data = real_read(self)
        if self == path:
            looks.append(1)
            if len(looks) == look:     # the save's last look (2): the editor saves right after it
                if editor == "in place":
                    path.write_text(text)
                else:
                    (path.parent / ".swp").write_text(text)
                    os.rename(path.parent / ".swp", path)
        return data

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


@pytest.mark.parametrize("editor, name", [("in place", "rabtui.toml"), ("by rename", "rabtui.toml"),
                                          ("in place", "r" * 236 + ".toml")])
def test_a_hand_edit_saved_as_the_save_renames_is_kept_aside_and_said(tmp_path, monkeypatch, editor, name):
    """The operator's editor saves the file in the instant between the save's last look at it and its
    rename (editors take no lock): the file the rename replaced is kept beside the config as
    `<name>.conflict-<time>`, and the save says so, where the hand edit was dropped without a word."""
    path = tmp_path / name
    _write(path, HEAD + WEB1 + DB1)
    _editor_saves_at_the_last_look(monkeypatch, path, editor)
    with pytest.raises(config_edit.ConflictKept) as said:
        _edit(path, host="h2")
    monkeypatch.undo()
    kept = [p for p in tmp_path.iterdir() if ".conflict-" in p.name]
    assert len(kept) == 1 and kept[0].read_text() == BY_HAND, kept
    assert 'host = "h2"' in path.read_text() and "by hand" not in path.read_text()
    assert str(kept[0]) in str(said.value) and "was saved" in str(said.value)
    said.value.said()     # as the UI does once it has shown it
    assert _leftovers(path) == [] and stat.S_IMODE(kept[0].stat().st_mode) == 0o600


def test_a_hand_edit_with_no_name_free_beside_the_config_is_said_where_it_stays(tmp_path, monkeypatch):
    """Every conflict name of these seconds taken (by another user, in a sticky directory): the save,
    done, said it could not write the file, and the hand edit stayed in its private directory unnamed."""
    import time

    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    then = time.gmtime()
    monkeypatch.setattr(time, "gmtime", lambda *_: then)    # the save's second
    stamp = time.strftime("%Y%m%dT%H%M%SZ", then)
    for n in range(1, 1000):
        (tmp_path / f"rabtui.toml.conflict-{stamp}{f'-{n}' if n > 1 else ''}").touch()
    _editor_saves_at_the_last_look(monkeypatch, path, "by rename")
    with pytest.raises(config_edit.ConflictKept) as said:
        _edit(path, host="h2")
    monkeypatch.undo()
    assert said.value.kept.read_text() == BY_HAND and str(said.value.kept) in str(said.value)
    assert 'host = "h2"' in path.read_text()


def test_a_save_with_no_edit_meanwhile_leaves_no_conflict_file(tmp_path):
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    _edit(path, host="h2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rabtui.toml"]


def test_a_symlink_put_in_place_of_the_config_as_it_is_saved_is_kept_aside_not_followed(tmp_path, monkeypatch):
    """Whoever may replace the config (its owner, in a sticky directory open to all) makes it a
    symlink to another file in the instant before the save's exchange: the symlink is what is kept
    aside, never a hard link to the file it points at, whose mode stays as it was."""
    path, victim = tmp_path / "rabtui.toml", tmp_path / "shadow"
    _write(path, HEAD + WEB1 + DB1)
    victim.write_text("secret\n")
    os.chmod(victim, 0o640)
    real_read, looks = Path.read_bytes, []

    def read_bytes(self):
        data = real_read(self)
        if self == path:
            looks.append(1)
            if len(looks) == 2:     # the save's last look: the file is swapped for a symlink right after it
                os.symlink(victim, tmp_path / ".planted")
                os.rename(tmp_path / ".planted", path)
        return data

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(config_edit.ConflictKept) as said:
        _edit(path, host="h2")
    monkeypatch.undo()
    assert victim.stat().st_nlink == 1 and stat.S_IMODE(victim.stat().st_mode) == 0o640
    assert said.value.kept.is_symlink() and os.readlink(said.value.kept) == str(victim)
    assert 'host = "h2"' in path.read_text() and not path.is_symlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may edit another user's config")
def test_a_config_of_another_user_in_a_sticky_directory_is_not_saved_by_root(tmp_path):
    """In a directory open to all but sticky (as /tmp), the config's owner may rename their file
    away and put a symlink to any file of root's in its place between the save's look and its
    rename, and root would write there: nothing is saved, and the message says why."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    path = shared / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    os.chown(path, 1234, 1234)
    with pytest.raises(UsageError, match=r"belongs to uid 1234 in .*sticky.*nothing was saved"):
        _edit(path, host="h2")
    assert path.read_text() == HEAD + WEB1 + DB1 and _leftovers(path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_a_save_by_a_user_not_in_the_files_group_is_refused_and_leaves_it_as_it_was(open_base):
    """nobody's config, group root (nobody is not in it), readable by that group and by a named user
    and group of its ACL: a new file of nobody's could not be given that group, and was put in place
    with nobody's own group, 0600 and no ACL, without a word (who could read it changed)."""
    from tests.other_user import NOBODY, nobody_returns

    folder = open_base / "theirs"
    folder.mkdir()
    os.chown(folder, NOBODY.pw_uid, NOBODY.pw_gid)
    path = folder / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    os.chown(path, NOBODY.pw_uid, 0)
    os.chmod(path, 0o640)
    os.setxattr(path, "system.posix_acl_access", ACCESS_ACL)
    before, attrs = path.stat(), _attrs(path)

    def edit():
        with pytest.raises(UsageError, match=r"its group root \(gid 0\), which you \(uid \d+\) are not in, cannot"
                                             r" be kept.*nothing was saved") as refused:
            _edit(path, host="h2")
        return refused.value.hint

    hint = nobody_returns(edit, folder)
    assert "chgrp" in hint
    after = path.stat()
    assert (after.st_ino, after.st_uid, after.st_gid, after.st_mode) == \
        (before.st_ino, before.st_uid, before.st_gid, before.st_mode)
    assert _attrs(path) == attrs and path.read_text() == HEAD + WEB1 + DB1 and _leftovers(path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give the directory a group of another user")
def test_a_save_in_a_setgid_directory_keeps_the_files_own_group(tmp_path):
    """A directory whose group its new files take (setgid, as shared ones are): the new file came
    with that group where the file was the saving user's own group, readable by that group."""
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chown(folder, 0, 65534)     # nogroup
    os.chmod(folder, 0o2755)
    path = folder / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    os.chown(path, 0, 0)
    os.chmod(path, 0o640)
    _edit(path, host="h2")
    assert 'host = "h2"' in path.read_text()
    assert (path.stat().st_gid, stat.S_IMODE(path.stat().st_mode)) == (0, 0o640)
