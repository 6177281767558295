"""Targets a restore cannot write into (a file, a symlink to nothing, a read-only file system) and
one that fills up: the command line says so in a line, with its exit code, never a traceback, and
a restore run again once there is room finishes. Real backups, real ISO discs, real tmpfs mounts."""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import datetime

import pytest

from rabtui.cli import main
from tests.trees import Lab, burn_due, closed, made_once, snapshot, write_files

T0 = datetime(2026, 6, 1, 3, 0)


@pytest.fixture(scope="module")
def _lab_made(tmp_path_factory):
    def make(live):
        lab = Lab(live, media_count=1)
        cfg = lab.with_discs("4MiB")
        write_files(lab.src / "data", {f"d/f{i:02d}": os.urandom(100_000) for i in range(20)} | {"small": b"s"})
        assert lab.backup(cfg, now=T0).status == "completed"
        store = lab.store()
        burn_due(cfg, store)
        store.close()
        closed(lab)

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def lab(_lab_made):
    """A backup of loc (20 files of 100 kB and `small`) and checkpoint 1 of it on a disc, made once
    for the module: anew for each test, in lab.tmp."""
    _, made = _lab_made
    return Lab(made.anew(), media_count=1)


def _restore(lab, what: str, to, *more: str) -> int:
    return main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data" / what), "--to", str(to),
                 *more])


@pytest.mark.parametrize("disc", [False, True])
def test_a_target_that_is_a_file_or_a_symlink_to_nothing_is_refused_in_a_line(lab, tmp_path, capsys, disc):
    more = ("--checkpoint", "1") if disc else ()
    a_file = tmp_path / "a-file"
    a_file.write_bytes(b"keep")
    dangling = tmp_path / "dangling"
    os.symlink(tmp_path / "nowhere" / "x", dangling)
    for target, said in ((a_file, "is not a directory"), (dangling, "is a symlink to nothing")):
        assert _restore(lab, "small", target, *more) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and f"rabtui: --to {target} {said}" in err
    assert a_file.read_bytes() == b"keep" and not (tmp_path / "nowhere").exists()
    assert _restore(lab, "small", "", *more) == 2
    assert "rabtui: give the directory to restore into after --to" in capsys.readouterr().err


@pytest.mark.parametrize("disc", [False, True])
def test_a_read_only_target_is_said_in_a_line(tmp_path, lab, tmpfs, capsys, disc):
    target = tmpfs(tmp_path / "ro", "size=1m,ro")
    assert _restore(lab, "small", target, *(("--checkpoint", "1") if disc else ())) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"rabtui: cannot write in the target directory {target}: read-only file system" \
        in err


def test_a_target_named_with_control_characters_is_printed_escaped(lab, tmp_path, capsys):
    target = tmp_path / "out\x1b[31mred\nline"
    assert _restore(lab, "small", target) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "into " + str(tmp_path) + "/out\\033[31mred\\nline:" in out
    assert (target / str(lab.src / "data/small").lstrip("/")).read_bytes() == b"s"


def test_a_restore_from_discs_needs_room_for_what_it_restores_once(tmp_path, lab, tmpfs, capsys):
    """What comes off the disc is staged in the target's file system, and what is restored is taken
    from there as it is, not copied again: 2 MB restore onto a 3 MiB file system."""
    target = tmpfs(tmp_path / "room", "size=3m")
    assert _restore(lab, "d", target, "--checkpoint", "1") == 0, capsys.readouterr()
    restored = target / str(lab.src / "data/d").lstrip("/")
    assert snapshot(restored) == snapshot(lab.src / "data/d")
    assert {os.stat(restored / name).st_nlink for name in os.listdir(restored)} == {1}
    assert os.listdir(target) == ["tmp"]


def test_a_target_out_of_inodes_for_what_comes_off_the_disc_says_so(tmp_path, lab, tmpfs, capsys):
    """Room for the bytes, no inode left (what `df -h` does not show): said as that, not as a
    disc that may not be read whole."""
    target = tmpfs(tmp_path / "few", "size=4m,nr_inodes=8")
    assert _restore(lab, "d", target, "--checkpoint", "1") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{target} is full: no inode left (df -i)" in err and "verify" not in err, err
    assert os.listdir(target) == []


def _grow(path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True, capture_output=True)


def test_a_target_that_fills_up_says_what_it_restored_and_a_rerun_finishes(tmp_path, lab, tmpfs, capsys):
    target = tmpfs(tmp_path / "full", "size=1m")
    assert _restore(lab, "d", target) == 1
    got = capsys.readouterr()
    assert "Traceback" not in got.err
    assert "No space left on device" in got.out and "files, " in got.out
    assert "restore again with --overwrite to finish it" in got.err + got.out
    restored = target / str(lab.src / "data/d").lstrip("/")
    assert not [n for n in os.listdir(restored) if n.startswith(".rabtui")]   # no half file
    _grow(target, "4m")
    assert _restore(lab, "d", target, "--overwrite") == 0, capsys.readouterr()
    assert snapshot(restored) == snapshot(lab.src / "data/d")


def test_a_target_too_small_for_what_comes_off_the_disc_says_it_is_full(tmp_path, lab, tmpfs, capsys):
    target = tmpfs(tmp_path / "full", "size=1m")
    assert _restore(lab, "d", target, "--checkpoint", "1") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{target} is full" in err
    assert os.listdir(target) == []
    _grow(target, "4m")
    assert _restore(lab, "d", target, "--checkpoint", "1") == 0, capsys.readouterr()
    assert snapshot(target / str(lab.src / "data/d").lstrip("/")) == snapshot(lab.src / "data/d")


def test_a_file_made_in_the_target_while_the_restore_runs_is_not_replaced(lab, tmp_path, monkeypatch):
    """Someone writes a file in the target just after the restore looked there: without
    --overwrite it stays theirs, and it is named as kept."""
    from rabtui.restore import run as R
    from rabtui.restore import write

    looked = write.SafeWriter._existing

    def racing(self, fd, name):
        st = looked(self, fd, name)
        if name == b"f03" and st is None:
            with open(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=fd), "wb") as f:
                f.write(b"theirs")
        return st

    monkeypatch.setattr(write.SafeWriter, "_existing", racing)
    res = R.restore(lab.load(), lab.store(), "loc", str(lab.src / "data/d"), to=tmp_path / "out")
    restored = tmp_path / "out" / str(lab.src / "data/d").lstrip("/")
    assert (restored / "f03").read_bytes() == b"theirs"
    assert res.written.skipped == [os.fsencode(str(lab.src / "data/d/f03").lstrip("/"))]
    assert res.written.files == 19 and not [n for n in os.listdir(restored) if n.startswith(".rabtui")]


@pytest.mark.parametrize("overwrite, mode", [(False, 0o700), (True, 0o755)])
def test_the_sources_own_directory_tightened_since_the_backup_stays_tight(tmp_path, overwrite, mode):
    """Restoring a whole configured directory onto the local source: the directory itself keeps its
    own mode, as every directory below it does, unless the restore overwrites."""
    from rabtui.restore import run as R

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"a": b"a"})
    data.chmod(0o755)
    assert lab.backup(cfg, now=T0).status == "completed"
    data.chmod(0o700)
    (data / "a").unlink()
    res = R.restore(cfg, lab.store(), "loc", str(data), to_source=True, overwrite=overwrite)
    assert (data / "a").read_bytes() == b"a"
    assert os.stat(data).st_mode & 0o777 == mode
    assert ["there already with mode 0700" in why for kind, _, why in res.written.not_restored] == \
        ([] if overwrite else [True])


def test_a_restore_from_discs_reaches_a_target_through_a_bind_mount_of_the_states_file_system(
        tmp_path, lab, bind_mount, capsys):
    """A target others may change is not staged in: what comes off the discs is staged in the state
    directory. Reached through a bind mount of the state's own file system, the target has the
    staging directory's device number, and link(2) between two mounts fails (EXDEV): every file
    was "not restored: Invalid cross-device link"."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)                 # others may change it
    target = bind_mount(tmp_path / "bound", shared) / "out"
    assert _restore(lab, "d", target, "--checkpoint", "1") == 0, capsys.readouterr()
    restored = target / str(lab.src / "data/d").lstrip("/")
    assert snapshot(restored) == snapshot(lab.src / "data/d")


def _deep_dirs(base: bytes, depth: int) -> bytes:
    """Directories below `base`, 200-byte names, `depth` of them, made one at a time relative to the
    one above (their path is longer than the kernel takes in one call)."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(b"x" * 200, dir_fd=fd)
            fd, old = os.open(b"x" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
            os.close(old)
    finally:
        os.close(fd)
    return base + (b"/" + b"x" * 200) * depth


def _read_deep(path: bytes) -> bytes:
    fd = os.open(b"/", os.O_RDONLY | os.O_DIRECTORY)
    parts = [p for p in path.split(b"/") if p]
    for p in parts[:-1]:
        fd, old = os.open(p, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
        os.close(old)
    try:
        with os.fdopen(os.open(parts[-1], os.O_RDONLY, dir_fd=fd), "rb") as f:
            return f.read()
    finally:
        os.close(fd)


@pytest.mark.parametrize("disc", [False, True])
def test_a_target_there_already_deeper_than_path_max_is_restored_into(lab, tmp_path, capsys, disc):
    """--to names a directory there already whose path is over 4,096 bytes (PATH_MAX): the restore
    writes into it; the look at who can change the directories on the way ended in a traceback."""
    deep = _deep_dirs(os.fsencode(tmp_path), 21)
    code = _restore(lab, "small", os.fsdecode(deep), *(("--checkpoint", "1") if disc else ()))
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err, err
    assert _read_deep(deep + b"/" + os.fsencode(str(lab.src / "data" / "small")).lstrip(b"/")) == b"s"


def test_a_path_the_copy_lacks_leaves_no_directory_it_made_and_keeps_one_that_was_there(lab, tmp_path, capsys):
    """From the discs, from a backup named or numbered, from the newest copy: a path it does not hold
    is said in a line (exit 1), and the target directories the restore made on the way are gone
    again; a target that was there before stays, with what it held."""
    there = tmp_path / "there"
    there.mkdir()
    (there / "mine").write_bytes(b"mine")
    empty = tmp_path / "empty"
    empty.mkdir()
    for more in (("--checkpoint", "1"), ("--backup", "1"), ("--backup", "backup-20260601030000"), ()):
        for target in (tmp_path / "new" / "x" / "y", there, empty):
            assert _restore(lab, "missing", target, *more) == 1, more
            err = capsys.readouterr().err
            assert "Traceback" not in err and ("holds nothing at" in err or "is not in backup" in err), err
            assert not (tmp_path / "new").exists(), (more, target)
    assert os.listdir(there) == ["mine"] and (there / "mine").read_bytes() == b"mine" and os.listdir(empty) == []


def test_a_file_the_target_has_no_room_for_is_not_restored_cut_short(tmp_path, lab, tmpfs, capsys):
    """100 KB onto a 64 KiB file system: the write that fills it up writes part of what it was
    given (a short write), and the rest was taken as written: the file was restored with its end
    a hole of zeros, and the restore said it had restored it (exit 0). It fails, and no file of
    that name is left."""
    target = tmpfs(tmp_path / "small", "size=64k")
    assert _restore(lab, "d/f00", target) == 1
    got = capsys.readouterr()
    assert "Traceback" not in got.err and "d/f00: No space left on device" in got.out, got
    restored = target / str(lab.src / "data/d").lstrip("/")
    assert not restored.exists() or os.listdir(restored) == []


@pytest.mark.parametrize("what, code", [("small", 0), ("missing", 1)])
def test_a_target_directory_another_restore_makes_at_the_same_moment_is_shared(lab, tmp_path, monkeypatch, capsys,
                                                                              what, code):
    """Two restores into one new directory: the other makes it between this one's look and its
    mkdir. This one writes into it (it failed: "File exists"); failing itself, it leaves the
    other's directory alone (it removed it, as one it had made, under the other restore)."""
    from rabtui.restore import target_dirs

    made = os.mkdir

    def the_other_first(path, mode=0o777, *, dir_fd=None):
        if path == b"new" and not os.path.lexists(tmp_path / "new"):
            made(tmp_path / "new")
        return made(path, mode, dir_fd=dir_fd)

    monkeypatch.setattr(target_dirs.os, "mkdir", the_other_first)
    assert _restore(lab, what, tmp_path / "new", "--checkpoint", "1") == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and "File exists" not in err, err
    assert (tmp_path / "new").is_dir()


def test_a_restore_whose_output_cannot_be_written_ends_with_its_own_exit_code(lab, tmp_path):
    """Its output to a full disk (/dev/full) or to a reader gone (a closed pipe): the restore's
    own exit code, never a traceback (it was one, exit 1, for a restore that succeeded; and 0 for
    one that failed, once its reader was gone)."""
    import sys

    out = tmp_path / "out"
    # a file is not restored over a directory holding one: exit 3
    (out / str(lab.src / "data/d/f03/theirs").lstrip("/")).mkdir(parents=True)
    args = [sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "restore", "loc"]
    with open("/dev/full", "w") as full:
        for what, code, more in (("small", 0, []), ("d", 3, ["--json"])):
            done = subprocess.run([*args, str(lab.src / "data" / what), "--to", str(out), "--overwrite", *more],
                                  stdout=full, stderr=subprocess.PIPE, text=True)
            assert (done.returncode, "Traceback" in done.stderr) == (code, False), (what, more, done.stderr)
    closed = subprocess.Popen([*args, str(lab.src / "data/d"), "--to", str(out), "--overwrite"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    closed.stdout.close()
    err = closed.stderr.read()
    assert (closed.wait(), "Traceback" in err) == (3, False), err


def test_a_checkpoint_whose_disc_was_never_written_is_said_so_without_asking_for_it(lab, tmp_path, capsys):
    """Checkpoint 2 planned, its disc never written: a restore from it asked to insert that disc
    (there is none), and with no one to answer said there was no readable disc."""
    from rabtui.checkpoint import prepare

    cfg, store = lab.load(), lab.store()
    assert prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=cfg.checkpoint.drive) == 2
    assert _restore(lab, "small", tmp_path / "out", "--checkpoint", "2") == 1
    err = capsys.readouterr().err
    assert "checkpoint 2: disc 1 (RAB2D01), which holds " in err and "was never written" in err \
        and "rabtui checkpoint resume 2" in err and "Insert" not in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("how", ["abandoned", "failed"])
def test_a_disc_never_written_whole_is_said_so_without_asking_for_it(lab, tmp_path, capsys, how):
    """A checkpoint abandoned (its discs not written read `abandoned`), or whose disc xorriso could
    not write (`failed`): a restore from it asked to insert a disc that never was."""
    import threading

    from rabtui.checkpoint import prepare, questions, run, status
    from rabtui.events import ABORT, READY, ScriptedPrompter

    cfg, store = lab.load(), lab.store()
    assert prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=cfg.checkpoint.drive) == 2
    if how == "abandoned":
        status.abandon(cfg, store, 2)
    else:
        (lab.tmp / "iso" / "RAB2D01.iso" / "in the way").mkdir(parents=True)
        run.burn_checkpoint(cfg, store, 2, emit=lambda e: None, cancel=threading.Event(),
                            prompter=ScriptedPrompter(lambda q: ABORT if q.kind == questions.FAILED else READY))
        assert store.one("SELECT state FROM discs WHERE number=2")["state"] == "failed"
    assert _restore(lab, "small", tmp_path / "out", "--checkpoint", "2") == 1
    err = capsys.readouterr().err
    assert "checkpoint 2: disc 1 (RAB2D01), which holds " in err and "was never written" in err \
        and "Insert" not in err, err
    assert ("resume" not in err) if how == "abandoned" else ("rabtui checkpoint resume 2" in err), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("made", ["fifo", "file"])
def test_a_sources_directory_that_is_no_directory_now_is_said_in_a_line(tmp_path, capsys, made):
    """The source's configured directory is a FIFO or a file now: a restore onto the source says
    what it is (it said `File exists`), and nothing is written; the FIFO is never opened."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"f": b"1"})
    assert lab.backup(cfg, now=T0).status == "completed"
    (lab.src / "data" / "f").unlink()
    (lab.src / "data").rmdir()
    os.mkfifo(lab.src / "data") if made == "fifo" else (lab.src / "data").write_bytes(b"x")
    for what in ("", "/f"):
        code = main(["--config", str(lab.config_path), "restore", "loc", f"{lab.src / 'data'}{what}", "--to-source",
                     "--overwrite"])
        err = capsys.readouterr().err
        assert code == 1 and f"{lab.src / 'data'} is not a directory (a {made})" in err, err


def test_a_directory_where_the_backup_has_a_file_is_named_so_with_overwrite(tmp_path, capsys):
    """--overwrite onto a local source where the backup has a file and a FIFO, and the source now a
    directory (one holding a file, one empty): the one holding a file is kept and named as a
    directory there, by the kind the backup has (exit 3), where the report read only "Is a
    directory"; the empty one is replaced, as rsync onto an SSH source replaces it."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"x": b"backup's", "k": b"k"})
    os.mkfifo(data / "p")
    assert lab.backup(cfg, now=T0).status == "completed"
    (data / "x").unlink()
    (data / "p").unlink()
    (data / "x" / "inner").mkdir(parents=True)
    (data / "x" / "inner" / "z").write_bytes(b"theirs")
    (data / "p").mkdir()
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to-source", "--overwrite"])
    out = capsys.readouterr().out
    assert code == 3 and "Is a directory" not in out, out
    assert (f"not restored (file): {str(data).lstrip('/')}/x: a directory holding files is there where the backup"
            " has a file; kept") in out, out
    assert (data / "x" / "inner" / "z").read_bytes() == b"theirs" and stat.S_ISFIFO(os.lstat(data / "p").st_mode)
