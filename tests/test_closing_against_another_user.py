"""What a backup or a burn closes to other users (go-rwx: a medium's source directories, an `images:`
folder's images, made open by earlier versions) is rabtui's own, and closed where it was looked at:
never another user's directory beside them (a sticky medium lets anyone make one), nor a file of
this server that user swapped a symlink in for between the look and the chmod. The swap is made
from a hook on chmod, standing for a user who flips the name in a loop."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from rabtui.checkpoint import prepare, run
from rabtui.cli import main as cli_main
from rabtui.events import READY, ScriptedPrompter
from tests.other_user import NOBODY, as_nobody
from tests.trees import Lab, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _victim(base):
    victim = base / "passwd"                    # stands for /etc/passwd: everyone must read it
    victim.write_bytes(b"root:x:0:0::/root:/bin/sh\n")
    victim.chmod(0o644)
    return victim


def _swap_at_chmod(monkeypatch, name, victim) -> None:
    """When rabtui chmods what `name` is, the user who may rename it puts a symlink to `victim` there."""
    real_chmod = os.chmod

    def chmod(path, *args, **kw):
        if os.path.realpath(path) == str(name) and not os.path.islink(name):
            def swap():
                os.rename(name, f"{name}.moved")
                os.symlink(victim, name)
            as_nobody(swap)
        return real_chmod(path, *args, **kw)
    monkeypatch.setattr(os, "chmod", chmod)


def test_a_backup_leaves_another_users_directory_on_a_sticky_medium_alone(open_base, monkeypatch, capsys):
    lab = Lab(open_base, media_count=1)
    write_files(lab.src / "data", {"a": b"a"})
    cfg = lab.local()
    medium = lab.media[0][1]
    medium.chmod(0o1777)
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    theirs = medium / "theirs"
    as_nobody(lambda: os.makedirs(theirs / "backup-20200101000000", mode=0o755))
    victim = _victim(open_base)
    _swap_at_chmod(monkeypatch, theirs, victim)

    result = lab.backup(cfg, medium_id="m1")

    assert result.status == "completed", result.reason
    assert _mode(victim) == 0o644, "root chmod-ed the file a symlink of theirs pointed to"
    moved = medium / "theirs.moved"
    assert _mode(moved if moved.exists() else theirs) == 0o755, "root chmod-ed another user's directory"
    # nor does `check` take it for backups of rabtui's, with a chmod for root to run on it
    capsys.readouterr()
    cli_main(["--config", str(lab.config_path), "check"])
    out = capsys.readouterr().out
    assert "theirs" not in out, out


def test_an_old_image_swapped_for_a_symlink_as_it_is_closed_closes_no_file_of_the_server(open_base, monkeypatch):
    lab = Lab(open_base, media_count=1)
    write_files(lab.src / "data", {"a": b"a"})
    iso = open_base / "iso"
    iso.mkdir(mode=0o700)
    old = iso / "RAB0D01.iso"              # root's, 0644: an earlier version's, in a folder since given away
    old.write_bytes(b"an image written by an earlier version")
    old.chmod(0o644)
    os.chown(iso, NOBODY.pw_uid, NOBODY.pw_gid)
    cfg = lab.with_discs("4MiB")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    victim = _victim(open_base)
    _swap_at_chmod(monkeypatch, old, victim)

    result = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                 prompter=ScriptedPrompter(lambda q: READY))

    assert result.status != "completed"      # the folder is theirs: no image goes there
    assert _mode(victim) == 0o644, "root chmod-ed the file a symlink of theirs pointed to"


def test_an_image_name_hard_linked_to_a_file_of_the_server_closes_no_file_of_the_server(open_base):
    """In a sticky images folder, a user where the kernel lets them link any file (protected_hardlinks
    off; made here by root in their stead) names a hard link of one of root's RAB0D01.iso: root's
    own, open, it was closed as an earlier version's image."""
    lab = Lab(open_base, media_count=1)
    write_files(lab.src / "data", {"a": b"a"})
    iso = open_base / "iso"
    iso.mkdir()
    iso.chmod(0o1777)
    victim = _victim(open_base)
    os.link(victim, iso / "RAB0D01.iso")
    cfg = lab.with_discs("4MiB")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)

    result = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                 prompter=ScriptedPrompter(lambda q: READY))

    assert result.status == "completed", result
    assert _mode(victim) == 0o644, "root chmod-ed the file a hard link of theirs named"
    assert _mode(iso / "RAB1D01.iso") == 0o600
