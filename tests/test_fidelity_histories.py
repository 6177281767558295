"""Every backup holds exactly what the source held, and a restore gives it back: a property over
generated histories. A source directory (at most 30 entries: files, some empty, some sparse;
directories, setgid among them; symlinks relative, absolute, dangling, their targets of any byte;
FIFOs; hard-link groups of files, of symlinks and of FIFOs; names of any byte, control characters,
U+202E, 255 bytes; odd modes and times, user.* xattrs, ACLs) is backed up over the test sshd, then
changed between backups (content edited keeping size and time, renamed, joined into a hard-link
group, split from one keeping size and time, replaced by another kind and back, chmod, touched,
removed). After each backup the new backup's directory on the medium is the source as it was
(names as bytes, kinds, content, symlink targets, modes, owners, times to the nanosecond, xattrs
and ACLs, which names are one inode) and the older backups are as they were; at the end `rabtui
restore` of the last and of the first backup into an empty directory gives each back the same,
and (some examples) a checkpoint burned onto ISO images and restored from them gives the last.

Where the copy may differ, and only there:
- rsync's quick check (README, "A change within the second is not missed", and `--checksum` under
  transfer options): a file whose size and time (to the nanosecond on a medium that keeps them)
  are those of the last backup's file of that name is taken as unchanged, so the new backup may hold
  that file's content; allowed beside the source's content for the names of such a file (rsync -H
  links a group's names to the one it transfers), and not at all with `--checksum`;
- runs of zeros written as holes (rsync --sparse; osirrox from discs): the same content, fewer blocks;
- times from discs to the second.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
import threading
from pathlib import Path

from hypothesis import Phase, given, settings
from hypothesis import strategies as st
import pytest

from rabtui.checkpoint import prepare, run
from rabtui.events import READY, ScriptedPrompter
from rabtui.media import medium_layout
from rabtui.restore import run as R
from tests import fidelity, fidelity_more, preloaded
from tests.trees import Lab, ssh_source_lines

LIMIT = 30
SPARSE = 1 << 20
NAME_POOL = [b"a", b"b", b"c d", b"\xff\xfe", b"new\nline", b"\x1b[31mred", "\u202egnp.exe".encode(),
             b"x" * 255, b"\xe9" * 255, "\u6f22".encode() * 85, b"-v", b"*?[", b"\\", b" "]
NAMES = st.one_of(st.sampled_from(NAME_POOL),
                  st.binary(min_size=1, max_size=6).filter(lambda n: b"/" not in n and b"\0" not in n
                                                           and n not in (b".", b"..")))
TARGETS = st.one_of(st.sampled_from([b"a", b"../a", b"/etc/passwd", b"nowhere/\xff\x1b", b"\xe2\x80\xaeb",
                                     b"/", b"y" * 255]),
                    st.binary(min_size=1, max_size=12).filter(lambda t: b"\0" not in t))
FILE_MODES = (0o644, 0o600, 0o755, 0o4755, 0o2711, 0o000, 0o444)
DIR_MODES = (0o755, 0o2775, 0o1777, 0o700, 0o555)
# nanoseconds: 1938 (before the epoch), the epoch, 2001, past 2038, 2100
MTIMES = (-1_000_000_000_000_000_000, 0, 1_000_000_000_123_456_789, 2**31 * 10**9 + 5, 4_102_444_800_000_000_000,
          1_700_000_000_000_000_000)
CREATE = ("file", "file", "sparse", "dir", "dir", "symlink", "fifo", "link", "xattr", "acl")
CHANGE = ("edit_keep", "edit_keep", "edit", "rename", "join", "join", "split", "split", "replace", "chmod",
          "touch", "remove", "xattr", "file", "link")
OP = st.tuples(st.integers(0, 99), st.integers(0, 99), NAMES, st.binary(max_size=40), TARGETS,
               st.integers(0, 6), st.sampled_from(MTIMES))


def _entries(root: bytes) -> list[bytes]:
    out = []
    for dirpath, dirs, files in os.walk(root):
        out += [os.path.join(dirpath, n) for n in dirs + files]
    return sorted(out)


def _pick(items: list, i: int):
    return items[i % len(items)] if items else None


def _kind(path: bytes) -> int:
    return stat.S_IFMT(os.lstat(path).st_mode)


def _make(root: bytes, kind: str, parent: bytes, op) -> bytes | None:
    _, _, name, blob, target, mode_i, mtime = op
    path = os.path.join(parent, name)
    if os.path.lexists(path) or len(_entries(root)) >= LIMIT:
        return None
    if kind == "file":
        with open(path, "wb") as f:
            f.write(blob)
        os.chmod(path, FILE_MODES[mode_i % len(FILE_MODES)])
    elif kind == "sparse":
        with open(path, "wb") as f:
            f.write(blob[:8])
            f.truncate(SPARSE)
            f.seek(SPARSE // 2)
            f.write(blob or b"middle")
    elif kind == "dir":
        os.mkdir(path)
        os.chmod(path, DIR_MODES[mode_i % len(DIR_MODES)])
    elif kind == "symlink":
        os.symlink(target, path)
    elif kind == "fifo":
        os.mkfifo(path, FILE_MODES[mode_i % len(FILE_MODES)])
    if kind != "dir":
        os.utime(path, ns=(mtime, mtime), follow_symlinks=False)
    return path


def _apart(path: bytes) -> None:
    """The name made an inode of its own, alike in all else (content, mode, owner, xattrs, times)."""
    st_ = os.lstat(path)
    tmp = os.path.join(os.path.dirname(path), b".apart~")
    if stat.S_ISREG(st_.st_mode):
        shutil.copyfile(path, tmp, follow_symlinks=False)
    elif stat.S_ISLNK(st_.st_mode):
        os.symlink(os.readlink(path), tmp)
    else:
        os.mkfifo(tmp)
    os.chown(tmp, st_.st_uid, st_.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st_.st_mode):
        os.chmod(tmp, stat.S_IMODE(st_.st_mode))
        for key in os.listxattr(path, follow_symlinks=False):
            os.setxattr(tmp, key, os.getxattr(path, key, follow_symlinks=False), follow_symlinks=False)
    os.utime(tmp, ns=(st_.st_atime_ns, st_.st_mtime_ns), follow_symlinks=False)
    os.replace(tmp, path)


def _remove(path: bytes) -> None:
    if _kind(path) == stat.S_IFDIR:
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _apply(root: bytes, verb: str, op) -> None:
    a, b, name, blob, target, mode_i, mtime = op
    everything = _entries(root)
    dirs = [root] + [p for p in everything if _kind(p) == stat.S_IFDIR]
    files = [p for p in everything if _kind(p) == stat.S_IFREG]
    others = [p for p in everything if _kind(p) != stat.S_IFDIR]
    parent = _pick(dirs, b)
    if verb in ("file", "sparse", "dir", "symlink", "fifo"):
        _make(root, verb, parent, op)
    elif verb == "link" and others and len(everything) < LIMIT:
        new = os.path.join(parent, name)
        if not os.path.lexists(new):
            os.link(_pick(others, a), new, follow_symlinks=False)
    elif verb in ("xattr", "acl") and (files or len(dirs) > 1):
        path = _pick(files + dirs[1:], a)
        if verb == "acl":
            os.setxattr(path, "system.posix_acl_access", fidelity.ACCESS_ACL)
            if _kind(path) == stat.S_IFDIR:
                os.setxattr(path, "system.posix_acl_default", fidelity.DEFAULT_ACL)
        elif blob[:1] == b"\0" and os.listxattr(path):
            os.removexattr(path, os.listxattr(path)[0])
        else:
            os.setxattr(path, b"user." + (name[:40] if b"\0" not in name else b"k"), blob)
    elif verb == "edit_keep" and [f for f in files if os.lstat(f).st_size]:
        path = _pick([f for f in files if os.lstat(f).st_size], a)
        st_ = os.lstat(path)
        with open(path, "r+b") as f:
            head = f.read(4)
            f.seek(0)
            f.write(bytes(c ^ 0x5A for c in head))
        os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns))
    elif verb == "edit" and files:
        path = _pick(files, a)
        with open(path, "wb") as f:
            f.write(blob + b"!")
        os.utime(path, ns=(mtime, mtime))
    elif verb == "touch" and others:
        os.utime(_pick(others, a), ns=(mtime, mtime), follow_symlinks=False)
    elif verb == "chmod" and everything:
        path = _pick(everything, a)
        if _kind(path) == stat.S_IFDIR:
            os.chmod(path, DIR_MODES[mode_i % len(DIR_MODES)])
        elif _kind(path) != stat.S_IFLNK:
            os.chmod(path, FILE_MODES[mode_i % len(FILE_MODES)])
    elif verb == "rename" and everything:
        path = _pick(everything, a)
        new = os.path.join(parent, name)
        if not os.path.lexists(new) and not (parent + b"/").startswith(path + b"/"):
            os.rename(path, new)
    elif verb == "join" and len(others) > 1:
        keep, into = _pick(others, a), _pick(others, b)
        if keep != into and _kind(keep) == _kind(into) and os.lstat(keep).st_ino != os.lstat(into).st_ino:
            tmp = os.path.join(os.path.dirname(into), b".join~")
            os.link(keep, tmp, follow_symlinks=False)
            os.replace(tmp, into)
    elif verb == "split":
        linked = [p for p in others if os.lstat(p).st_nlink > 1]
        if linked:
            _apart(_pick(linked, a))
    elif verb == "replace" and everything:
        path = _pick(everything, a)
        was = _kind(path)
        _remove(path)
        kinds = [k for k, t in (("file", stat.S_IFREG), ("symlink", stat.S_IFLNK), ("dir", stat.S_IFDIR),
                                ("fifo", stat.S_IFIFO)) if t != was]
        _make(root, kinds[b % 3], os.path.dirname(path), (a, b, os.path.basename(path), blob, target, mode_i, mtime))
    elif verb == "remove" and everything:
        _remove(_pick(everything, a))


def _dir_times(root: bytes, mtime: int) -> None:
    """Each directory's time set (after their entries changed), the deepest first."""
    for i, path in enumerate(sorted((p for p in _entries(root) if _kind(p) == stat.S_IFDIR), reverse=True)):
        os.utime(path, ns=(mtime + i, mtime + i))
    os.utime(root, ns=(mtime, mtime))


def _look(root) -> tuple[dict, list]:
    return fidelity_more.describe(root, every=True)


def _unlike(want: tuple[dict, list], got: tuple[dict, list], stale: dict[bytes, set] | None = None) -> list[str]:
    """Each way the tree described by `got` is not `want`; `stale`: for a name, the content (sha256)
    the quick check may have kept instead of the source's."""
    (ew, gw), (eg, gg) = want, got
    out = [f"missing {r!r}" for r in sorted(set(ew) - set(eg))] + [f"extra {r!r}" for r in sorted(set(eg) - set(ew))]
    for rel in sorted(set(ew) & set(eg)):
        for key in sorted(set(ew[rel]) | set(eg[rel])):
            w, g = ew[rel].get(key), eg[rel].get(key)
            # runs of zeros written as holes (rsync --sparse, osirrox sparse=): the same content
            if w != g and not (key == "sha" and g in (stale or {}).get(rel, ())) and not (key == "sparse" and g):
                out.append(f"{rel!r} {key}: {w!r} != {g!r}")
    if gw != gg:
        out.append(f"hard links: {gw!r} != {gg!r}")
    return out


def _quick_check(source: tuple[dict, list], last: tuple[dict, list] | None) -> dict[bytes, set]:
    """name -> the content the last backup holds at a name of its inode with its size and time."""
    entries, groups = source
    if last is None:
        return {}
    together = {rel: g for g in groups for rel in g}
    out = {}
    for rel, e in entries.items():
        if "sha" in e:
            kept = {last[0][m]["sha"] for m in together.get(rel, [rel])
                    if "sha" in last[0].get(m, {}) and (last[0][m]["size"], last[0][m]["mtime_ns"]) == (e["size"], e["mtime_ns"])}
            if kept:
                out[rel] = kept
    return out


def _from_discs(lab: Lab, cfg, data: str, into: Path) -> tuple[dict, list]:
    """A checkpoint of the newest backup burned onto ISO images, restored from them into `into`."""
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    burned = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                 prompter=ScriptedPrompter(lambda q: READY))
    assert burned.status == "completed", burned.message
    got = R.restore(cfg, store, "web", data, checkpoint=number, to=into)
    assert not got.written.problems(), got.summary
    return fidelity_more.describe(into / data.lstrip("/"), every=True, seconds=True)


def _seconds(tree: tuple[dict, list]) -> tuple[dict, list]:
    return {rel: {**e, "mtime_ns": e["mtime_ns"] // 10**9} for rel, e in tree[0].items()}, tree[1]


def _restore(lab: Lab, data: str, backup: str, into: Path) -> tuple[dict, list]:
    done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "restore", "--backup",
                          backup, "web", data, "--to", str(into)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return _look(into / data.lstrip("/"))


# few examples, no shrinking: each backup over the sshd takes 1.3 s or more (four rsync runs over
# ssh); about 10 s in all on a quiet machine. 110 random examples (histories of up to 5 backups) passed
# when this was written.
@pytest.mark.slow      # tens of seconds: handed out first (conftest)
@settings(max_examples=5, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(first=st.lists(st.tuples(st.sampled_from(CREATE), OP), min_size=3, max_size=16),
       rounds=st.lists(st.lists(st.tuples(st.sampled_from(CHANGE), OP), min_size=1, max_size=5), min_size=1, max_size=2),
       dir_mtime=st.sampled_from(MTIMES), discs=st.booleans(), checksum=st.booleans())
def test_each_backup_holds_the_source_and_restores_give_it_back(sshd, first, rounds, dir_mtime, discs, checksum):
    with tempfile.TemporaryDirectory(prefix="fh") as scratch:
        lab = Lab(Path(scratch), media_count=1)
        lab.trust(sshd)
        data = lab.src / "data"
        data.mkdir()
        root = os.fsencode(data)
        os.chmod(root, 0o2755)
        cfg = lab.write(ssh_source_lines(sshd) + ('rsync_options = ["--checksum"]\n' if checksum else "")
                        + f'[[sources.directories]]\npath = "{data}"\nallow_empty = true\n'
                        f'[checkpoint]\ndisc = "dvd+r"\ndrive = "images:{lab.tmp / "iso"}"\n')
        backups: list[tuple[str, Path, tuple]] = []
        for n, ops in enumerate([first, *rounds]):
            for verb, op in ops:
                _apply(root, verb, op)
            _dir_times(root, dir_mtime + n)
            source = _look(root)
            result = lab.backup(cfg, "web", medium_id="m1")
            assert (result.status, result.exit_code) == ("completed", 0), result.reason
            copy = medium_layout.backup_data_path(result.path, str(data))
            held = _look(copy)
            last = backups[-1][2] if backups else None
            # the quick check's stale content, not with --checksum
            assert _unlike(source, held, _quick_check(source, None if checksum else last)) == [], n
            for name, older, was in backups:
                assert _unlike(was, _look(older)) == [], f"{name} changed by backup {n}"
            backups.append((result.path.name, copy, held))
        for i in sorted({0, len(backups) - 1}):
            name, _, held = backups[i]
            assert _unlike(held, _restore(lab, str(data), name, Path(scratch) / f"restored{i}")) == [], name
        if discs:       # times to the second (README: "From discs the same, times to the second")
            assert _unlike(_seconds(backups[-1][2]), _from_discs(lab, cfg, str(data), Path(scratch) / "discs")) == []
