"""Paths that are too long to name in one call once they are on a medium: a source path of 4,000
bytes is 4,100 and more below `<medium>/<source>/backup-<time>/data/` or `.archive/`. rsync copies
them (it works in relative steps); what rabtui itself does there goes part by part too
(rabtui/media/below.py): the archive's union, the undoing of a killed run, and the check that
no directory of the older backup is a symlink that rsync would look through.

Real rsync; the trees are read back through directory descriptors.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

import pytest

from rabtui import faults
from rabtui.checkpoint import run
from rabtui.events import READY, ScriptedPrompter
from rabtui.media import below, medium_layout
from tests.test_checkpoint import _record
from tests.test_checkpoint_deep import _deep_tree, _tree
from tests.trees import Lab
from tests import preloaded

OLD = 1_577_836_800


def _write_at(root: bytes, rel: bytes, content: bytes, mtime: int | None = None) -> None:
    parent, name = os.path.split(rel)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parent.split(b"/"):
            nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        with open(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600, dir_fd=fd), "wb") as f:
            f.write(content)
        if mtime is not None:
            os.utime(name, (mtime, mtime), dir_fd=fd)
    finally:
        os.close(fd)


def _rabtui(lab: Lab, *args: str, point: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    if point:
        env[faults.ENV] = point
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args], env=env,
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def _long_base(tmp_path):
    """A lab whose own paths are long, so that the medium's paths pass 4,096 bytes whatever the
    test's temporary directory."""
    base = tmp_path / ("lab-" + "p" * 200)
    base.mkdir()
    return base


def test_an_archive_directory_with_a_4000_byte_path_backs_up_and_undoes_a_killed_run(tmp_path):
    lab = Lab(_long_base(tmp_path), media_count=1)
    lab.local([("arch", "archive")])
    src = os.fsencode(lab.src / "arch")
    deepest = _deep_tree(lab.src / "arch")
    assert len(src) + 1 + len(deepest) == 4000
    first = _rabtui(lab, "backup", "loc")
    assert first.returncode == 0, first.stdout + first.stderr
    union = os.fsencode(medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch")))
    assert len(union) + 1 + len(deepest) > 4096
    before = _tree(src)
    assert _tree(union) == before

    # a new version of the deepest file; the run is killed once it is linked into the union
    _write_at(src, deepest, b"the second version\n", mtime=OLD)
    killed = _rabtui(lab, "backup", "loc", point="backup.archive_linked")
    assert killed.returncode == -signal.SIGKILL
    assert _tree(union)[deepest] == b"the second version\n"
    # the next run undoes the killed run's links (the older version comes back), then saves it again
    after = _rabtui(lab, "backup", "loc")
    out = after.stdout + after.stderr
    assert after.returncode == 0, out
    assert "archive link(s) undone" in out, out
    assert _tree(union) == _tree(src)
    store = lab.store()
    newest = store.one("SELECT path FROM backups WHERE status='completed' ORDER BY id DESC LIMIT 1")["path"]
    in_backup = os.fsencode(medium_layout.backup_data_path(newest, str(lab.src / "arch")))
    # rsync finds no file of the union past 4,096 bytes (--compare-dest): those come again each
    # time; what the backup holds is the source's
    saved = _tree(in_backup)
    assert saved[deepest] == b"the second version\n"
    assert all(_tree(src)[rel] == content for rel, content in saved.items())


def test_a_deep_directory_that_was_a_symlink_links_no_server_file(tmp_path):
    """The symlink is deeper than one call can name on the medium: it is still found, and the
    directory copied again from the source."""
    outside = tmp_path / "server"
    outside.mkdir()
    secret = outside / "shadow"
    secret.write_bytes(b"SERVER SECRET")
    os.chmod(secret, 0o600)
    os.utime(secret, (OLD, OLD))
    lab = Lab(_long_base(tmp_path), media_count=1)
    cfg = lab.local([("data", "standard")])
    src = os.fsencode(lab.src / "data")
    parts = [b"d%02d-" % i + b"x" * 245 for i in range((3980 - len(src)) // 250)]
    parts.append(b"y" * (3978 - len(src) - len(b"/".join(parts))))
    chain = b"/".join(parts)
    assert len(src) + 1 + len(chain) == 3980
    fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    for part in chain.split(b"/"):
        os.mkdir(part, dir_fd=fd)
        nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.symlink(os.fsencode(outside), b"e", dir_fd=fd)
    assert lab.backup(cfg).status == "completed"
    os.unlink(b"e", dir_fd=fd)
    os.mkdir(b"e", dir_fd=fd)
    os.close(fd)
    _write_at(src, chain + b"/e/shadow", b"the source's", mtime=OLD)    # looks like the server's file

    second = lab.backup(cfg)
    assert second.status == "warnings" and ("was a symlink out of" in second.reason or "were symlinks out of" in second.reason)
    data = os.fsencode(medium_layout.backup_data_path(second.path, str(lab.src / "data")))
    assert len(data) + len(chain) > 4096
    assert _tree(data) == _tree(src) == {chain + b"/e/shadow": b"the source's"}
    assert secret.read_bytes() == b"SERVER SECRET" and os.stat(secret).st_nlink == 1


def test_a_checkpoint_of_a_deep_archive_writes_the_version_it_recorded(tmp_path):
    """A checkpoint of the archive, then a newer version of its deepest file in the union: the disc
    gets the recorded version, read from the backup that saved it, past 4,096 bytes."""
    base = _long_base(tmp_path)
    lab = Lab(base, media_count=1)
    (lab.src / "arch").mkdir()
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{lab.src / "arch"}"\n'
                    f'kind = "archive"\n\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n')
    src = os.fsencode(lab.src / "arch")
    deepest = _deep_tree(lab.src / "arch", total=4040)
    assert lab.backup(cfg).status == "completed"
    recorded = _tree(src)
    store = lab.store()
    number = _record(lab, cfg, store)
    _write_at(src, deepest, b"a newer version, longer than the recorded one\n" * 500, mtime=OLD)
    assert lab.backup(cfg).status == "completed"
    union = os.fsencode(medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch")))
    assert len(union) + 1 + len(deepest) > 4096 and _tree(union)[deepest] != recorded[deepest]

    seen = []
    res = run.burn_checkpoint(cfg, store, number, emit=seen.append, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    assert any(re.search(r"archive (entry is|entries are) read from the backups", e.message) for e in seen)
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    with tempfile.TemporaryDirectory(prefix="x") as short:
        subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-indev", f"stdio:{iso}", "-extract", "/", short + "/d"],
               check=True, capture_output=True)
        on_disc = _tree(os.path.join(os.fsencode(short), b"d", b"data/loc/" + src.lstrip(b"/")))
    assert on_disc == recorded


def test_nothing_below_a_root_climbs_above_it(tmp_path):
    (tmp_path / "root" / "d").mkdir(parents=True)
    (tmp_path / "outside").write_bytes(b"x")
    root = os.fsencode(tmp_path / "root")
    for call in (below.lstat, below.unlink, below.entries, below.open_dir, below.open_file):
        with pytest.raises(OSError):
            call(root, b"d/../../outside")
    assert (tmp_path / "outside").exists()


# run as another user, with a copy of below.py (it needs nothing else): the checkout itself may
# be closed to that user
_BELOW_AS_A_USER = r"""
import os, sys
sys.path.insert(0, sys.argv[3])
import below
root, deep = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
rel = b"locked/f"
print("os.lstat", os.lstat(os.path.join(root, rel)).st_size)
print("os.open", os.read(os.open(os.path.join(root, rel), os.O_RDONLY), 9))
print("symlink_on_the_way", below.symlink_on_the_way(root, rel))
for name, call in (("below.open_file", lambda: os.read(below.open_file(root, rel), 9)),
                   ("below.lstat(long)", lambda: below.lstat(root, deep + b"/locked/f").st_size)):
    try:
        print(name, call())
    except OSError as exc:
        print(name, "FAILED", exc.strerror)
"""


def test_files_below_a_directory_that_may_be_searched_not_read_are_reached():
    """rabtui run as a user; a backup holds a directory rsync gave mode 0300 (as the source had it):
    its files can be opened by path (searching it is enough), and so they are part by part, past
    4,096 bytes too (the directories on the way are passed through, not read). In a directory of
    its own under /tmp: pytest's are closed to other users."""
    top = tempfile.mkdtemp(prefix="rabtui-search-")
    try:
        os.chmod(top, 0o755)
        root = os.path.join(top, "data")
        deep = b"/".join([b"d" * 200] * 19)        # past named_at_once, below 4,096 bytes to make it
        for base in (root, os.path.join(root, os.fsdecode(deep))):
            os.makedirs(os.path.join(base, "locked"))
            with open(os.path.join(base, "locked", "f"), "wb") as f:
                f.write(b"contents!")
        for dirpath, _dirnames, filenames in os.walk(top):
            os.chown(dirpath, 65534, 65534)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), 65534, 65534)
        for base in (root, os.path.join(root, os.fsdecode(deep))):
            os.chmod(os.path.join(base, "locked"), 0o300)
        shutil.copy(below.__file__, os.path.join(top, "below.py"))
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-I", "-c"]
        if subprocess.run([*as_nobody, "pass"], capture_output=True, cwd=top).returncode != 0:
            pytest.skip(f"user 65534 cannot run {sys.executable}")
        out = subprocess.run([*as_nobody, _BELOW_AS_A_USER, root, os.fsdecode(deep), top],
                             capture_output=True, text=True, timeout=60, cwd=top)
        assert out.returncode == 0, out.stderr
        assert "FAILED" not in out.stdout, out.stdout
    finally:
        shutil.rmtree(top)
