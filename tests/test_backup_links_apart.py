"""Hard links a source broke since the last backup, each name keeping its size and time: rsync
(3.5.0) `-H --link-dest` links each unchanged name to its counterpart in the base, and names that
were one file there would be one file in the new backup too (and linked again by every restore).
The new backup holds exactly the links the source has; everything else unchanged stays linked to
the base."""

from __future__ import annotations

import contextlib
import json
import stat
import os
import re
import sqlite3
from pathlib import Path

import pytest

from rabtui import faults
from rabtui.media import medium_layout
from rabtui.restore import run as R
from tests.trees import Lab, write_files


def _ino(path) -> int:
    return os.lstat(path).st_ino


def _held(root) -> dict:
    """Each entry below `root` (a backup): its inode, type, mode, owner, mtime, size, device,
    content or target and xattrs (not its link count: a new backup links to it; nor its access time:
    any reading sets it, and a backup does not hold it)."""
    out = {}
    for dirpath, dirs, files, fd in os.fwalk(os.fsencode(root)):
        for name in dirs + files:
            st = os.lstat(name, dir_fd=fd)
            if stat.S_ISLNK(st.st_mode):
                what = os.readlink(name, dir_fd=fd)
            elif stat.S_ISREG(st.st_mode):
                with open(os.open(name, os.O_RDONLY, dir_fd=fd), "rb") as f:
                    what = f.read()
            else:
                what = None
            attrs = sorted((k, os.getxattr(f"/proc/self/fd/{fd}/{os.fsdecode(name)}", k, follow_symlinks=False))
                           for k in os.listxattr(f"/proc/self/fd/{fd}/{os.fsdecode(name)}", follow_symlinks=False))
            out[os.path.join(dirpath, name)] = (st.st_ino, st.st_mode, st.st_uid, st.st_gid,
                                                st.st_mtime_ns, st.st_size, st.st_rdev, what, attrs)
    return out


def _apart(path) -> None:
    """The name made a file of its own, its content, owner, mode, xattrs and times kept (cp -a, then mv)."""
    st = os.lstat(path)
    tmp = path.with_name(path.name + ".t")
    tmp.write_bytes(path.read_bytes())
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, st.st_mode & 0o7777)
    for key in os.listxattr(path):
        os.setxattr(tmp, key, os.getxattr(path, key))
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, path)


def test_links_broken_on_the_source_are_apart_in_the_next_backup(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local([("data", "standard")])
    src = lab.src / "data"
    write_files(src, {"a": b"alpha", "c": b"charlie", "e": b"echo", "f": b"foxtrot", "sub/x": b"x-ray"})
    os.link(src / "a", src / "b")
    os.link(src / "c", src / "d")
    os.link(src / "f", src / "g")
    os.link(src / "f", src / "sub/h")
    os.chown(src / "a", 1234, 5678)
    os.chmod(src / "a", 0o4750)
    os.setxattr(src / "a", "user.note", b"kept")
    first = lab.backup(cfg, medium_id="m1")
    assert first.status == "completed"
    d1 = medium_layout.backup_data_path(first.path, str(src))
    assert _ino(d1 / "a") == _ino(d1 / "b") and _ino(d1 / "f") == _ino(d1 / "sub/h")
    held = _held(first.path)

    _apart(src / "a")            # a and b: two files now
    _apart(src / "f")            # f alone; g and sub/h still one file
    os.link(src / "e", src / "e2")   # a new name of a file the base holds alone
    second = lab.backup(cfg, medium_id="m1")
    assert (second.status, second.exit_code) == ("completed", 0)
    d2 = medium_layout.backup_data_path(second.path, str(src))
    assert _ino(d2 / "a") != _ino(d2 / "b")
    assert _ino(d2 / "f") != _ino(d2 / "g") and _ino(d2 / "g") == _ino(d2 / "sub/h")
    assert _ino(d2 / "c") == _ino(d2 / "d") == _ino(d1 / "c")
    assert _ino(d2 / "e") == _ino(d2 / "e2") == _ino(d1 / "e")
    assert _ino(d2 / "sub/x") == _ino(d1 / "sub/x")
    # one name of each file that was joined stays linked to the base: only the others were copied
    assert {_ino(d2 / "a"), _ino(d2 / "b")} & {_ino(d1 / "a")}
    assert {_ino(d2 / "f"), _ino(d2 / "g")} & {_ino(d1 / "f")}
    for name in ("a", "b", "f", "g"):
        s, b = os.lstat(src / name), os.lstat(d2 / name)
        assert (b.st_mode, b.st_uid, b.st_gid, b.st_mtime_ns, b.st_size) == (
            s.st_mode, s.st_uid, s.st_gid, s.st_mtime_ns, s.st_size), name
        assert (d2 / name).read_bytes() == (src / name).read_bytes()
        assert sorted(os.listxattr(d2 / name)) == sorted(os.listxattr(src / name)), name
    assert os.getxattr(d2 / "a", "user.note") == os.getxattr(d2 / "b", "user.note") == b"kept"
    assert sorted(os.listdir(d2)) == ["a", "b", "c", "d", "e", "e2", "f", "g", "sub"]
    info = json.loads((second.path / "backup.json").read_text())
    assert info["directories"][0]["hard_links"] == 3        # d, e2 and one of g, sub/h
    assert _held(first.path) == held and os.lstat(d2).st_mtime_ns == os.lstat(src).st_mtime_ns

    target = tmp_path / "restored"
    R.restore(cfg, lab.store(), "loc", str(src), backup=second.path.name, to=target)
    back = target / str(src).lstrip("/")
    assert _ino(back / "a") != _ino(back / "b") and _ino(back / "f") != _ino(back / "g")
    assert _ino(back / "c") == _ino(back / "d") and _ino(back / "g") == _ino(back / "sub/h")

    # the next backup from that one: the links it holds stay, nothing else is copied
    _apart(src / "c")
    third = lab.backup(cfg, medium_id="m1")
    assert third.status == "completed"
    d3 = medium_layout.backup_data_path(third.path, str(src))
    assert _ino(d3 / "c") != _ino(d3 / "d") and _ino(d3 / "g") == _ino(d3 / "sub/h") == _ino(d2 / "g")
    for name in ("a", "b", "e", "e2", "f", "sub/x"):
        assert _ino(d3 / name) == _ino(d2 / name), name


@pytest.mark.parametrize("point", faults.LINKS_APART_POINTS)
def test_killed_while_links_are_made_apart(tmp_path, point):
    """Killed before a copy, or with a node made under a temporary name beside each of its names
    (s and sub/t, made apart from u, v and w): every name is in the partial backup, which the next
    run throws away (`check` says the run died meanwhile); the backup it makes holds them apart, no
    temporary name in it."""
    from tests.test_kill_anywhere import _killed, rabtui

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    src = lab.src / "data"
    names = ("s", "sub/t", "u", "v", "w")
    os.mkdir(src / "sub")
    os.symlink("t", src / "s")
    for name in names[1:]:
        os.link(src / "s", src / name, follow_symlinks=False)
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    _made_again(src / "s", lambda tmp: os.symlink("t", tmp))
    os.unlink(src / "sub/t")
    os.link(src / "s", src / "sub/t", follow_symlinks=False)
    _killed(rabtui(lab, "backup", "loc", point=point))
    killed = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert killed["status"] == "running"
    held = medium_layout.backup_data_path(killed["path"], str(src))
    assert all(os.readlink(held / n) == "t" for n in names)
    if point == "backup.links_apart_made":       # a temporary name beside each, none renamed yet
        assert all(len([n for n in os.listdir(held / d) if n.startswith(".rabtui-")]) == 1 for d in (".", "sub"))
        checked = rabtui(lab, "check")
        assert checked.returncode == 2 and "(backup of loc) died" in checked.stdout, checked.stdout
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    store = lab.store()
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "abandoned"
    assert not Path(killed["path"]).exists()
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    d = medium_layout.backup_data_path(newest["path"], str(src))
    assert sorted(os.listdir(d)) == ["s", "sub", "u", "v", "w"] and os.listdir(d / "sub") == ["t"]
    assert _ino(d / "s") == _ino(d / "sub/t") != _ino(d / "u") == _ino(d / "v") == _ino(d / "w")


def test_over_ssh_with_names_that_look_like_rsyncs_own_words(tmp_path, sshd):
    """Names holding " => " (rsync's word for a link), a newline and a byte that is no UTF-8, one
    starting with "#" (a comment to --files-from)."""
    from tests.trees import ssh_source_lines

    lab = Lab(tmp_path, media_count=1)
    src = lab.src / "data"
    src.mkdir()
    cfg = lab.write(ssh_source_lines(sshd) + f'\n[[sources.directories]]\npath = "{src}"\n')
    lab.trust(sshd)
    s = os.fsencode(src)
    p, q, odd, m, odd2, hashed = b"p", b"p => q", b"n\xff\nl => p", b"m", b"q", b"#p"
    write_files(src, {p: b"one file"})
    for name in (q, odd, m, odd2, hashed):
        os.link(os.path.join(s, p), os.path.join(s, name))
    assert lab.backup(cfg, "web", medium_id="m1").status == "completed"
    _apart(src / os.fsdecode(q))        # "p => q" alone; the others one file still
    _apart(src / "m")                   # "m" alone
    second = lab.backup(cfg, "web", medium_id="m1")
    assert (second.status, second.exit_code) == ("completed", 0), second.reason
    d = os.fsencode(medium_layout.backup_data_path(second.path, str(src)))
    ino = {name: os.lstat(os.path.join(d, name)).st_ino for name in (p, q, odd, m, odd2, hashed)}
    assert ino[p] == ino[odd] == ino[odd2] == ino[hashed]
    assert len({ino[p], ino[q], ino[m]}) == 3


def test_names_rsync_would_read_as_comments_stay_linked(tmp_path):
    """rsync drops a --files-from name that starts with "#" or ";" as a comment: unlisted, those
    names were taken for files of their own and copied apart from names the source links them to."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    src = lab.src / "data"
    write_files(src, {"a": b"alpha", "sub/x": b"x-ray"})
    for name in ("#b", ";c", "sub/#d"):
        os.link(src / "a", src / name)
    os.link(src / "sub/x", src / "#x#")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    second = lab.backup(cfg, medium_id="m1")
    assert (second.status, second.exit_code) == ("completed", 0), second.reason
    d = medium_layout.backup_data_path(second.path, str(src))
    assert _ino(d / "a") == _ino(d / "#b") == _ino(d / ";c") == _ino(d / "sub/#d")
    assert _ino(d / "sub/x") == _ino(d / "#x#")



def test_cancelled_while_links_are_made_apart(tmp_path):
    """SIGTERM between two copies (a copy may be of gigabytes): the run stops there, cancelled, and
    is not completed with copies it went on making."""
    import signal
    import time
    from tests.test_medium_identity import _killed, _stopped, _stopped_at

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    src = lab.src / "data"
    write_files(src, {"a": b"alpha", "c": b"charlie"})
    os.link(src / "a", src / "b")
    os.link(src / "c", src / "d")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    _apart(src / "a")
    _apart(src / "c")
    run = _stopped_at(lab, "backup.links_apart", "backup", "loc")
    went_on = 0
    try:
        run.send_signal(signal.SIGTERM)
        run.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 60
        while run.poll() is None and time.monotonic() < deadline:
            try:
                if _stopped(run.pid):           # at the next copy's point: it went on
                    went_on += 1
                    run.send_signal(signal.SIGCONT)
            except FileNotFoundError:           # it ended between the poll and the look
                pass
            time.sleep(0.02)
        out = run.communicate(timeout=60)[0].decode()
    finally:
        _killed(run)
    assert (went_on, run.returncode) == (0, 1), out
    row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert row["status"] != "completed", out
    held = medium_layout.backup_data_path(row["path"], str(src))
    assert {_ino(held / "a"), _ino(held / "b")} & {_ino(held / "c"), _ino(held / "d")} == set()
    assert _ino(held / "a") == _ino(held / "b") or _ino(held / "c") == _ino(held / "d")   # one copy, not two


def test_the_listing_reads_no_content():
    """The dry run that lists the source's hard links reads no file: with the source's `--checksum`
    it read every listed file whole again (files of many names are often the largest)."""
    from rabtui.backup import transfer
    from rabtui.config import Directory, Source

    std = Directory("/vm")
    source = Source("web", (std,), host="web1", rsync_options=("-c", "--compress", "--checksum"))
    argv = transfer.directory_argv(source, std, "/m/x", rsh="ssh", link_dest=None, compare_dest=None,
                                   rsync_path="/usr/bin/rsync", files_from="-", listing=True)
    assert "-n" in argv and "--compress" in argv
    assert "-c" not in argv and "--checksum" not in argv


def test_names_too_long_for_rsync_to_say_leave_the_others_listed(tmp_path):
    """rsync stops ("buffer overflow expanding %L") on a line of a name and its first of more than
    5 KiB: the listing failed for the whole directory, at every backup while those names are there,
    and no name there was made apart."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    src = lab.src / "data"
    s = os.fsencode(src)
    deep = b"/".join([b"d" * 200] * 12)
    one, two = deep + b"/" + b"\xfe" * 190, deep + b"/" + b"\xfd" * 190     # 2,602 bytes each
    write_files(src, {one: b"long", b"a": b"alpha"})
    os.link(os.path.join(s, one), os.path.join(s, two))
    os.link(src / "a", src / "b")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    _apart(src / "a")
    second = lab.backup(cfg, medium_id="m1")
    assert (second.status, second.exit_code) == ("completed", 0), second.reason
    d = os.fsencode(medium_layout.backup_data_path(second.path, str(src)))
    ino = lambda rel: os.lstat(os.path.join(d, rel)).st_ino     # noqa: E731
    assert ino(b"a") != ino(b"b")
    assert ino(one) == ino(two)         # left as rsync made them: one file, as on the source


def test_names_gone_from_the_source_before_the_listing_are_not_copied(tmp_path):
    """Names the source no longer holds when rsync lists them (removed after the transfer): nothing
    says they are apart there, and a copy each (of a large file of many names) could fill the medium."""
    lab = Lab(tmp_path, media_count=1)
    wrapper = tmp_path / "rsync-then-gone"        # the source changes between the transfer and the listing
    wrapper.write_text(f'#!/bin/sh\nfor a in "$@"; do [ "$a" = "-n" ] && rm -rf {lab.src}/data/gone; done\n'
                       'exec rsync "$@"\n')
    wrapper.chmod(0o755)
    cfg = lab.local([("data", "standard")], extra=f'rsync_path = "{wrapper}"')
    src = lab.src / "data"
    write_files(src, {"a": b"alpha", "c": b"charlie"})
    (src / "gone").mkdir()
    for i in range(3):
        os.link(src / "a", src / f"gone/a{i}")
    os.link(src / "c", src / "d")
    assert lab.backup(cfg, medium_id="m1").status == "completed"      # no listing: no base
    _apart(src / "c")
    second = lab.backup(cfg, medium_id="m1")
    assert second.status == "completed", second.reason
    d = medium_layout.backup_data_path(second.path, str(src))
    assert _ino(d / "a") == _ino(d / "gone/a0") == _ino(d / "gone/a1") == _ino(d / "gone/a2")
    assert _ino(d / "c") != _ino(d / "d")


def _made_again(path, make) -> None:
    """The name made a node of its own (`make(tmp)`), owner, mode and time kept, put in its place."""
    st = os.lstat(path)
    tmp = path.with_name(path.name + ".t")
    make(tmp)
    os.chown(tmp, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(tmp, st.st_mode & 0o7777)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    os.replace(tmp, path)


def test_symlinks_and_special_files_broken_apart_on_the_source(tmp_path):
    """rsync (3.5.0) `-H --link-dest` links symlinks, FIFOs, sockets and device nodes to the base's
    as it does files: names the source made nodes of their own since were one in the backup."""
    import socket

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    src = lab.src / "data"
    os.symlink("target -> x", src / "s1")
    os.mkfifo(src / "f1", 0o640)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "k1"))
    os.mknod(src / "c1", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.chown(src / "s1", 1234, 5678, follow_symlinks=False)
    os.symlink("q -> r", src / "p")                 # "p -> q -> r" as rsync prints either
    os.symlink("r", src / "p -> q")
    os.link(src / "p", src / "p2", follow_symlinks=False)
    os.link(src / "p -> q", src / "pq2", follow_symlinks=False)
    for first in ("s1", "f1", "k1", "c1"):
        for other in ("2", "3 -> x"):
            os.link(src / first, src / (first[0] + other), follow_symlinks=False)
    os.setxattr(src / "f1", "trusted.note", b"kept")
    base = lab.backup(cfg, medium_id="m1")
    assert base.status == "completed"
    held = _held(base.path)
    _made_again(src / "s2", lambda tmp: os.symlink("target -> x", tmp))
    _made_again(src / "pq2", lambda tmp: os.symlink("r", tmp))
    _made_again(src / "f2", lambda tmp: (os.mkfifo(tmp), os.setxattr(tmp, "trusted.note", b"kept")))
    _made_again(src / "k2", lambda tmp: os.mknod(tmp, stat.S_IFSOCK | 0o600))
    _made_again(src / "c2", lambda tmp: os.mknod(tmp, stat.S_IFCHR | 0o600, os.makedev(1, 3)))
    second = lab.backup(cfg, medium_id="m1")
    assert (second.status, second.exit_code) == ("completed", 0), second.reason
    d = medium_layout.backup_data_path(second.path, str(src))
    for kind in "sfkc":
        one, two, three = (d / f"{kind}1", d / f"{kind}2", d / f"{kind}3 -> x")
        assert _ino(one) == _ino(three) != _ino(two), kind
        s, b = os.lstat(src / f"{kind}2"), os.lstat(two)
        assert (b.st_mode, b.st_uid, b.st_gid, b.st_mtime_ns, b.st_rdev) == (
            s.st_mode, s.st_uid, s.st_gid, s.st_mtime_ns, s.st_rdev), kind
    assert os.readlink(d / "s2") == "target -> x"
    assert _ino(d / "p") == _ino(d / "p2") and _ino(d / "p -> q") != _ino(d / "pq2")
    info = json.loads((second.path / "backup.json").read_text())
    assert info["directories"][0]["hard_links"] == 5
    assert os.getxattr(d / "f2", "trusted.note") == b"kept"
    assert os.lstat(d).st_mtime_ns == os.lstat(src).st_mtime_ns       # the directory's time kept
    assert _held(base.path) == held         # the base's nodes untouched


def test_a_listing_that_fails_says_why(tmp_path):
    """The source's directory taken away between the transfer and the listing of its hard links:
    rsync cannot list them (exit 3), and the backup's warning carries its reason."""
    lab = Lab(tmp_path, media_count=1)
    wrapper = tmp_path / "rsync-then-away"
    wrapper.write_text(f'#!/bin/sh\nfor a in "$@"; do [ "$a" = "-n" ] && mv {lab.src}/data {lab.src}/away; done\n'
                       'exec rsync "$@"\n')
    wrapper.chmod(0o755)
    cfg = lab.local([("data", "standard")], extra=f'rsync_path = "{wrapper}"')
    src = lab.src / "data"
    write_files(src, {"a": b"alpha"})
    os.link(src / "a", src / "b")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    second = lab.backup(cfg, medium_id="m1")
    assert second.status == "warnings", second.reason
    warned = [m for m in lab.messages() if "could not be listed on the source" in m]
    assert warned and all(f'change_dir "{src}/" failed: No such file or directory' in m and "\n" not in m
                          for m in warned), warned
    info = json.loads((second.path / "backup.json").read_text())
    assert info["directories"][0]["hard_links"] is None       # the next backup looks again


def test_symlinks_joined_after_a_base_whose_record_counted_files_only(tmp_path):
    """A base recorded before symlinks and special files were counted says 0 hard links where it
    holds only linked symlinks: the next backup looks at its copy all the same."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    src = lab.src / "data"
    os.symlink("t", src / "s1")
    os.link(src / "s1", src / "s2", follow_symlinks=False)
    first = lab.backup(cfg, medium_id="m1")
    info = json.loads((first.path / "backup.json").read_text())
    assert info["directories"][0]["hard_links"] == 1
    info["directories"][0]["hard_links"] = 0          # as written then
    info["directories"][0].pop("hard_links_all", None)
    (first.path / "backup.json").write_text(json.dumps(info))
    _made_again(src / "s2", lambda tmp: os.symlink("t", tmp))
    second = lab.backup(cfg, medium_id="m1")
    assert (second.status, second.exit_code) == ("completed", 0), second.reason
    d = medium_layout.backup_data_path(second.path, str(src))
    assert _ino(d / "s1") != _ino(d / "s2")


def test_symlinks_of_odd_or_long_targets_over_ssh(tmp_path, sshd):
    """Symlinks whose target holds a newline, a tab, " -> " or bytes that are no UTF-8, of 4,000
    bytes, or named with 255 bytes, made apart on the source, are made apart in the backup. A
    symlink's name and target of more than 5 KiB between them stopped rsync's listing ("buffer
    overflow expanding %L") of the whole directory at every backup: it is left as rsync made it."""
    from tests.trees import ssh_source_lines

    lab = Lab(tmp_path, media_count=1)
    src = lab.src / "data"
    src.mkdir()
    cfg = lab.write(ssh_source_lines(sshd) + f'\n[[sources.directories]]\npath = "{src}"\n')
    lab.trust(sshd)
    s = os.fsencode(src)
    deep = b"/".join([b"e" * 200] * 8)
    targets = {b"nl": b"a\nb", b"tab": b"a\tb", b"arrow -> x": b"x -> y", b"bytes": b"\xff\xfe\n",
               b"long": b"t" * 4000, b"n" * 255: b"z", deep + b"/long": b"u" * 4000}
    os.makedirs(os.path.join(s, deep))
    two = lambda name: os.path.join(s, name[:250] + b"2")     # noqa: E731
    for name, target in targets.items():
        os.symlink(target, os.path.join(s, name))
        os.link(os.path.join(s, name), two(name), follow_symlinks=False)
    write_files(src, {"a": b"alpha"})
    os.link(src / "a", src / "b")
    base = lab.backup(cfg, "web", medium_id="m1")
    assert base.status == "completed"
    held = _held(base.path)
    for name, target in targets.items():
        _made_again(Path(os.fsdecode(two(name))), lambda tmp, t=target: os.symlink(t, tmp))
    _apart(src / "b")
    second = lab.backup(cfg, "web", medium_id="m1")
    assert (second.status, second.exit_code) == ("completed", 0), second.reason
    d = os.fsencode(medium_layout.backup_data_path(second.path, str(src)))
    joined = [name for name in targets if os.lstat(os.path.join(d, name)).st_ino ==
              os.lstat(os.path.join(d, name[:250] + b"2")).st_ino]
    assert joined == [deep + b"/long"]
    assert all(os.readlink(os.path.join(d, name[:250] + b"2")) == t for name, t in targets.items())
    assert _ino(Path(os.fsdecode(d)) / "a") != _ino(Path(os.fsdecode(d)) / "b")
    assert _held(base.path) == held


def test_a_node_the_backup_cannot_make_is_said_and_left_joined(tmp_path):
    """A backup run without CAP_MKNOD (as in a user namespace) cannot make a device node anew: the
    one the source made apart stays one file with its other name in the backup, said by name; the
    others are made apart, no temporary name is left, and the next backup looks again."""
    import subprocess
    import sys

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    src = lab.src / "data"
    write_files(src, {"a": b"alpha"})
    os.link(src / "a", src / "b")
    os.mknod(src / "c1", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.link(src / "c1", src / "c2")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    _apart(src / "b")
    _made_again(src / "c2", lambda tmp: os.mknod(tmp, stat.S_IFCHR | 0o600, os.makedev(1, 3)))
    run = subprocess.run(["setpriv", "--bounding-set=-mknod", "--inh-caps=-mknod", sys.executable, "-m", "rabtui",
                          "--config", str(lab.config_path), "backup", "loc"], capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL,
                         env={k: v for k, v in os.environ.items() if k != faults.ENV})
    out = run.stdout + run.stderr
    assert run.returncode == 3 and "Traceback" not in out, out
    assert "could not be made apart" in out and re.search(r"\): c[12]: Operation not permitted", out), out
    row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert row["status"] == "warnings"
    d = medium_layout.backup_data_path(row["path"], str(src))
    assert sorted(os.listdir(d)) == ["a", "b", "c1", "c2"]
    assert _ino(d / "a") != _ino(d / "b") and _ino(d / "c1") == _ino(d / "c2")
    info = json.loads((Path(row["path"]) / "backup.json").read_text())
    assert info["directories"][0]["hard_links"] is None       # the next backup looks again


def test_symlinks_changed_on_the_source_before_the_listing(tmp_path):
    """Between rsync's transfer and its listing, symlinks made apart on the source become a FIFO, a
    directory, a regular file, or go: every name stays in the backup as rsync copied it (a symlink
    to its target), made apart only where the listing says it is a file of its own there."""
    lab = Lab(tmp_path, media_count=1)
    src = lab.src / "data"
    wrapper = tmp_path / "rsync-then-changed"
    wrapper.write_text(f'#!/bin/sh\nfor a in "$@"; do [ "$a" = "-n" ] && cd {src} && rm s2 s3 s4 s5 && mkfifo s2'
                       ' && mkdir s3 && echo x > s4; done\nexec rsync "$@"\n')
    wrapper.chmod(0o755)
    cfg = lab.local([("data", "standard")], extra=f'rsync_path = "{wrapper}"')
    os.symlink("t", src / "s1")
    for n in "2345":
        os.link(src / "s1", src / f"s{n}", follow_symlinks=False)
    base = lab.backup(cfg, medium_id="m1")        # no listing: no base
    assert base.status == "completed"
    for n in "2345":
        _made_again(src / f"s{n}", lambda tmp: os.symlink("t", tmp))
    second = lab.backup(cfg, medium_id="m1")
    assert (second.status, second.exit_code) == ("completed", 0), second.reason
    d = medium_layout.backup_data_path(second.path, str(src))
    assert sorted(os.listdir(d)) == ["s1", "s2", "s3", "s4", "s5"]
    assert all(os.readlink(d / f"s{n}") == "t" for n in "12345")
    ino = {n: _ino(d / f"s{n}") for n in "12345"}
    # those listed apart, each a node of its own; those not listed left with the one kept
    assert len({ino["1"], ino["2"], ino["4"]}) == 3 and ino["3"] == ino["5"] in {ino["1"], ino["2"], ino["4"]}, ino


def test_made_apart_in_a_read_only_directory_as_an_unprivileged_user(tmp_path):
    """rabtui run as a user of its own (README): a directory the source holds read-only is so in
    the backup once rsync ends, and every name made apart in it failed (permission denied, at each
    backup). It is opened for the while and given back its mode, as its times."""
    import shutil
    import subprocess
    import sys
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="rabtui-links-", dir="/tmp"))     # pytest's own are private
    try:
        top.chmod(0o755)
        lab = Lab(top, media_count=1)
        cfg = lab.local([("data", "standard")])
        src = lab.src / "data"
        write_files(src, {"ro/a": b"alpha"})
        os.link(src / "ro/a", src / "ro/b")
        os.symlink("t", src / "ro/s1")
        os.link(src / "ro/s1", src / "ro/s2", follow_symlinks=False)
        os.utime(src / "ro", ns=(1_000_000_000_123_456_789, 1_000_000_000_123_456_789))

        def backup() -> subprocess.CompletedProcess:
            for dirpath, dirs, files in os.walk(top):
                for name in [dirpath, *(os.path.join(dirpath, n) for n in dirs + files)]:
                    os.chown(name, 65534, 65534, follow_symlinks=False)
            os.chmod(src / "ro", 0o555)
            os.utime(src / "ro", ns=(1_000_000_000_123_456_789, 1_000_000_000_123_456_789))
            return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
                                   "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                                  capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                                  env={**{k: v for k, v in os.environ.items() if k != faults.ENV}, "HOME": str(top)})
        os.chmod(src / "ro", 0o555)
        assert lab.backup(cfg, medium_id="m1").status == "completed"     # the base: as root, quicker
        os.chmod(src / "ro", 0o755)
        _apart(src / "ro/b")
        _made_again(src / "ro/s2", lambda tmp: os.symlink("t", tmp))
        second = backup()
        assert second.returncode == 0, second.stdout + second.stderr
        # (read, not opened as a Store: root uses no state directory of another user's)
        with contextlib.closing(sqlite3.connect(f"file:{lab.state / 'rabtui.db'}?mode=ro", uri=True)) as db:
            (path,) = db.execute("SELECT path FROM backups ORDER BY id DESC LIMIT 1").fetchone()
        d = medium_layout.backup_data_path(path, str(src))
        assert _ino(d / "ro/a") != _ino(d / "ro/b") and _ino(d / "ro/s1") != _ino(d / "ro/s2")
        st = os.lstat(d / "ro")
        assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (0o555, 1_000_000_000_123_456_789)
    finally:
        for dirpath, dirs, _files in os.walk(top):
            for name in dirs:
                os.chmod(os.path.join(dirpath, name), 0o755, follow_symlinks=False)
        shutil.rmtree(top)


def test_directories_keep_their_times_where_names_are_made_apart(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local([("data", "standard")])
    src = lab.src / "data"
    write_files(src, {"a": b"alpha", "sub/f": b"foxtrot"})
    os.link(src / "a", src / "b")
    os.link(src / "sub/f", src / "sub/g")
    os.symlink("to", src / "sub/s")
    os.link(src / "sub/s", src / "t", follow_symlinks=False)
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    _apart(src / "a")
    _apart(src / "sub/f")
    _made_again(src / "t", lambda tmp: os.symlink("to", tmp))
    for d, t in ((src / "sub", 1_000_000_000_123_456_789), (src, 946_684_800_000_000_000)):
        os.utime(d, ns=(t, t))
    second = lab.backup(cfg, medium_id="m1")
    assert (second.status, second.exit_code) == ("completed", 0)
    d2 = medium_layout.backup_data_path(second.path, str(src))
    assert _ino(d2 / "a") != _ino(d2 / "b") and _ino(d2 / "sub/f") != _ino(d2 / "sub/g") != _ino(d2 / "t")
    # the names put in place left the directories' times as rsync set them: the source's
    assert [os.lstat(d2 / d).st_mtime_ns for d in (".", "sub")] == [os.lstat(src / d).st_mtime_ns for d in (".", "sub")]
