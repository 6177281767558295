"""A checkpoint of an archive directory whose union on the medium no longer holds a file as the
complete backup that saved it left it (emptied by a crash or written into in place: the backup's
own tree shares its inode; a symlink to /etc/passwd or a FIFO put in its place): the discs took
what was there, were verified against it and counted as a copy of the archive. The plan refuses,
naming the file and the backup that saved it, and records nothing; the next backup copies the file
anew from the source, and its checkpoint holds it as the source has it. A restore from the medium
names the file and leaves it out (exit 3; alone, exit 1): the union's is not the one saved, nor is
the saving backup's copy where they share an inode; where the saving backup still holds it (a
symlink, FIFO or directory put in the union's place) it is restored from there. Real rsync and xorriso (`images:`)."""

from __future__ import annotations

import os
import subprocess

import pytest

from rabtui.checkpoint import prepare
from rabtui.cli import main
from rabtui.errors import WorkFailed
from tests.trees import Lab, burn_due, next_second, write_files

CONTENT = b"GOOD-CONTENT " * 4000


def _cut(p):
    os.truncate(p, 10)


def _rewritten(p):
    """Written into in place, its size kept (its time is now)."""
    with open(p, "r+b") as f:
        f.write(b"BAD")


def _file_linked(p):
    os.unlink(p)
    os.symlink("/etc/passwd", p)


def _fifo(p):
    os.unlink(p)
    os.mkfifo(p)


def _dir(p):
    os.unlink(p)
    os.mkdir(p)


def _backed_up(tmp_path):
    """`sub/a.txt` saved by the first backup, `b.txt` added by the second: the union's a.txt is
    the first's."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "archive")])
    data = lab.src / "data"
    write_files(data, {"sub/a.txt": CONTENT, "c.txt": b"c"})
    os.utime(data / "sub" / "a.txt", (1_577_836_800, 1_577_836_800))     # 2020-01-01
    first = lab.backup(cfg)
    assert first.status == "completed", first.reason
    next_second()
    write_files(data, {"b.txt": b"b"})
    second = lab.backup(cfg)
    assert second.status == "completed", second.reason
    union = lab.media[0][1] / "loc" / ".archive" / str(data).lstrip("/")
    return lab, cfg, data, first, second, union


@pytest.mark.parametrize("damage, why, shared", [
    (_cut, "10 bytes, where backup {} saved 52000", True),
    (_rewritten, "where backup {} saved it as of 2020-01-01 00:00:00 UTC (written into, or another file put in its"
                 " place, since)", True),
    (_file_linked, "another kind of entry is in the place of the file backup {} saved", False),
    (_fifo, "another kind of entry is in the place of the file backup {} saved", False),
    (_dir, "a directory is in the place of the file backup {} saved", False)],
    ids=["cut", "rewritten", "symlink", "fifo", "dir"])
def test_a_union_file_not_as_saved_refuses_the_checkpoint_by_name(tmp_path, damage, why, shared, capsys):
    lab, cfg, data, first, second, union = _backed_up(tmp_path)
    damage(union / "sub" / "a.txt")
    store = lab.store()
    with pytest.raises(WorkFailed) as got:
        prepare.compute(cfg, store, asked={"*"})
    said = str(got.value)
    assert f"loc:{data}: 1 file of backup {second.path.name} on medium m1 is not there as it saved it, e.g." \
           f" {data}/sub/a.txt: " in said and why.format(first.path.name) in said, said
    assert "next backup" in got.value.hint
    assert store.one("SELECT count(*) AS n FROM checkpoints")["n"] == 0
    # a restore from the medium never hands back what the union holds there now
    out = tmp_path / "restored"
    capsys.readouterr()
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)])
    a = out / str(data).lstrip("/") / "sub" / "a.txt"
    if shared:      # the first backup's own a.txt is the union's inode: no copy of it is left on the medium
        assert code == 3 and not os.path.lexists(a), code
        assert f"not restored (file): {str(data).lstrip('/')}/sub/a.txt: " in capsys.readouterr().out
    else:           # read from the first backup, which still holds it
        assert code == 0 and not os.path.islink(a) and a.read_bytes() == CONTENT
    alone = tmp_path / "alone"
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data / "sub" / "a.txt"), "--to", str(alone)])
    a = alone / str(data).lstrip("/") / "sub" / "a.txt"
    if shared:
        assert code == 1 and not os.path.lexists(a), code
    else:
        assert code == 0 and not os.path.islink(a) and a.read_bytes() == CONTENT
    next_second()
    # the directory put in the union is said replaced by the source's file
    assert lab.backup(cfg).status == ("warnings" if damage is _dir else "completed")
    number = burn_due(cfg, store, {"*"})
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    got = subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract",
                          f"/data/loc{data}/sub/a.txt", str(tmp_path / "a")], capture_output=True)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "a").read_bytes() == CONTENT


def test_an_undamaged_union_whose_file_a_later_backup_changed_goes_through(tmp_path):
    """The newest version of a file (saved by the last backup) and one kept as the union had it."""
    lab, cfg, data, _first, _second, _union = _backed_up(tmp_path)
    next_second()
    (data / "c.txt").write_bytes(b"c, longer now")
    assert lab.backup(cfg).status == "completed"
    plan = prepare.compute(cfg, lab.store(), asked={"*"})
    assert {b"sub/a.txt", b"b.txt", b"c.txt"} <= set(plan.data[0].paths)


def test_a_damaged_file_the_source_no_longer_has_is_left_off_once_taken_out_of_the_union(tmp_path):
    """The archive keeps a file the source removed: no backup copies it anew, so the hint says
    where its other copies are; taken out of the union by hand, the plan goes on without it (its
    saving backup's copy shares the cut inode), saying so."""
    lab, cfg, data, _first, _second, union = _backed_up(tmp_path)
    os.unlink(data / "sub" / "a.txt")
    next_second()
    assert lab.backup(cfg).status == "completed"
    _cut(union / "sub" / "a.txt")
    with pytest.raises(WorkFailed) as got:
        prepare.compute(cfg, lab.store(), asked={"*"})
    assert f"{data}/sub/a.txt: 10 bytes" in str(got.value)
    assert "`rabtui find NAME`" in got.value.hint and "taken out of the archive's union" in got.value.hint
    os.unlink(union / "sub" / "a.txt")
    said = []
    plan = prepare.compute(cfg, lab.store(), asked={"*"}, emit=lambda e: said.append(e.message))
    assert b"sub/a.txt" not in plan.data[0].paths and b"c.txt" in plan.data[0].paths
    assert any("not put on discs, e.g. sub/a.txt" in m for m in said), said


def test_a_directory_of_files_in_a_union_files_place_refuses_the_checkpoint_by_name(tmp_path):
    """A directory holding files put where the union's file was (by hand, or by a hostile user of
    the medium): the catalog knows none of its files, which would go onto the discs. Refused as an
    empty one is, naming the file whose place it took."""
    lab, cfg, data, first, second, union = _backed_up(tmp_path)
    _dir(union / "sub" / "a.txt")
    write_files(union / "sub" / "a.txt", {"planted": b"p", "deeper/more": b"m"})
    with pytest.raises(WorkFailed) as got:
        prepare.compute(cfg, lab.store(), asked={"*"})
    said = str(got.value)
    assert f"1 file of backup {second.path.name} on medium m1 is not there as it saved it, e.g. {data}/sub/a.txt:" \
           f" a directory is in the place of the file backup {first.path.name} saved" in said, said

