"""The union of an archive directory backed up over two media in turn, as operators rotate them:
a file changed, its mode alone changed, removed and made again of its old size and time or of
another size, a sparse file, a hard-link group; the checkpoint plan reads either medium (the one
whose newest backup is the older too), before and after rebuild-state, and refuses neither. Real
rsync and xorriso (`images:`)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from rabtui.checkpoint import prepare
from rabtui.cli import main
from rabtui.errors import WorkFailed
from tests.trees import Lab, next_second

T0 = datetime(2026, 7, 1, 3, 0)


def _plan(lab, cfg, away):
    """The plan with medium `away` not at hand (its directory moved aside)."""
    path = lab.media[away][1]
    os.rename(path, str(path) + ".away")
    try:
        return prepare.compute(cfg, lab.store(), asked={"*"})
    except WorkFailed as exc:
        raise AssertionError(f"{exc} / {exc.hint}") from None
    finally:
        os.rename(str(path) + ".away", path)


def test_rotated_media_unions_are_never_refused(tmp_path):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("4MiB", [("data", "archive")])
    data = lab.src / "data"
    (data / "a.txt").write_bytes(b"a" * 10)
    os.utime(data / "a.txt", (1_577_836_800, 1_577_836_800))
    (data / "b.txt").write_bytes(b"b" * 5)
    with open(data / "s.sparse", "wb") as f:
        f.seek(1 << 20)
        f.write(b"end")
    (data / "l1").write_bytes(b"linked")
    os.link(data / "l1", data / "l2")
    steps = []

    def backup(medium, day):
        done = lab.backup(cfg, medium_id=medium, now=T0 + timedelta(days=day))
        assert done.status == "completed", done.reason
        steps.append(done.path.name)

    backup("m1", 0)
    backup("m2", 1)
    next_second()
    (data / "a.txt").write_bytes(b"A" * 20)
    os.chmod(data / "b.txt", 0o600)
    os.unlink(data / "l2")
    backup("m1", 2)
    os.unlink(data / "a.txt")
    next_second()
    backup("m2", 3)
    (data / "a.txt").write_bytes(b"x" * 10)          # made again: the first one's size and time
    os.utime(data / "a.txt", (1_577_836_800, 1_577_836_800))
    os.link(data / "l1", data / "l3")
    backup("m2", 4)
    _plan(lab, cfg, away=1)      # m1: its newest backup older than m2's
    _plan(lab, cfg, away=0)
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
    _plan(lab, cfg, away=1)
    _plan(lab, cfg, away=0)
    next_second()
    (data / "a.txt").write_bytes(b"y" * 33)
    backup("m1", 5)
    _plan(lab, cfg, away=1)
    _plan(lab, cfg, away=0)


def test_rotated_media_with_a_file_turned_directory_and_back_are_never_refused(tmp_path):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("4MiB", [("data", "archive")])
    data = lab.src / "data"
    (data / "x").write_bytes(b"file x")
    (data / "s").write_bytes(b"file s")
    day = iter(range(100))

    def backup(medium):
        done = lab.backup(cfg, medium_id=medium, now=T0 + timedelta(days=next(day)))
        assert done.status in ("completed", "warnings"), done.reason
        next_second()

    backup("m1")
    os.unlink(data / "x")
    os.mkdir(data / "x")
    (data / "x" / "in").write_bytes(b"in")
    os.unlink(data / "s")
    os.symlink("x/in", data / "s")
    backup("m2")
    backup("m1")
    _plan(lab, cfg, away=1)
    (data / "x" / "in").unlink()
    os.rmdir(data / "x")
    (data / "x").write_bytes(b"file x again")
    os.unlink(data / "s")
    (data / "s").write_bytes(b"file s")
    backup("m2")
    _plan(lab, cfg, away=1)
    _plan(lab, cfg, away=0)
    backup("m1")
    _plan(lab, cfg, away=1)
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
    _plan(lab, cfg, away=1)
    _plan(lab, cfg, away=0)
