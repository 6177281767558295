"""No restore writes outside its target or through a symlink (issue 15, 2.5 and the containment
invariant): symlinks planted in the target or in the live source (local, and remote over the
test sshd), generated placements, and a thread that keeps swapping a directory for a symlink
while the restore runs. Backups, rsync and ssh are real."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rabtui.restore import run as R
from rabtui.errors import WorkFailed
from tests.trees import Lab, snapshot, ssh_source_lines, write_files

T0 = datetime(2026, 6, 1, 3, 0)
TREE = {"a/f1": b"1", "a/b/f2": b"2", "a/b/c/f3": b"3", "d/f4": b"4", "top": b"t"}
DIRS = ["a", "a/b", "a/b/c", "d"]
PLACES = DIRS + ["a/f1", "a/b/f2", "top"]


def _all_files(root) -> set:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.add(os.path.join(dirpath, n))
    return out


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory):
    """A backup of TREE on a medium, and checkpoint 1 of it on an ISO image."""
    from rabtui.checkpoint import prepare, run
    from rabtui.events import READY, ScriptedPrompter

    tmp = tmp_path_factory.mktemp("contain")
    lab = Lab(tmp, media_count=1)
    cfg = lab.with_discs("dvd+r")
    write_files(lab.src / "data", TREE)
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    assert run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                               prompter=ScriptedPrompter(lambda q: READY)).status == "completed"
    return lab, cfg


def _plant(root, places, outside, relative):
    for p in sorted(places, key=len, reverse=True):
        path = os.path.join(root, p)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(os.path.relpath(outside, os.path.dirname(path)) if relative else outside, path)


class Swapper(threading.Thread):
    """Keeps swapping the directory `path` for a symlink to `outside` and back."""

    def __init__(self, path, outside):
        super().__init__(daemon=True)
        self.path, self.outside, self.stop = path, outside, threading.Event()
        self.swaps = 0

    def run(self):
        aside = self.path + ".aside"
        while not self.stop.is_set():
            try:
                os.rename(self.path, aside)
                os.symlink(self.outside, self.path)
                time.sleep(0.0005)
                os.unlink(self.path)
                os.rename(aside, self.path)
                self.swaps += 1
            except OSError:
                time.sleep(0.0005)


@settings(max_examples=16, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(places=st.sets(st.sampled_from(PLACES), max_size=3), relative=st.booleans(), overwrite=st.booleans(),
       swap=st.sampled_from([None] + DIRS), to_source=st.booleans(), what=st.sampled_from(["", "/a", "/a/b/f2"]),
       from_disc=st.booleans())
def test_no_restore_writes_outside_or_through_a_symlink(backed_up, places, relative, overwrite, swap, to_source,
                                                        what, from_disc):
    lab, cfg = backed_up
    data = str(lab.src / "data")
    places = {p for p in places if not any(p.startswith(q + "/") for q in places)}   # an ancestor hides it
    with tempfile.TemporaryDirectory(dir=lab.tmp) as scratch:
        outside = os.path.join(scratch, "outside")
        os.mkdir(outside)
        if to_source:                              # the live source, as it is at restore time
            shutil.rmtree(data)
            write_files(data, TREE)
            root = data
        else:
            root = os.path.join(scratch, "target", data.lstrip("/"))
            write_files(root, {"a/b/keep": b"k"})
        _plant(root, places, outside, relative)
        before = _all_files(scratch) - _all_files(os.path.join(scratch, "target"))
        swapper = None
        if swap and os.path.isdir(os.path.join(root, swap)) and not os.path.islink(os.path.join(root, swap)):
            swapper = Swapper(os.path.join(root, swap), outside)
            swapper.start()
        try:
            kw = {"to_source": True} if to_source else {"to": os.path.join(scratch, "target")}
            if from_disc:
                kw["checkpoint"] = 1
            R.restore(cfg, lab.store(), "loc", data + what, overwrite=overwrite, **kw)
        except WorkFailed:
            pass            # refused (a symlink in the way, files that exist): what matters is below
        finally:
            if swapper:
                swapper.stop.set()
                swapper.join()
        assert os.listdir(outside) == []
        after = _all_files(scratch) - _all_files(os.path.join(scratch, "target"))
        if not to_source:
            assert after == before        # nothing outside the target
        # a restore that made the swapped directory anew while it was away leaves the original aside
        # (the swapper cannot rename it back over a directory that is not empty)
        aside = os.path.join(root, swap or "") + ".aside"
        aside = aside if swapper and os.path.lexists(aside) else None
        for p in places:                  # the planted symlinks are still symlinks, or were replaced
            path = os.path.join(root, p)  # (only in a target with --overwrite): never written through
            if aside and p.startswith(swap + "/"):
                path = aside + p[len(swap):]
            assert os.path.islink(path) or (overwrite and not to_source)
        if to_source:
            shutil.rmtree(data)
            write_files(data, TREE)


def test_to_source_local_refuses_planted_symlinks_and_says_so(tmp_path, capsys):
    from rabtui.cli import main

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", TREE)
    assert lab.backup(cfg, now=T0).status == "completed"
    outside = tmp_path / "outside"
    outside.mkdir()
    data = lab.src / "data"
    shutil.rmtree(data / "a/b")
    os.symlink(outside, data / "a/b")                    # a directory of the tree
    (data / "top").unlink()
    os.symlink(outside / "top", data / "top")            # a file of the tree
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to-source", "--overwrite"])
    out = capsys.readouterr().out
    assert code == 3 and "refused: " in out and "a/b is a symlink" in out and "top is a symlink" in out
    assert os.listdir(outside) == []
    assert (data / "d/f4").read_bytes() == b"4"          # the rest is restored
    # a symlinked parent component of the path restored
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data / "a/b/c/f3"), "--to-source"])
    assert code == 3 and "a/b is a symlink" in capsys.readouterr().out and os.listdir(outside) == []
    # the configured directory itself replaced by a symlink
    shutil.rmtree(data)
    os.symlink(outside, data)
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data / "d"), "--to-source"])
    assert code == 1 and "symlink" in capsys.readouterr().err and os.listdir(outside) == []


def test_to_source_remote_refuses_planted_symlinks(tmp_path, sshd, known_hosts):
    lab = Lab(tmp_path, media_count=1)
    remote_dir = tmp_path / "remote"
    write_files(remote_dir, TREE)
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{remote_dir}"\n')
    os.makedirs(os.path.expanduser("~/.ssh"), exist_ok=True)
    with open(os.path.expanduser("~/.ssh/known_hosts"), "w") as f:
        f.write(sshd.known_hosts_line())
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    store = lab.store()
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(remote_dir / "a/b")
    os.symlink(outside, remote_dir / "a/b")
    for path in (remote_dir / "a/b", remote_dir / "a/b/c"):    # at and below the symlink: on the way
        with pytest.raises(WorkFailed, match=r"symlinks there are in the restore's way.*a/b"):
            R.restore(cfg, store, "web", str(path), to_source=True, overwrite=True)
    assert os.listdir(outside) == []
    for path in (remote_dir, remote_dir / "a"):      # above it: left out and named, the rest restored
        res = R.restore(cfg, store, "web", str(path), to_source=True, overwrite=True)
        assert [(os.path.basename(n), why) for n, why in res.written.refused] == [
            (b"b", "a/b is a symlink on the target, not followed nor replaced" if path == remote_dir else
             "b is a symlink on the target, not followed nor replaced")], res.written
        assert os.listdir(outside) == [] and os.path.islink(remote_dir / "a/b")
    # a symlink that the restored tree does not reach is no reason to refuse
    os.unlink(remote_dir / "a/b")
    os.symlink(outside, remote_dir / "d/elsewhere")
    res = R.restore(cfg, store, "web", str(remote_dir), to_source=True, overwrite=True)
    assert snapshot(remote_dir) == {k.encode(): v for k, v in TREE.items()} and os.listdir(outside) == []
    assert res.written.files == 2 and res.written.dirs == 2      # a/b/f2 and a/b/c/f3 came back


@pytest.mark.parametrize("to_source", [False, True])
def test_a_directory_swapped_for_a_symlink_while_restoring(tmp_path, to_source):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    many = {f"a/b/f{i:04d}": b"x" * 100 for i in range(3000)}
    write_files(lab.src / "data", many)
    assert lab.backup(cfg, now=T0).status == "completed"
    data = str(lab.src / "data")
    outside = tmp_path / "outside"
    outside.mkdir()
    if to_source:
        root = data
        shutil.rmtree(os.path.join(data, "a/b"))
        os.mkdir(os.path.join(data, "a/b"))
    else:
        root = os.path.join(tmp_path, "target", data.lstrip("/"))
        os.makedirs(os.path.join(root, "a/b"))
    swapper = Swapper(os.path.join(root, "a/b"), str(outside))
    swapper.start()
    while not swapper.swaps:          # swapping already when the restore starts
        time.sleep(0.001)
    try:
        kw = {"to_source": True} if to_source else {"to": tmp_path / "target"}
        res = R.restore(cfg, lab.store(), "loc", data, overwrite=True, **kw)
    except R.RestoreIncomplete as exc:      # a directory gone for a moment: said, with the counts
        res = exc.result
        assert "could not finish" in str(exc) and f"{res.written.files} files" in str(exc)
    finally:
        swapper.stop.set()
        swapper.join()
    assert swapper.swaps > 1
    assert os.listdir(outside) == []
    # every file is restored, or named as refused or failed
    assert res.written.files + len(res.written.refused) + len(res.written.errors) >= len(many)


@pytest.fixture(scope="module")
def remote_backed_up(tmp_path_factory, sshd):
    """A backup of TREE from the remote directory over the test sshd (its host key in the state's
    known_hosts), and a copy of the directory as backed up (times too), which each test puts back
    before its restore onto it."""
    lab = Lab(tmp_path_factory.mktemp("remote-contain"), media_count=1)
    lab.trust(sshd)
    remote_dir = lab.tmp / "remote"
    write_files(remote_dir, TREE)
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{remote_dir}"\n')
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    shutil.copytree(remote_dir, lab.tmp / "as-backed-up", symlinks=True)
    return lab, cfg, remote_dir


@settings(max_examples=6, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(places=st.sets(st.sampled_from(PLACES), min_size=1, max_size=3), relative=st.booleans(),
       what=st.sampled_from(["", "/a", "/a/b", "/d/f4"]), overwrite=st.booleans())
def test_no_remote_restore_writes_through_a_symlink(tmp_path, remote_backed_up, places, relative, what, overwrite):
    lab, cfg, remote_dir = remote_backed_up
    shutil.rmtree(remote_dir)             # the live source as the backup saw it, whatever the last restore did
    shutil.copytree(lab.tmp / "as-backed-up", remote_dir, symlinks=True)
    places = {p for p in places if not any(p.startswith(q + "/") for q in places)}
    outside = Path(tempfile.mkdtemp(dir=tmp_path)) / "outside"
    outside.mkdir()
    _plant(str(remote_dir), places, str(outside), relative)
    try:
        R.restore(cfg, lab.store(), "web", str(remote_dir) + what, to_source=True, overwrite=overwrite)
    except WorkFailed as exc:
        assert "symlinks there are in the restore's way" in str(exc) or " on web already and differ" in str(exc)
    assert os.listdir(outside) == []
    for p in places:   # never replaced where the tree has a directory or file, never written through
        assert os.path.islink(remote_dir / p)


def test_remote_restore_while_a_directory_is_swapped_for_a_symlink(tmp_path, sshd, known_hosts):
    """After the check on the source, rsync's receiver itself must not follow a swapped-in symlink
    (rsync 3.5 here: it refuses those files; the test shows it, nothing of rabtui's adds to it)."""
    lab = Lab(tmp_path, media_count=1)
    remote_dir = tmp_path / "remote"
    many = {f"a/b/f{i:04d}": b"x" * 100 for i in range(3000)}
    write_files(remote_dir, many)
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{remote_dir}"\n')
    os.makedirs(os.path.expanduser("~/.ssh"), exist_ok=True)
    with open(os.path.expanduser("~/.ssh/known_hosts"), "w") as f:
        f.write(sshd.known_hosts_line())
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    outside = tmp_path / "outside"
    outside.mkdir()
    for p in (remote_dir / "a/b").iterdir():
        p.unlink()
    swapper = Swapper(str(remote_dir / "a/b"), str(outside))
    swapper.start()
    while not swapper.swaps:
        time.sleep(0.001)
    try:
        R.restore(cfg, lab.store(), "web", str(remote_dir), to_source=True, overwrite=True)
    except WorkFailed as exc:       # refused by the check (a symlink met, or the directory gone as
        # find walked it), or rsync ran into the swaps: said, either way
        assert any(said in str(exc) for said in ("restore's way", "cannot all be checked", "could not finish")), exc
    finally:
        swapper.stop.set()
        swapper.join()
    assert swapper.swaps > 1
    assert os.listdir(outside) == []


def test_a_target_named_through_a_symlink_is_followed(tmp_path):
    """The operator's own --to may be a symlink (a mount elsewhere): only what is below it is guarded."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", TREE)
    assert lab.backup(cfg, now=T0).status == "completed"
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "alias")
    res = R.restore(cfg, lab.store(), "loc", str(lab.src / "data"), to=tmp_path / "alias")
    assert res.written.files == len(TREE) and not res.written.problems()
    assert snapshot(real / str(lab.src / "data").lstrip("/")) == {k.encode(): v for k, v in TREE.items()}


def test_the_source_side_check_refuses_what_its_user_cannot_examine():
    """The check before a restore onto a remote source runs as the SSH user, while rsync may run as
    root (rsync_path = "sudo rsync"): a path component below a directory that user cannot search
    could be a symlink it does not see, so it is reported as unexaminable ("?"), and the restore
    refuses. A component that does not exist yet is no problem. Run here as nobody, with the same sh,
    in a directory of /tmp that nobody can reach (pytest's own are private)."""
    import subprocess

    from rabtui.restore.source_check import SOURCE_CHECK

    base = Path(tempfile.mkdtemp(prefix="rabtui-check-", dir="/tmp"))
    try:
        (base / "open" / "sub").mkdir(parents=True)
        (base / "shut" / "inner").mkdir(parents=True)
        os.symlink("/etc", base / "shut" / "inner" / "link")
        for d in (base, base / "open", base / "open" / "sub"):
            os.chmod(d, 0o755)
        os.chmod(base / "shut", 0o700)

        def check(path: Path) -> list[bytes]:
            done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                   "sh", "-c", SOURCE_CHECK, "sh", "-", str(path)], capture_output=True, check=True)
            records = [p for p in done.stdout.split(b"\0") if p]
            assert records.pop() == b"=", records     # the check ran to its end
            return records

        assert check(base / "open" / "sub" / "new" / "deeper") == [b"+" + os.fsencode(base / "open" / "sub" / "new")]
        assert check(base / "shut" / "inner" / "link" / "x") == [b"?" + os.fsencode(base / "shut" / "inner")]
    finally:
        shutil.rmtree(base)


def test_a_restore_onto_a_source_crosses_into_another_mount_only_where_its_backups_do(tmp_path, bind_mount):
    """A directory of a local source is another mount (a bind mount of a directory elsewhere, on the
    same file system or not) and the source's backups stay on one file system (one_file_system): a
    restore onto the source with --overwrite writes nothing through it, nor its mode, and names it
    once; one whose backups cross into such mounts (the default) puts its files back there. (A
    restore --to DIR writes into the mounts the operator made there: a new disk's partitions.)"""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local(extra="one_file_system = true")
    write_files(lab.src / "data", {"mnt\nname/f": b"backup's", "mnt\nname/sub/g": b"g", "other": b"o"})
    assert lab.backup(cfg, now=T0).status == "completed"
    elsewhere = tmp_path / "elsewhere"
    write_files(elsewhere, {"f": b"elsewhere's", "sub/g": b"kept"})
    os.chmod(elsewhere, 0o700)
    bind_mount(lab.src / "data" / "mnt\nname", elsewhere)
    (lab.src / "data" / "other").write_bytes(b"changed")
    w = R.restore(cfg, lab.store(), "loc", str(lab.src / "data"), overwrite=True, to_source=True).written
    assert w.refused == [(os.fsencode(lab.src).lstrip(b"/") + b"/data/mnt\nname", "mnt\\nname is another mount (a file system or a bind mount there): not"
                                        " crossed, nothing below it restored")], w.refused
    assert snapshot(elsewhere) == {b"f": b"elsewhere's", b"sub/g": b"kept"}
    assert os.stat(elsewhere).st_mode & 0o777 == 0o700
    assert (lab.src / "data" / "other").read_bytes() == b"o"
    w = R.restore(lab.local(), lab.store(), "loc", str(lab.src / "data"), to_source=True, overwrite=True).written
    assert not w.problems()
    assert snapshot(elsewhere) == {b"f": b"backup's", b"sub/g": b"g"}
