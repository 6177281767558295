"""What only kept data saved, other than regular files, under hostile conditions: names of every
byte, 255-byte names down to paths longer than the kernel takes on the medium, an entry of the kept
backup changed on the medium between the plan and the burn. Real rsync and xorriso, an `images:`
drive, a local source."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from datetime import datetime, timedelta
from pathlib import Path

from rabtui.checkpoint import prepare, run
from rabtui.cli import main
from rabtui.events import READY, WARNING, ScriptedPrompter
from tests.test_checkpoint_deep import _name
from tests.test_kept_data import SHORT, _post_commands
from tests.trees import HOSTILE_NAMES, Lab, burn_due, write_files

T0 = datetime(2026, 7, 1, 3, 0)


def _lab(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    lab.write(lab._local_source([("photos", "archive")], "post_backup_commands = []", "loc")
              + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n\n[retention]\n{SHORT}\n')
    return lab


def _kept(lab, photos, add, remove=None) -> list[bytes]:
    """A complete backup, a kept one after `add(photos)` (it returns what it made, deepest first),
    that removed from the source (or by `remove()`), a complete backup again."""
    write_files(photos, {"first.jpg": b"one"})
    assert lab.backup(_post_commands(lab, False), now=T0).status == "completed"
    made = add(os.fsencode(photos))
    assert lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1)).status == "failed"
    for path in made:
        os.rmdir(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
    if remove is not None:
        remove()
    assert lab.backup(_post_commands(lab, False), now=T0 + timedelta(days=2)).status == "completed"
    return made


def _tree(root: bytes) -> dict[bytes, str]:
    """Each entry below `root` -> its kind and what tells it (through directory descriptors: paths
    of any length)."""
    out: dict[bytes, str] = {}

    def walk(fd: int, rel: bytes) -> None:
        for name in map(os.fsencode, os.listdir(fd)):
            st = os.lstat(name, dir_fd=fd)
            r = os.path.join(rel, name) if rel else name
            if os.path.stat.S_ISDIR(st.st_mode):
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                try:
                    out[r] = "dir" if not os.listdir(sub) else "dir+"
                    walk(sub, r)
                finally:
                    os.close(sub)
            elif os.path.stat.S_ISLNK(st.st_mode):
                out[r] = "link " + os.fsdecode(os.readlink(name, dir_fd=fd))
            else:
                out[r] = oct(st.st_mode)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        walk(fd, b"")
    finally:
        os.close(fd)
    return out


def restored_both_ways(lab, tmp_path, photos, medium_exits=(0,)) -> tuple[Path, Path]:
    """`photos` restored from the medium (its exit one of `medium_exits`), then burnt on a
    verified disc and restored from it with the medium away: where each put it."""
    from_medium = tmp_path / "from-medium"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(from_medium)]) \
        in medium_exits
    number = burn_due(lab.load(), lab.store(), asked={"*"}, verified=True)
    shutil.move(lab.media[0][1], tmp_path / "medium-away")
    from_discs = tmp_path / "from-discs"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--checkpoint", str(number),
                 "--to", str(from_discs)]) == 0
    top = str(photos).lstrip("/")
    return from_medium / top, from_discs / top


def _burn_verify_restore(lab, tmp_path, photos) -> tuple[dict, dict]:
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    return _tree(os.fsencode(from_medium)), _tree(os.fsencode(from_discs))


def test_hostile_names_only_kept_data_saved_reach_the_discs_and_come_back(tmp_path):
    lab = _lab(tmp_path)
    photos = lab.src / "photos"

    def add(root: bytes) -> list[bytes]:
        made = []
        for i, name in enumerate(HOSTILE_NAMES):
            d = os.path.join(root, b"dir " + name)
            os.mkdir(d)
            os.symlink(b"../first.jpg", os.path.join(d, b"l " + name))
            os.mkfifo(os.path.join(d, b"p " + name))
            os.mkdir(os.path.join(d, b"e " + name))
            made += [os.path.join(d, b"e " + name), os.path.join(d, b"p " + name), os.path.join(d, b"l " + name), d]
        return made

    _kept(lab, photos, add)
    want = {}
    for name in HOSTILE_NAMES:
        d = b"dir " + name
        want.update({d: "dir+", d + b"/l " + name: "link ../first.jpg", d + b"/p " + name: oct(0o10644),
                     d + b"/e " + name: "dir"})
    from_medium, from_discs = _burn_verify_restore(lab, tmp_path, photos)
    assert {k: v for k, v in from_medium.items() if k != b"first.jpg"} == want
    assert from_discs == from_medium


def test_a_deep_empty_directory_only_kept_data_saved_past_the_kernels_path_on_the_medium(tmp_path):
    """The source's path is under 4,096 bytes, the kept backup's on the medium over it."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    chain: list[bytes] = []

    def add(root: bytes) -> list[bytes]:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        i = 0
        while (used := len(root) + sum(len(n) + 1 for n in chain)) < 4040 - len(b"/deep-empty"):
            name = _name(i, min(255, 4040 - len(b"/deep-empty") - used - 1))
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, i = nfd, i + 1
            chain.append(name)
        os.symlink(b"target", b"deep-link", dir_fd=fd)
        os.mkdir(b"deep-empty", dir_fd=fd)
        os.close(fd)
        return []

    def remove() -> None:
        """By descriptors, deepest first (the path is too long for rmdir)."""
        fds = [os.open(os.fsencode(photos), os.O_RDONLY | os.O_DIRECTORY)]
        for name in chain:
            fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
        os.unlink(b"deep-link", dir_fd=fds[-1])
        os.rmdir(b"deep-empty", dir_fd=fds[-1])
        for name, fd in zip(reversed(chain), reversed(fds[:-1])):
            os.close(fds.pop())
            os.rmdir(name, dir_fd=fd)
        os.close(fds.pop())

    _kept(lab, photos, add, remove)
    assert not os.path.lexists(lab.media[0][1] / "loc/.archive" / str(photos).lstrip("/") / os.fsdecode(chain[0]))
    from_medium, from_discs = _burn_verify_restore(lab, tmp_path, photos)
    deepest = b"/".join(chain)
    assert len(os.fsencode(photos)) + len(deepest) + len(b"//deep-empty") == 4040
    assert from_medium[deepest + b"/deep-empty"] == "dir" and from_medium[deepest + b"/deep-link"] == "link target"
    assert from_discs == from_medium


def test_a_file_kept_data_saved_below_a_symlink_the_archive_holds_in_its_directorys_place_is_left_out(tmp_path):
    """The source put a directory `a` holding a file into kept data, then a symlink `a` to a
    directory of the backup host in its place: the checkpoint holds the symlink, leaves out the
    file in silence (an older shape of its path, as a restore from the medium leaves it) and takes
    nothing of the directory the symlink points to. Both on one disc, each burn failed (xorriso:
    not a directory)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    foreign = tmp_path / "foreign"
    (foreign / "ssl").mkdir(parents=True)
    os.chmod(foreign / "ssl", 0o701)
    os.setxattr(foreign / "ssl", "user.secret", b"of the backup host")

    def add(root: bytes) -> list[bytes]:
        write_files(root, {b"a/ssl/f": b"kept file"})
        os.chmod(os.path.join(root, b"a/ssl"), 0o750)
        return [os.path.join(root, b"a/ssl/f"), os.path.join(root, b"a/ssl"), os.path.join(root, b"a")]

    _kept(lab, photos, add, lambda: os.symlink(foreign, photos / "a"))
    cfg = lab.load()
    store = lab.store()
    said = []
    plan = prepare.compute(cfg, store, asked={"*"}, emit=said.append)
    assert [e.message for e in said if e.kind == WARNING] == []
    burn_due(cfg, store, plan=plan, verified=True)
    iso = next((tmp_path / "iso").iterdir())
    listing = subprocess.run(["xorriso", "-indev", str(iso), "-find", "/", "-exec", "lsdl", "--"],
                             capture_output=True, text=True, errors="replace").stdout
    attrs = subprocess.run(["xorriso", "-indev", str(iso), "-getfattr_r", "/", "--"],
                           capture_output=True, text=True, errors="replace").stdout
    assert "of the backup host" not in attrs and "drwx-----x" not in listing, listing
    assert "/photos/a/ssl" not in listing and "/photos/a' -> " in listing, listing


def test_an_entry_of_kept_data_changed_on_the_medium_after_the_plan_is_never_burnt_as_it_is_now(tmp_path):
    """Between the plan and the burn, the kept backup's symlink is pointed at /etc/shadow and its
    empty directory replaced by a symlink to /etc: the burn names the entry no longer there as
    planned, and no disc holds either."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"

    def add(root: bytes) -> list[bytes]:
        os.symlink(b"first.jpg", os.path.join(root, b"link"))
        os.mkdir(os.path.join(root, b"empty"))
        return [os.path.join(root, b"link"), os.path.join(root, b"empty")]

    _kept(lab, photos, add)
    cfg = lab.load()
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=cfg.checkpoint.drive)
    kept = store.one("SELECT path FROM backups WHERE status='kept'")["path"]
    there = os.path.join(kept, "data", str(photos).lstrip("/"))
    mtime = os.lstat(os.path.join(there, "link")).st_mtime
    os.unlink(os.path.join(there, "link"))
    os.symlink("/etc/shadow", os.path.join(there, "link"))
    os.utime(os.path.join(there, "link"), (mtime, mtime), follow_symlinks=False)
    mtime = os.lstat(os.path.join(there, "empty")).st_mtime
    os.rmdir(os.path.join(there, "empty"))
    os.symlink("/etc", os.path.join(there, "empty"))
    os.utime(os.path.join(there, "empty"), (mtime, mtime), follow_symlinks=False)
    asked = []
    burnt = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter(lambda q: asked.append(q.text) or READY))
    assert burnt.status != "completed"
    assert any("is no longer on medium m1" in text for text in asked), asked
    for iso in (tmp_path / "iso").iterdir():
        listing = subprocess.run(["xorriso", "-indev", str(iso), "-find", "/", "-exec", "lsdl", "--"],
                                 capture_output=True, text=True, errors="replace").stdout
        assert "shadow" not in listing and "passwd" not in listing, listing


def test_files_kept_data_saved_where_a_directory_was_or_is_replace_it_as_a_restore_gives_them(tmp_path):
    """The source replaced the directory `a` (its file in the union) and `b` (its file only in a
    kept backup) each by a file that the next kept backup saved: each file is the newest entry
    saved at its path, what the directory held an older shape, left out in silence. The discs hold
    what a restore from the medium gives; the plan held both of each, and every burn of the disc
    failed; later the medium gave the union's directory `a` and refused `b/f` (exit 3), the plan
    naming the file `a` and `b/f` as left out."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "a/f": b"in the union"})
    assert lab.backup(_post_commands(lab, False), now=T0).status == "completed"
    write_files(photos, {"b/f": b"kept only"})
    assert lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1)).status == "failed"
    shutil.rmtree(photos / "a")
    shutil.rmtree(photos / "b")
    write_files(photos, {"a": b"a file, kept", "b": b"b file, kept"})
    assert lab.backup(lab.load(), now=T0 + timedelta(days=2)).status == "failed"
    os.unlink(photos / "a")
    os.unlink(photos / "b")
    assert lab.backup(_post_commands(lab, False), now=T0 + timedelta(days=3)).status == "completed"
    cfg = lab.load()
    store = lab.store()
    from_medium = tmp_path / "from-medium"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(from_medium)]) == 0
    said = []
    plan = prepare.compute(cfg, store, asked={"*"}, emit=said.append)
    assert [e.message for e in said if e.kind == WARNING] == []
    number = burn_due(cfg, store, plan=plan, verified=True)
    shutil.move(lab.media[0][1], tmp_path / "medium-away")
    from_discs = tmp_path / "from-discs"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--checkpoint", str(number),
                 "--to", str(from_discs)]) == 0
    top = str(photos).lstrip("/")
    got = _tree(os.fsencode(from_discs / top))
    assert got == _tree(os.fsencode(from_medium / top))
    assert got == {b"first.jpg": oct(0o100644), b"a": oct(0o100644), b"b": oct(0o100644)}
    assert (from_discs / top / "a").read_bytes() == b"a file, kept"
    assert (from_discs / top / "b").read_bytes() == b"b file, kept"


def test_a_file_only_kept_data_saved_replaced_by_a_symlink_on_the_medium_is_named_not_restored(tmp_path, capsys):
    """Root put a symlink to a file of the backup server in place of files only a kept backup
    saved: a restore of the directory from the medium names them as not on the medium any more (exit
    3), where it restored the symlinks in silence, taken for symlinks kept data saved."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    secret = tmp_path / "secret"
    secret.write_bytes(b"of the server")

    def add(root: bytes) -> list[bytes]:
        write_files(root, {b"only.txt": b"kept one", b"d/f": b"kept two"})
        return [os.path.join(root, b"only.txt"), os.path.join(root, b"d/f"), os.path.join(root, b"d")]

    _kept(lab, photos, add)
    kept = lab.store().one("SELECT path FROM backups WHERE status='kept'")["path"]
    there = os.path.join(kept, "data", str(photos).lstrip("/"))
    for rel in ("only.txt", "d/f"):
        os.unlink(os.path.join(there, rel))
        os.symlink(secret, os.path.join(there, rel))
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(out)]) == 3
    said = capsys.readouterr().out
    assert "2 not restored" in said and "not on medium m1 any more" in said, said
    top = os.fsencode(out / str(photos).lstrip("/"))
    assert {rel: kind for rel, kind in _tree(top).items() if kind.startswith("link")} == {}
    kept_name = os.path.basename(kept)
    for n, (rel, how) in enumerate([("d", []), ("only.txt", []), ("d/f", ["--backup", kept_name])]):
        out = tmp_path / f"out{n}"
        code = main(["--config", str(lab.config_path), "restore", "loc", str(photos / rel), "--to", str(out), *how])
        said = capsys.readouterr()
        assert code == (3 if rel == "d" else 1), (rel, said)
        assert "not on medium m1 any more" in said.out + said.err, (rel, said)
        assert not any(kind.startswith("link") for kind in (_tree(os.fsencode(out)) if out.exists() else {}).values())


def test_a_file_only_kept_data_saved_emptied_on_the_medium_is_named_with_its_size(tmp_path, capsys):
    """A file only a kept backup saved, which the medium holds cut short since (a crash): named as
    one of another size than that backup saved, as a standard directory's is, not as gone; the others
    restored (exit 3); alone, the restore fails saying so."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"

    def add(root: bytes) -> list[bytes]:
        write_files(root, {b"d/f": b"kept two", b"d/g": b"fine"})
        return [os.path.join(root, b"d/f"), os.path.join(root, b"d/g"), os.path.join(root, b"d")]

    _kept(lab, photos, add)
    kept = lab.store().one("SELECT name, path FROM backups WHERE status='kept'")
    os.truncate(os.path.join(kept["path"], "data", str(photos).lstrip("/"), "d/f"), 2)
    top = str(photos).lstrip("/")
    why = f"2 bytes on medium m1, where backup {kept['name']} saved 8: not restored as it is there now"
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(tmp_path / "o")]) == 3
    assert f"not restored (file): {top}/d/f: {why}" in capsys.readouterr().out
    assert sorted(_tree(os.fsencode(tmp_path / "o" / top))) == [b"d", b"d/g", b"first.jpg"]
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos / "d/f"), "--to",
                 str(tmp_path / "o2")]) == 1
    assert f"/{top}/d/f: {why}" in capsys.readouterr().err
