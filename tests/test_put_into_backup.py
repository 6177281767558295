"""An entry put into a standard directory's backup on the medium since it was made (by hand, by
another program): a file, a symlink, a directory holding a file. The backup never saved it: the
checkpoint plan refuses, naming it, as it refuses a file written into, and records nothing; a
restore of the directory from the medium leaves it out, named (exit 3), and one of it alone fails
(exit 1); the next backup holds none of it, and the discs of the checkpoint taken then neither.
What the backup saved (hard links, a symlink, a FIFO) is no reason to refuse. So of an entry put
into an archive directory's union, which no backup up to the one read saved (it keeps what the
source removed, no reason to refuse either): the plan refuses, saying to remove it from the union.
Real rsync and xorriso (`images:`)."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from rabtui.checkpoint import prepare
from rabtui.cli import main
from rabtui.errors import WorkFailed
from rabtui.media import medium_layout
from tests.trees import Lab, burn_due, next_second, ssh_source_lines, write_files

PLANTED = {"file": "sub/planted", "symlink": "sub/planted", "dir": "pdir/inner"}


def _plant(top, how: str) -> None:
    if how == "file":
        (top / "sub" / "planted").write_bytes(b"planted")
    elif how == "symlink":
        os.symlink("/etc/passwd", top / "sub" / "planted")
    else:
        write_files(top / "pdir", {"inner": b"inner"})


@pytest.mark.parametrize("how", ["file", "symlink", "dir"])
def test_an_entry_put_into_a_backup_is_refused_by_the_plan_and_left_out_of_a_restore(tmp_path, how, capsys):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"a.txt": b"a", "sub/b.txt": b"b"})
    os.link(data / "a.txt", data / "sub" / "a-again")
    os.symlink("a.txt", data / "link")
    os.mkfifo(data / "sub" / "fifo")
    made = lab.backup(cfg)
    assert made.status == "completed", made.reason
    prepare.compute(cfg, lab.store(), asked={"*"})      # what it saved: not refused
    _plant(made.path / "data" / str(data).lstrip("/"), how)
    with pytest.raises(WorkFailed) as got:
        prepare.compute(cfg, lab.store(), asked={"*"})
    assert f"e.g. {data}/{PLANTED[how]}: not saved by the backup: put there since" in str(got.value), got.value
    assert lab.store().one("SELECT count(*) AS n FROM checkpoints")["n"] == 0
    capsys.readouterr()
    out = tmp_path / "restored"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)]) == 3
    printed = capsys.readouterr().out
    assert f"{str(data).lstrip('/')}/{PLANTED[how]}: not saved by backup {made.path.name}" in printed, printed
    restored = out / str(data).lstrip("/")
    assert not os.path.lexists(restored / PLANTED[how])
    assert (restored / "sub" / "a-again").read_bytes() == b"a" and os.readlink(restored / "link") == "a.txt"
    alone = tmp_path / "alone"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data / PLANTED[how]), "--to", str(alone)]) == 1
    assert "not saved by backup" in capsys.readouterr().err
    assert not os.path.lexists(alone / str(data).lstrip("/") / PLANTED[how])
    if how != "file":
        return
    next_second()       # the next backup holds what the source has: its checkpoint's discs too
    assert lab.backup(cfg).status == "completed"
    number = burn_due(cfg, lab.store(), {"*"}, verified=True)
    listed = subprocess.run(["xorriso", "-indev", str(tmp_path / "iso" / f"RAB{number}D01.iso"), "-find",
                             f"/data/loc{data}"], capture_output=True, text=True).stdout
    assert f"/data/loc{data}/sub/b.txt" in listed and "planted" not in listed, listed


def test_an_entry_put_into_an_archives_union_is_refused_by_the_plan(tmp_path, capsys):
    """No backup takes it out of the union: the plan says to remove it there; a restore from the
    medium never gives it (exit 1 alone), as no backup's catalog holds it."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "archive")])
    data = lab.src / "data"
    write_files(data, {"a.txt": b"a", "sub/b.txt": b"b"})
    os.symlink("a.txt", data / "link")
    assert lab.backup(cfg).status == "completed"
    next_second()
    os.unlink(data / "sub" / "b.txt")       # the union keeps what the source removed
    assert lab.backup(cfg).status == "completed"
    prepare.compute(cfg, lab.store(), asked={"*"})
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(data))
    os.symlink("/etc/passwd", union / "sub" / "planted")
    with pytest.raises(WorkFailed) as got:
        prepare.compute(cfg, lab.store(), asked={"*"})
    assert f"e.g. {data}/sub/planted: not saved by any backup up to this one: put there since" in str(got.value)
    assert f"remove them there ({union})" in got.value.hint, got.value.hint
    capsys.readouterr()
    alone = tmp_path / "alone"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data / "sub" / "planted"), "--to",
                 str(alone)]) == 1
    assert not os.path.lexists(alone / str(data).lstrip("/") / "sub" / "planted")
    os.unlink(union / "sub" / "planted")
    number = burn_due(cfg, lab.store(), {"*"}, verified=True)
    listed = subprocess.run(["xorriso", "-indev", str(tmp_path / "iso" / f"RAB{number}D01.iso"), "-find",
                             f"/data/loc{data}"], capture_output=True, text=True).stdout
    assert f"/data/loc{data}/sub/b.txt" in listed and "planted" not in listed, listed


@pytest.mark.parametrize("planted", ["pdir/inner", "top-planted", "sub/deeper/planted"])
def test_an_entry_put_into_a_backup_is_left_out_of_a_restore_onto_an_ssh_source(tmp_path, sshd, planted, capsys):
    """rsync sends the backup's tree as it is when nothing in it differs from what the catalog
    says: an entry put there in a directory the backup saved no file in (a new one, or the top of
    a directory whose files are all deeper) is found too, and left out, named."""
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    data.mkdir()
    lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{data}"\nkind = "standard"\n')
    lab.trust(sshd)
    write_files(data, {"sub/b.txt": b"b"})
    (data / "sub" / "deeper").mkdir()
    made = lab.backup(lab.load(), "web")
    assert made.status == "completed", made.reason
    write_files(made.path / "data" / str(data).lstrip("/"), {planted: b"planted"})
    os.unlink(data / "sub" / "b.txt")
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "web", str(data), "--to-source", "--overwrite"]) == 3
    printed = capsys.readouterr().out
    assert f"{str(data).lstrip('/')}/{planted}: not saved by backup {made.path.name}" in printed, printed
    assert not os.path.lexists(data / planted)
    assert (data / "sub" / "b.txt").read_bytes() == b"b"


@pytest.mark.parametrize("planted", ["sub/planted", "pdir/inner", "sub/link"])
def test_an_entry_put_into_an_archives_union_is_left_out_of_a_restore_named(tmp_path, planted, capsys):
    """An entry of the union at a path no backup ever saved is told from one a newer backup saved
    (left out of a restore as of an older one, in silence): named, exit 3."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "archive")])
    data = lab.src / "data"
    write_files(data, {"a.txt": b"a", "sub/b.txt": b"b"})
    first = lab.backup(cfg)
    assert first.status == "completed", first.reason
    next_second()
    write_files(data, {"sub/newer": b"newer"})
    assert lab.backup(cfg).status == "completed"
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(data))
    if planted.endswith("link"):
        os.symlink("/etc/passwd", union / planted)
    else:
        write_files(union, {planted: b"planted"})
    capsys.readouterr()
    for backup, out in ((first.path.name, tmp_path / "first"), (None, tmp_path / "newest")):
        more = ["--backup", backup] if backup else []
        assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out), *more]) == 3
        printed = capsys.readouterr().out
        assert f"{str(data).lstrip('/')}/{planted}: not saved by any backup" in printed, printed
        assert "newer:" not in printed, printed
        restored = out / str(data).lstrip("/")
        assert not os.path.lexists(restored / planted)
        assert (restored / "sub" / "b.txt").read_bytes() == b"b"
        assert os.path.lexists(restored / "sub" / "newer") == (backup is None)


@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_symlinks_and_fifos_of_backups_recorded_before_others_were_are_no_entries_put_there(tmp_path, kind, capsys):
    """A database of a rabtui that recorded no symlinks nor special files in the catalog (its
    `others` table made empty when opened): what its backups saved of them is not taken for entries
    put there since; a file put there is, and a backup made since records them."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", kind)])
    data = lab.src / "data"
    write_files(data, {"a.txt": b"a", "sub/b.txt": b"b"})
    os.symlink("a.txt", data / "link")
    os.mkfifo(data / "sub" / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(data / "sock"))
    made = lab.backup(cfg)
    assert made.status == "completed", made.reason
    store = lab.store()
    store.execute("DROP TABLE others")
    store.close()
    prepare.compute(cfg, lab.store(), asked={"*"})
    capsys.readouterr()
    out = tmp_path / "restored"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)]) == 0, \
        capsys.readouterr()
    restored = out / str(data).lstrip("/")
    assert os.readlink(restored / "link") == "a.txt" and os.path.lexists(restored / "sub" / "fifo")
    planted = made.path / "data" / str(data).lstrip("/") if kind == "standard" else \
        medium_layout.archive_root(lab.media[0][1], "loc", str(data))
    write_files(planted, {"sub/planted": b"planted"})
    with pytest.raises(WorkFailed) as got:
        prepare.compute(cfg, lab.store(), asked={"*"})
    assert f"{data}/sub/planted: not saved by" in str(got.value), got.value
    os.unlink(planted / "sub" / "planted")
    if kind == "archive":
        return
    next_second()       # a backup made since records them: one put into its tree is told
    newer = lab.backup(cfg)
    assert newer.status == "completed", newer.reason
    prepare.compute(cfg, lab.store(), asked={"*"})
    os.symlink("a.txt", newer.path / "data" / str(data).lstrip("/") / "sub" / "link2")
    with pytest.raises(WorkFailed) as got:
        prepare.compute(cfg, lab.store(), asked={"*"})
    assert f"{data}/sub/link2: not saved by the backup: put there since" in str(got.value), got.value


def test_a_file_a_killed_run_linked_into_the_union_is_no_entry_put_there(tmp_path, capsys):
    """Killed after step 7 linked its new file into the union, before its catalog recorded it: until
    a recovery, a restore from the medium leaves that file out as a newer backup's (in silence), not
    named as put there; once recovered, one put there is named."""
    from tests.test_kill_anywhere import _killed, rabtui

    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "archive")])
    data = lab.src / "data"
    write_files(data, {"a.txt": b"a"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    next_second()
    write_files(data, {"sub/only-killed": b"k"})
    _killed(rabtui(lab, "backup", "loc", point="backup.archive_linked"))
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(data))
    assert (union / "sub" / "only-killed").exists()
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(tmp_path / "o1")]) == 0
    assert "only-killed" not in capsys.readouterr().out
    assert not os.path.lexists(tmp_path / "o1" / str(data).lstrip("/") / "sub" / "only-killed")
    assert rabtui(lab, "backup", "loc").returncode == 0, "recovers the killed run"
    write_files(union, {"sub/planted": b"p"})
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(tmp_path / "o2")]) == 3
    printed = capsys.readouterr().out
    assert "sub/planted: not saved by any backup" in printed and "only-killed:" not in printed, printed


def test_a_backup_of_the_directory_slash_is_read_by_the_catalogs_paths(tmp_path):
    """The directory / (a whole host's): its scan on the medium gives paths the catalog keeps as they
    are, relative to /, none with a leading slash (which took every file for gone and every entry
    for one put there). The scan of a real backup's tree of src/data, read as that of /."""
    from rabtui.checkpoint import content, not_as_saved

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"a.txt": b"a", "sub/b.txt": b"b"})
    os.symlink("a.txt", data / "link")
    made = lab.backup(cfg)
    assert made.status == "completed", made.reason
    store = lab.store()
    backup = store.one("SELECT * FROM backups")
    scanned = content.scan(made.path / "data")
    assert b"/".join([str(data).lstrip("/").encode(), b"sub/b.txt"]) in scanned.paths
    assert not_as_saved.found(store, backup, "/", [], scanned.paths, scanned.sizes, scanned.marks, None,
                              scanned.modes, scanned.skipped) == []
