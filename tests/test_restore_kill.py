"""A restore killed (SIGKILL) at each of its fault points, from a medium and from the discs: it
leaves no half-written file and no staging directory in the target, and the restore run again
(with --overwrite, as the refusal of the files it finds there says) gives back the whole tree.
The real `rabtui` process, real backups and real ISO discs."""

from __future__ import annotations

import os
import stat
from datetime import datetime

import pytest

from rabtui import faults
from rabtui.state import jobs
from tests.test_kill_anywhere import _killed, rabtui
from tests.trees import Lab, burn_due, snapshot, write_files

T0 = datetime(2026, 6, 1, 3, 0)


def _leftovers(root) -> list[str]:
    return [os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files if n.startswith(".rabtui")]


@pytest.mark.parametrize("point, disc", [(p, d) for p in faults.RESTORE_POINTS for d in (False, True)
                                         if d or p != "restore.extracted"])     # only discs are extracted
def test_a_killed_restore_leaves_nothing_half_done_and_runs_again_to_its_end(tmp_path, point, disc):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"big": 3_000_000, "sub/a": b"a", "sub/deeper/b": b"b"})
    (data / "sub").chmod(0o750)
    os.utime(data / "sub", (1_600_000_000, 1_600_000_000))
    assert lab.backup(cfg, now=T0).status == "completed"
    if disc:
        burn_due(cfg, lab.store())
    target = tmp_path / "out"
    args = ["restore", "loc", str(data), "--to", str(target)] + (["--checkpoint", "1"] if disc else [])
    _killed(rabtui(lab, *args, point=point))
    # what is left: the staging directory of the discs (removed by the next restore), no half file
    assert [n for n in _leftovers(target) if os.path.dirname(n) != str(target)] == []
    done = rabtui(lab, *args, "--overwrite")
    assert done.returncode == 0, done.stderr
    restored = target / str(data).lstrip("/")
    assert snapshot(restored) == snapshot(data) and _leftovers(target) == []
    st = os.stat(restored / "sub")
    assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (0o750, 1_600_000_000)
    store = lab.store()
    jobs.refresh_dead(store)
    assert store.one("SELECT COUNT(*) FROM jobs WHERE status='dead'")[0] == 1


def test_a_staging_directory_in_use_is_left_to_its_restore(tmp_path):
    from rabtui.restore import staging

    parent = os.fsencode(tmp_path)
    abandoned = os.path.join(parent, staging.PREFIX + b"killed")
    os.mkdir(abandoned)
    write_files(abandoned, {"x": b"left by a killed restore"})
    with staging.staging(parent) as running:
        write_files(running, {"y": b"in use"})
        staging.remove_abandoned(parent)          # another restore starting now
        assert os.listdir(parent) == [os.path.basename(running)]
        assert os.listdir(running) == [b"y"]
    assert os.listdir(parent) == []


def test_directories_a_killed_restore_made_are_named_by_the_rerun_without_overwrite(tmp_path):
    """Killed before its first file, a restore leaves directories without their modes: the restore
    run again without --overwrite keeps them as found (as any directory there already) and says
    which differ from the backup, with the way to set them."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"big": 1000, "sub/a": b"a"})
    (data / "sub").chmod(0o750)
    assert lab.backup(cfg, now=T0).status == "completed"
    args = ["restore", "loc", str(data), "--to", str(tmp_path / "out")]
    _killed(rabtui(lab, *args, point="restore.file_written"))
    sub = tmp_path / "out" / str(data / "sub").lstrip("/")
    assert stat.S_IMODE(os.stat(sub).st_mode) == 0o700      # made, its mode not set yet
    done = rabtui(lab, *args)
    assert done.returncode == 3, done.stderr
    assert f"not restored (directory): {str(data / 'sub').lstrip('/')}: there already with mode 0700," \
           " kept (the backup has 0750)" in done.stdout
    assert stat.S_IMODE(os.stat(sub).st_mode) == 0o700
    assert rabtui(lab, *args, "--overwrite").returncode == 0
    assert stat.S_IMODE(os.stat(sub).st_mode) == 0o750


def test_a_restore_starting_beside_one_that_just_made_its_staging_directory_leaves_it_be(tmp_path, monkeypatch):
    """A second `rabtui restore` into the same target, started just after the first made its
    staging directory and before the first locked it, took it for one a killed restore left and
    removed it: the first then failed with its extraction gone."""
    from rabtui.restore import run as restore_run
    from rabtui.restore import staging

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"f": b"on the disc", "sub/g": b"g"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store, {"*"})
    to = tmp_path / "out"
    to.mkdir(mode=0o700)
    others: list = []
    made = staging.tempfile.mkdtemp

    def made_then_another_restore(*args, **kwargs):
        name = made(*args, **kwargs)
        if not others:        # its remove_abandoned runs before it fails on the backup named
            others.append(rabtui(lab, "restore", "loc", str(lab.src / "data"), "--backup", "backup-20000101000000",
                                 "--to", str(to)))
        return name

    monkeypatch.setattr(staging.tempfile, "mkdtemp", made_then_another_restore)
    res = restore_run.restore(cfg, store, "loc", str(lab.src / "data"), checkpoint=number, to=to)
    assert others and others[0].returncode != 0 and "Traceback" not in others[0].stderr, others
    assert "staging directory" not in others[0].stdout + others[0].stderr, others[0]
    assert res.written.files == 2 and not res.written.errors, res.summary
    assert snapshot(to / str(lab.src / "data").lstrip("/")) == snapshot(lab.src / "data")
