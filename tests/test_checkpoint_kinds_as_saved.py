"""A symlink, FIFO or device node a backup saved that its medium no longer holds (rsync -r, as an
operator copying a medium runs it, leaves them out without a word; a hand removed one) or holds as
another kind of entry (a file or a directory put in its place). Of a standard directory: the plan
refuses, naming it, as it names such a file, and records nothing; a restore from the medium names
it and exits 3 (alone: exit 1, or not in the backup); the next backup copies it anew and the discs
hold it. Of an archive directory: the union holding another kind of entry there refuses the plan;
the union lacking it, the discs read it from the backup that saved it, as a restore from the medium
does (and, that backup lacking it too, leave it off, said, and a restore names it: exit 3). Real
rsync and xorriso (`images:`)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess

import pytest

from rabtui.checkpoint import prepare
from rabtui.cli import main
from rabtui.errors import WorkFailed
from rabtui.media import medium_layout
from tests.trees import Lab, burn_due, next_second, write_files

ENTRIES = {"link": "symlink", "fifo": "FIFO", "dev": "device node"}


def _backed_up(tmp_path, kind: str):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", kind)])
    data = lab.src / "data"
    write_files(data, {"a.txt": b"a", "sub/b.txt": b"b"})
    os.symlink("a.txt", data / "sub" / "link")
    os.mkfifo(data / "sub" / "fifo")
    if os.geteuid() == 0:
        os.mknod(data / "sub" / "dev", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    made = lab.backup(cfg)
    assert made.status == "completed", made.reason
    return lab, cfg, data, made


def _damaged(path, how: str) -> None:
    os.unlink(path)
    if how == "file":
        path.write_bytes(b"x")
    elif how == "dir":
        write_files(path, {"planted": b"p"})


def _refused(lab, cfg) -> str:
    store = lab.store()
    with pytest.raises(WorkFailed) as got:
        prepare.compute(cfg, store, asked={"*"})
    assert store.one("SELECT count(*) AS n FROM checkpoints")["n"] == 0
    return str(got.value)


def _on_disc(tmp_path, number: int, data, name: str) -> str:
    got = subprocess.run(["xorriso", "-indev", str(tmp_path / "iso" / f"RAB{number}D01.iso"), "-lsl",
                          f"/data/loc{data}/sub/{name}"], capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    return got.stdout


@pytest.mark.parametrize("entry, how, why", [
    ("link", "removed", "not on the medium any more (a symlink)"),
    ("fifo", "file", "another kind of entry is in the place of the FIFO"),
    ("dev", "dir", "not on the medium any more (a device node)"),
    ("link", "fifo", "another kind of entry is in the place of the symlink")])
def test_a_standard_directorys_entry_gone_or_replaced_is_named(tmp_path, entry, how, why, capsys):
    if entry == "dev" and os.geteuid() != 0:
        pytest.skip("mknod: root only")
    lab, cfg, data, made = _backed_up(tmp_path, "standard")
    at = made.path / "data" / str(data).lstrip("/") / "sub" / entry
    if how == "fifo":
        os.unlink(at)
        os.mkfifo(at)
    else:
        _damaged(at, how)
    said = _refused(lab, cfg)
    # a directory put in its place holds a file the backup did not save: named too
    assert f"{'are' if how == 'dir' else 'is'} not there as it saved {'them' if how == 'dir' else 'it'}," \
           f" e.g. {data}/sub/{entry}: {why}" in said, said
    capsys.readouterr()
    out = tmp_path / "restored"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)]) == 3
    printed = capsys.readouterr().out
    assert f"{str(data).lstrip('/')}/sub/{entry}: " in printed and "not restored" in printed, printed
    got = out / str(data).lstrip("/") / "sub" / entry
    assert how == "dir" or not os.path.lexists(got) or stat.S_ISDIR(os.lstat(got).st_mode)
    assert (out / str(data).lstrip("/") / "a.txt").read_bytes() == b"a"
    alone = tmp_path / "alone"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data / "sub" / entry), "--to",
                 str(alone)]) == 1
    assert not os.path.lexists(alone / str(data).lstrip("/") / "sub" / entry)
    if entry != "link" or how != "removed":
        return
    next_second()       # the next backup copies it anew: the discs hold it
    assert lab.backup(cfg).status == "completed"
    number = burn_due(cfg, lab.store(), {"*"}, verified=True)
    assert "-> 'a.txt'" in _on_disc(tmp_path, number, data, "link")


def test_an_archive_unions_entry_replaced_refuses_and_one_lost_is_read_from_its_backup(tmp_path):
    lab, cfg, data, made = _backed_up(tmp_path, "archive")
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(data)) / "sub"
    _damaged(union / "link", "file")
    said = _refused(lab, cfg)
    assert f"{data}/sub/link: another kind of entry is in the place of the symlink backup {made.path.name} saved" \
           in said, said
    os.unlink(union / "link")        # lost from the union: its backup holds it still
    os.unlink(union / "fifo")
    number = burn_due(cfg, lab.store(), {"*"}, verified=True)
    assert "-> 'a.txt'" in _on_disc(tmp_path, number, data, "link")
    assert _on_disc(tmp_path, number, data, "fifo").startswith("p")


def test_an_archive_entry_its_backup_lost_too_is_left_off_said(tmp_path, capsys):
    """Off the discs, said, as such a file is; a restore from the medium names it (exit 3)."""
    lab, cfg, data, made = _backed_up(tmp_path, "archive")
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(data)) / "sub"
    os.unlink(union / "link")
    os.unlink(made.path / "data" / str(data).lstrip("/") / "sub" / "link")
    said = []
    plan = prepare.compute(cfg, lab.store(), asked={"*"}, emit=lambda e: said.append(e.message))
    assert b"sub/link" not in plan.data[0].paths and b"sub/fifo" in plan.data[0].paths
    assert any("not put on discs, e.g. sub/link" in m for m in said), said
    capsys.readouterr()
    out = tmp_path / "restored"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)]) == 3
    printed = capsys.readouterr().out
    assert f"not restored (symlink): {str(data).lstrip('/')}/sub/link: not on medium m1 any more" in printed, printed
    assert (out / str(data).lstrip("/") / "sub" / "b.txt").read_bytes() == b"b"


def test_an_archive_entry_replaced_by_a_file_in_the_union_and_its_backup_is_not_restored_as_one(tmp_path, capsys):
    lab, cfg, data, made = _backed_up(tmp_path, "archive")
    for top in (medium_layout.archive_root(lab.media[0][1], "loc", str(data)), made.path / "data" / str(data).lstrip("/")):
        _damaged(top / "sub" / "fifo", "file")
    capsys.readouterr()
    out = tmp_path / "restored"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)]) == 3
    assert f"{str(data).lstrip('/')}/sub/fifo: not on medium m1 any more" in capsys.readouterr().out
    assert not os.path.lexists(out / str(data).lstrip("/") / "sub" / "fifo")
    alone = tmp_path / "alone"      # alone: refused
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data / "sub" / "fifo"), "--to",
                 str(alone)]) == 1
    assert "another kind of entry is there in the place of the FIFO" in capsys.readouterr().err
    assert not os.path.lexists(alone / str(data).lstrip("/") / "sub" / "fifo")


def test_a_socket_the_medium_lost_is_named_as_a_fifo_or_socket(tmp_path, capsys):
    """The catalog's letter S stands for both (rsync itemizes both so): one gone from the medium
    (tar, copying a medium, leaves sockets out) is named as either, not as the FIFO it may not be."""
    lab, cfg, data, _made = _backed_up(tmp_path, "standard")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(data / "sub" / "sock"))
        next_second()
        made = lab.backup(cfg)
    finally:
        sock.close()
    assert made.status == "completed", made.reason
    os.unlink(made.path / "data" / str(data).lstrip("/") / "sub" / "sock")
    said = _refused(lab, cfg)
    assert f"{data}/sub/sock: not on the medium any more (a FIFO or socket)" in said, said
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(tmp_path / "out")]) == 3
    printed = capsys.readouterr().out
    assert f"not restored (FIFO or socket): {str(data).lstrip('/')}/sub/sock: " in printed, printed
