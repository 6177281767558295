"""A symlink a backup saved that its medium holds pointing elsewhere now (retargeted there: root's
doing, another server writing into the medium), or a device node of other numbers: the catalog's
`others` keeps what each pointed to as the backup's transfer left it (readlink, st_rdev), the plan
of a standard directory refuses it, naming it, and a restore from the medium names it and leaves
it out (exit 3; alone: exit 1). No refusal where the source retargeted it between backups (each
backup its own entry), nor for targets not UTF-8 or of 4,000 bytes, nor after rebuild-state, nor
after a run killed and recovered; a restore onto an SSH source leaves it out too. Real rsync, sshd
and xorriso (`images:`)."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from rabtui.checkpoint import prepare
from rabtui.cli import main
from rabtui.media import medium_layout
from tests.test_checkpoint_kinds_as_saved import _refused
from tests.trees import Lab, next_second, ssh_source_lines, write_files

LONG = b"/".join([b"abcdefgh"] * 444)      # 3,995 bytes: restored, though no disc holds it
ON_DISCS = b"/".join([b"abcdefgh"] * 113)  # 1,016 bytes
ODD = b"caf\xe9-\xff"                     # not UTF-8


def _backed_up(tmp_path, kind: str = "standard"):
    """A directory's first backup: symlinks (one not UTF-8, one of 1,016 bytes) and, of a standard
    one, a device node."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", kind)])
    data = lab.src / "data"
    write_files(data, {"a.txt": b"a", "sub/b.txt": b"b"})
    os.symlink("../a.txt", data / "sub" / "link")
    os.symlink("b.txt", data / "sub" / "same")
    if kind == "standard":
        os.symlink(ON_DISCS, os.fsencode(data / "sub" / "long"))
        os.symlink(ODD, os.fsencode(data / "sub" / "odd"))
        os.mknod(data / "sub" / "dev", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    made = lab.backup(cfg)
    assert made.status == "completed", made.reason
    return lab, cfg, data, made


def _retarget(path, target) -> None:
    os.unlink(path)
    os.symlink(target, path)


def _recorded(lab, name: bytes) -> list[tuple]:
    rows = lab.store().conn.execute("SELECT path, target, rdev, first_backup, last_backup FROM others"
                                    " ORDER BY first_backup").fetchall()
    return [tuple(r)[1:] for r in rows if bytes(r[0]).endswith(b"/sub/" + name)]


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod: root only")
@pytest.mark.parametrize("entry, saved, now", [
    ("link", "-> ../a.txt", "-> /etc/shadow"),
    ("dev", "-> device 1,3", "-> device 1,5")])
def test_an_entry_pointing_elsewhere_on_the_medium_is_refused_and_not_restored(tmp_path, entry, saved, now, capsys):
    lab, cfg, data, made = _backed_up(tmp_path)
    assert _recorded(lab, b"link")[0][:2] == (b"../a.txt", None)
    assert _recorded(lab, b"dev")[0][:2] == (None, os.makedev(1, 3))
    at = made.path / "data" / str(data).lstrip("/") / "sub" / entry
    if entry == "link":
        _retarget(at, "/etc/shadow")
    else:
        os.unlink(at)
        os.mknod(at, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    said = _refused(lab, cfg)
    assert f"{data}/sub/{entry}: points elsewhere than the backup saved: {now}, saved {saved}" in said, said
    capsys.readouterr()
    out = tmp_path / "restored"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)]) == 3
    printed = capsys.readouterr().out
    assert f"{str(data).lstrip('/')}/sub/{entry}: points elsewhere than the backup saved" in printed, printed
    assert not os.path.lexists(out / str(data).lstrip("/") / "sub" / entry)
    assert (out / str(data).lstrip("/") / "sub" / "b.txt").read_bytes() == b"b"
    assert os.readlink(os.fsencode(out / str(data).lstrip("/") / "sub" / "odd")) == ODD
    alone = tmp_path / "alone"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data / "sub" / entry), "--to",
                 str(alone)]) == 1
    assert "points elsewhere than the backup saved" in capsys.readouterr().err
    assert not os.path.lexists(alone / str(data).lstrip("/") / "sub" / entry)


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod: root only")
def test_entries_retargeted_on_the_source_between_backups_are_each_backups_own(tmp_path, capsys):
    lab, cfg, data, first = _backed_up(tmp_path)
    assert _recorded(lab, b"long")[0][0] == ON_DISCS and _recorded(lab, b"odd")[0][0] == ODD
    _retarget(data / "sub" / "link", "b.txt")       # the same second: rsync tells it by its target
    os.unlink(data / "sub" / "dev")
    os.mknod(data / "sub" / "dev", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    second = lab.backup(cfg)
    assert second.status == "completed", second.reason
    assert [r[0] for r in _recorded(lab, b"link")] == [b"../a.txt", b"b.txt"]
    assert [r[1] for r in _recorded(lab, b"dev")] == [os.makedev(1, 3), os.makedev(1, 5)]
    assert _recorded(lab, b"odd")[0][2:] == (first.backup_id, second.backup_id)    # unchanged: the first's entry extended
    prepare.compute(cfg, lab.store(), asked={"*"})
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0, capsys.readouterr().out
    assert [r[0] for r in _recorded(lab, b"link")] == [b"../a.txt", b"b.txt"]
    next_second()
    _retarget(data / "sub" / "link", "../a.txt")
    third = lab.backup(cfg)
    assert third.status == "completed", third.reason
    prepare.compute(cfg, lab.store(), asked={"*"})
    capsys.readouterr()
    for made, target in ((first, "../a.txt"), (second, "b.txt"), (third, "../a.txt")):
        out = tmp_path / f"out-{made.backup_id}"
        assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--backup", made.path.name,
                     "--to", str(out)]) == 0, capsys.readouterr()
        assert os.readlink(out / str(data).lstrip("/") / "sub" / "link") == target
    os.symlink(LONG, os.fsencode(data / "sub" / "long4k"))
    assert lab.backup(cfg).status == "completed"
    assert _recorded(lab, b"long4k")[0][0] == LONG
    for what in (data, data / "sub" / "long4k"):
        out = tmp_path / f"out-{what.name}"
        assert main(["--config", str(lab.config_path), "restore", "loc", str(what), "--to", str(out)]) == 0
        assert os.readlink(os.fsencode(out / str(data).lstrip("/") / "sub" / "long4k")) == LONG


def test_an_archive_unions_symlink_retargeted_refuses_but_not_one_the_source_retargeted(tmp_path):
    lab, cfg, data, _first = _backed_up(tmp_path, "archive")
    _retarget(data / "sub" / "link", "b.txt")
    second = lab.backup(cfg)
    assert second.status == "completed", second.reason
    assert [r[0] for r in _recorded(lab, b"link")] == [b"../a.txt", b"b.txt"]
    prepare.compute(cfg, lab.store(), asked={"*"})      # the union holds the newest
    _retarget(medium_layout.archive_root(lab.media[0][1], "loc", str(data)) / "sub" / "link", "/etc/shadow")
    said = _refused(lab, cfg)
    assert f"{data}/sub/link: points elsewhere than backup {second.path.name} saved: -> /etc/shadow, saved -> b.txt" \
        in said, said


def test_a_symlink_the_union_lost_read_from_its_backup_pointing_elsewhere_refuses(tmp_path):
    lab, cfg, data, made = _backed_up(tmp_path, "archive")
    os.unlink(medium_layout.archive_root(lab.media[0][1], "loc", str(data)) / "sub" / "link")
    prepare.compute(cfg, lab.store(), asked={"*"})      # read from the backup that saved it
    _retarget(made.path / "data" / str(data).lstrip("/") / "sub" / "link", "/etc/shadow")
    said = _refused(lab, cfg)
    assert f"{data}/sub/link: points elsewhere than backup {made.path.name} saved: -> /etc/shadow, saved -> ../a.txt" \
        in said, said


def test_kept_datas_symlink_pointing_elsewhere_refuses(tmp_path, sshd):
    from tests.test_kept_entries import _kept

    lab, photos, _as_kept = _kept(tmp_path, sshd)
    cfg = lab.load()
    prepare.compute(cfg, lab.store(), asked={"*"})
    kept = lab.store().one("SELECT name, path FROM backups WHERE status='kept'")
    _retarget(os.path.join(kept["path"], "data", str(photos).lstrip("/"), "link"), "/etc/shadow")
    said = _refused(lab, cfg)
    assert f"{photos}/link: points elsewhere than backup {kept['name']} saved: -> /etc/shadow, saved -> first.jpg" \
        in said, said


def test_an_archive_restore_leaves_out_the_unions_symlink_retargeted(tmp_path, capsys):
    lab, cfg, data, first = _backed_up(tmp_path, "archive")
    _retarget(data / "sub" / "link", "b.txt")
    second = lab.backup(cfg)
    assert second.status == "completed", second.reason
    run = ["--config", str(lab.config_path), "restore", "loc"]
    assert main([*run, str(data), "--to", str(tmp_path / "before")]) == 0
    assert os.readlink(tmp_path / "before" / str(data).lstrip("/") / "sub" / "link") == "b.txt"
    assert main([*run, str(data), "--backup", first.path.name, "--to", str(tmp_path / "first")]) == 0
    assert os.readlink(tmp_path / "first" / str(data).lstrip("/") / "sub" / "link") == "../a.txt"
    for tree in (medium_layout.archive_root(lab.media[0][1], "loc", str(data)), second.path / "data" / str(data).lstrip("/")):
        _retarget(tree / "sub" / "link", "/etc/shadow")
    capsys.readouterr()
    out = tmp_path / "restored"
    assert main([*run, str(data), "--to", str(out)]) == 3
    printed = capsys.readouterr().out
    assert (f"(symlink): {str(data).lstrip('/')}/sub/link: points elsewhere than backup {second.path.name} saved:"
            " -> /etc/shadow, saved -> b.txt" in printed), printed
    assert not os.path.lexists(out / str(data).lstrip("/") / "sub" / "link")
    assert os.readlink(out / str(data).lstrip("/") / "sub" / "same") == "b.txt"
    assert main([*run, str(data / "sub" / "link"), "--to", str(tmp_path / "alone")]) == 1
    assert "points elsewhere than the backup saved: -> /etc/shadow, saved -> b.txt" in capsys.readouterr().err
    assert not os.path.lexists(tmp_path / "alone" / str(data).lstrip("/") / "sub" / "link")


def test_entries_recorded_before_targets_were_kept_are_not_compared(tmp_path):
    """A database of an older version: the columns are added as it is opened, NULL in its rows."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"a.txt": b"a"})
    os.symlink("a.txt", data / "link")
    made = lab.backup(cfg)
    assert made.status == "completed", made.reason
    conn = sqlite3.connect(lab.store().path)
    conn.executescript("ALTER TABLE others DROP COLUMN target; ALTER TABLE others DROP COLUMN rdev;")
    conn.close()
    _retarget(made.path / "data" / str(data).lstrip("/") / "link", "/etc/hostname")
    prepare.compute(cfg, lab.store(), asked={"*"})
    assert lab.store().one("SELECT target FROM others")["target"] is None


@pytest.mark.parametrize("point", ["backup.step6", "backup.catalog"])
@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_a_run_killed_and_recovered_records_its_targets(tmp_path, kind, point, capsys):
    """Killed with its transfer whole (kept: read on the medium, catalog_walk) or once its catalog
    rows were written (undone, then saved anew): each row knows its target, and neither the plan
    nor a restore of any backup takes one the source retargeted for one retargeted on the medium."""
    from tests.test_kill_anywhere import _killed, rabtui

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", kind)])
    data = lab.src / "data"
    write_files(data, {"a.txt": b"a", "b.txt": b"bb"})
    os.symlink("a.txt", data / "link")
    assert rabtui(lab, "backup", "loc").returncode == 0
    _retarget(data / "link", "b.txt")
    os.symlink("b.txt", data / "new")
    _killed(rabtui(lab, "backup", "loc", point=point))
    next_second()
    write_files(data, {"c.txt": b"c"})
    done = rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert None not in [r[0] for r in lab.store().conn.execute("SELECT target FROM others")]
    prepare.compute(cfg, lab.store(), asked={"*"})
    capsys.readouterr()
    for made in lab.store().all("SELECT path FROM backups WHERE status IN ('completed', 'kept')"):
        out = tmp_path / os.path.basename(made["path"])
        assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--backup",
                     os.path.basename(made["path"]), "--to", str(out)]) == 0, capsys.readouterr()


@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_a_restore_onto_an_ssh_source_leaves_out_one_retargeted_on_the_medium(tmp_path, sshd, kind, capsys):
    """The source retargeted it between backups: each backup's own comes back, alone too; once
    pointed elsewhere on the medium (of an archive: the union's and the backup's own), it is named
    and left out, the source's kept."""
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    data.mkdir()
    lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{data}"\nkind = "{kind}"\n')
    lab.trust(sshd)
    write_files(data, {"sub/a.txt": b"a", "sub/b.txt": b"bb"})
    os.symlink("a.txt", data / "sub" / "link")
    first = lab.backup(lab.load(), "web")
    _retarget(data / "sub" / "link", "b.txt")
    second = lab.backup(lab.load(), "web")
    assert second.status == "completed", second.reason
    run = ["--config", str(lab.config_path), "restore", "web"]
    _retarget(data / "sub" / "link", "zzz")
    assert main([*run, str(data), "--to-source", "--overwrite"]) == 0, capsys.readouterr()
    assert os.readlink(data / "sub" / "link") == "b.txt"
    os.unlink(data / "sub" / "link")
    assert main([*run, str(data / "sub" / "link"), "--backup", first.path.name, "--to-source"]) == 0
    assert os.readlink(data / "sub" / "link") == "a.txt"
    own = second.path / "data" / str(data).lstrip("/")
    trees = [own] + ([medium_layout.archive_root(lab.media[0][1], "web", str(data))] if kind == "archive" else [])
    for tree in trees:
        _retarget(tree / "sub" / "link", "/etc/shadow")
    capsys.readouterr()
    assert main([*run, str(data), "--to-source", "--overwrite"]) == 3
    assert "sub/link: points elsewhere than" in capsys.readouterr().out
    assert os.readlink(data / "sub" / "link") == "a.txt"
    os.unlink(data / "sub" / "link")
    assert main([*run, str(data / "sub" / "link"), "--to-source"]) == 1
    assert "points elsewhere than" in capsys.readouterr().err
    assert not os.path.lexists(data / "sub" / "link")
