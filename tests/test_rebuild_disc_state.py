"""A checkpoint rebuilt from its discs keeps what the state recorded of each entry when the discs
were written (its mode, owner, symlink target and hard links), read back from the copy of the
state database on the disc: the catalog on the disc does not hold them. Its discs are verified
against them, as those of a checkpoint never lost are. Real backups, real xorriso, `images:`."""

from __future__ import annotations

import os
import shutil
import stat
import threading

from rabtui.checkpoint import run
from rabtui.cli import main
from rabtui.events import READY, SKIP, ScriptedPrompter
from rabtui.state.store import Store
from tests.test_disc_verify_metadata import alter
from tests.trees import Lab, write_files


def _burnt(tmp_path, more=lambda data: None):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"f": b"a file", "sub/g": b"another", "linked": b"one inode, two names"})
    os.chmod(data / "f", 0o640)
    os.link(data / "linked", data / "sub/linked-too")
    os.symlink("f", data / "to-f")
    more(data)
    assert lab.backup(lab.load()).status == "completed"
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "checkpoint", "burn", "--yes", "--now"]) == 0
    return lab, cfg, argv, "/data/loc/" + str(data).lstrip("/")


def _rebuilt(lab, argv) -> None:
    lab.lose_database()
    assert main([*argv, "rebuild-state"]) in (0, 3)


def test_a_rebuilt_checkpoint_keeps_the_modes_owners_and_links_it_recorded(tmp_path, capsys):
    lab, cfg, argv, _prefix = _burnt(tmp_path)
    store = Store(lab.state)
    before = {(r["disc_path"], r["mode"], r["link"], r["uid"], r["gid"], r["link_group"] is None)
              for r in store.all("SELECT * FROM disc_files")}
    store.close()
    _rebuilt(lab, argv)
    store = Store(lab.state)
    after = {(r["disc_path"], r["mode"], r["link"], r["uid"], r["gid"], r["link_group"] is None)
             for r in store.all("SELECT * FROM disc_files")}
    assert after == before
    capsys.readouterr()
    assert main([*argv, "checkpoint", "verify", "1", "--yes"]) == 3
    out = capsys.readouterr().out
    assert "not checked" in out and "symlink target and hard links" not in out, out


def _node_and_xattr(data) -> None:
    os.setxattr(data / "f", "user.x", b"summed")
    if os.geteuid() == 0:
        os.mknod(data / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))


def test_a_rebuilt_checkpoint_keeps_the_device_numbers_and_xattr_sums_it_recorded(tmp_path):
    """Compared before a disc is written again (burn.py) and at its verification as root."""
    lab, cfg, argv, _prefix = _burnt(tmp_path, _node_and_xattr)
    store = Store(lab.state)
    before = {(r["disc_path"], r["rdev"], r["xattr_sum"]) for r in store.all("SELECT * FROM disc_files")}
    store.close()
    assert any(s for _p, _r, s in before) and (os.geteuid() != 0 or any(r for _p, r, _s in before)), before
    _rebuilt(lab, argv)
    store = Store(lab.state)
    after = {(r["disc_path"], r["rdev"], r["xattr_sum"]) for r in store.all("SELECT * FROM disc_files")}
    assert after == before


def test_a_disc_whose_modes_changed_fails_when_rebuilt_from(tmp_path, capsys):
    """The image altered before the state is rebuilt from it: rebuild-state's verification of it
    finds the mode it recorded is not the disc's, and so does `checkpoint verify`. The disc is no
    good copy: the checkpoint comes back unfinished (as a burn stopped at a failed disc leaves
    it), its directory as due as before, said with what to do; not complete with a failed disc."""
    lab, cfg, argv, prefix = _burnt(tmp_path)
    image = tmp_path / "iso" / "RAB1D01.iso"
    shutil.copy2(image, tmp_path / "good.iso")
    alter(image, "-chmod", "0666", f"{prefix}/f", "--")
    os.chmod(image, 0o600)
    capsys.readouterr()
    _rebuilt(lab, argv)
    said = capsys.readouterr().out
    assert ("checkpoint 1: disc RAB1D01 failed its verification, no good copy" in said
            and "the checkpoint as unfinished" in said and "rabtui checkpoint abandon 1" in said), said
    store = Store(lab.state)
    disc = store.one("SELECT state, message FROM discs WHERE number=1 AND disc=1")
    assert disc["state"] == "failed" and "/f (mode 0666, backed up 0640)" in disc["message"], dict(disc)
    assert store.one("SELECT status FROM checkpoints WHERE number=1")["status"] == "aborted"
    assert store.one("SELECT last_checkpoint FROM dir_state")["last_checkpoint"] is None
    assert main([*argv, "check"]) == 1
    checked = capsys.readouterr().out
    assert "critical" not in checked.lower() and "checkpoint 1 is unfinished" in checked, checked
    assert "RAB1D01 failed" in checked and "checkpoint abandon 1" in checked, checked
    prompter = ScriptedPrompter([READY, SKIP])
    out = run.verify_checkpoint(cfg, store, 1, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=prompter)
    assert out.verified == [] and "/f (mode 0666, backed up 0640)" in prompter.asked[1].text
    # a good image put back in its place: verified, the checkpoint is complete
    os.replace(tmp_path / "good.iso", image)
    out = run.verify_checkpoint(cfg, store, 1, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter([READY]))
    assert out.verified == [1] and store.one("SELECT status FROM checkpoints WHERE number=1")["status"] == "completed"
    assert store.one("SELECT last_checkpoint FROM dir_state")["last_checkpoint"] == 1


def test_a_state_copy_made_before_device_numbers_and_xattr_sums_were_kept_gives_none(tmp_path):
    """A disc written by an earlier version holds a copy whose disc_files lacks these columns: its
    entries are read without them (nothing compared), not refused."""
    import sqlite3

    from rabtui.rebuild import disc_state

    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "rabtui.db")
    conn.execute("INSERT INTO disc_files(number, disc, source, path, disc_path, size, mtime, sha256, mode, uid, gid,"
                 " rdev, xattr_sum, trusted_sum) VALUES (1, 1, 'loc', x'66', x'612f66', 3, 5, 'ab', 8576, 0, 0, 259,"
                 " x'00', x'01')")
    assert disc_state.of(disc_state._files(conn, 1), 1, b"a/f", 3, 5, "ab")[5:] == (259, b"\x00", b"\x01")
    conn.execute("ALTER TABLE disc_files DROP COLUMN trusted_sum")
    assert disc_state.of(disc_state._files(conn, 1), 1, b"a/f", 3, 5, "ab")[5:] == (259, b"\x00", None)
    for column in ("rdev", "xattr_sum"):
        conn.execute(f"ALTER TABLE disc_files DROP COLUMN {column}")
    assert disc_state.of(disc_state._files(conn, 1), 1, b"a/f", 3, 5, "ab") == \
        (8576, None, None, 0, 0, None, None, None)
