"""Restore a file or directory of a source from a backup on a medium or from a checkpoint disc,
into a local directory (`--to DIR`, the original path below it) or back onto the source.

Safety: names are bytes and are checked one component at a time (no `..`, no absolute names,
no NUL); before each write, the real path of the parent directory must lie inside the target (a
symlink restored earlier, or one already in the target, cannot lead outside); an existing file is
never replaced without `overwrite` (and then the new file goes in by rename, never through a
symlink). Modes and times are kept, ownership too when running as root, hard links inside the
restored tree are kept as hard links.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rabtui import proc
from rabtui.catalog import rel_path
from rabtui.config import Config, Source
from rabtui.errors import UsageError, WorkFailed
from rabtui.events import ABORT, LOG, READY, Emit, Event, Question, no_emit
from rabtui.restore_disc import (  # noqa: F401  (the disc side of restore, re-exported)
    PART_RE, disc_volid, extract_from_checkpoint, parse_volid, xorriso_extract_argv, xorriso_volid_argv,
)
from rabtui.store import KEPT, RESTORABLE, RESTORABLE_SQL, Store


# --- path safety --------------------------------------------------------------------------------


def check_name(rel: bytes) -> bytes:
    """A relative name to write below a target: no absolute path, no `..`, no NUL, not empty."""
    if not rel or rel.startswith(b"/") or b"\0" in rel:
        raise WorkFailed(f"refusing to restore the unsafe name {os.fsdecode(rel)!r}")
    parts = rel.split(b"/")
    if any(p in (b"..", b".", b"") for p in parts):
        raise WorkFailed(f"refusing to restore the unsafe name {os.fsdecode(rel)!r}")
    return rel


def _inside(root_real: bytes, path: bytes) -> bool:
    return path == root_real or path.startswith(root_real.rstrip(b"/") + b"/")


@dataclass
class Written:
    files: int = 0
    dirs: int = 0
    links: int = 0
    bytes: int = 0
    skipped: list[bytes] = field(default_factory=list)


class SafeWriter:
    """Copies entries of a source tree into `root`, refusing anything that would land outside."""

    def __init__(self, root: str | bytes | os.PathLike, overwrite: bool = False):
        self.root = os.fsencode(root)
        os.makedirs(self.root, exist_ok=True)
        self.root_real = os.path.realpath(self.root)
        self.overwrite = overwrite
        self.as_root = os.geteuid() == 0
        self.inodes: dict[tuple[int, int], bytes] = {}
        self.result = Written()

    def dest(self, rel: bytes) -> bytes:
        check_name(rel)
        dest = os.path.join(self.root, rel)
        parent = os.path.realpath(os.path.dirname(dest))
        if not _inside(self.root_real, parent):
            raise WorkFailed(f"refusing to write {os.fsdecode(dest)}: it leads outside "
                             f"{os.fsdecode(self.root)} (through a symlink)")
        return dest

    def conflicts(self, src_root: bytes, rels: list[bytes]) -> list[bytes]:
        out = []
        for rel in rels:
            d = os.path.join(self.root, rel)
            try:
                st = os.lstat(d)
            except FileNotFoundError:
                continue
            s = os.lstat(os.path.join(src_root, rel))
            if stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(s.st_mode):
                continue
            out.append(rel)
        return out

    def _meta(self, path: bytes, st: os.stat_result, is_link: bool = False) -> None:
        if self.as_root:
            try:
                os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)
            except OSError:
                pass
        if not is_link:
            os.chmod(path, stat.S_IMODE(st.st_mode))
        try:
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        except (OSError, NotImplementedError):
            pass

    def _replace_ok(self, dest: bytes) -> bool:
        if not os.path.lexists(dest):
            return True
        if not self.overwrite:
            self.result.skipped.append(dest)
            return False
        return True

    def put(self, src: bytes, rel: bytes, st: os.stat_result) -> None:
        dest = self.dest(rel)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            if os.path.islink(dest) or (os.path.lexists(dest) and not os.path.isdir(dest)):
                if not self._replace_ok(dest):
                    return
                os.unlink(dest)
            if not os.path.isdir(dest):
                os.mkdir(dest, 0o700)
                self.result.dirs += 1
            return  # modes and times of directories are set after their contents (finish_dir)
        if not self._replace_ok(dest):
            return
        key = (st.st_dev, st.st_ino)
        tmp = dest + b".rabtui-restore-%d" % os.getpid()
        if st.st_nlink > 1 and key in self.inodes:
            os.link(self.inodes[key], tmp, follow_symlinks=False)
            os.replace(tmp, dest)
            self.result.links += 1
            return
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), tmp)
            os.replace(tmp, dest)
            self._meta(dest, st, is_link=True)
        elif stat.S_ISREG(mode):
            fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                fd_out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                try:
                    _copy_fd(fd_in, fd_out, st.st_size)
                finally:
                    os.close(fd_out)
            finally:
                os.close(fd_in)
            os.replace(tmp, dest)
            self._meta(dest, st)
            self.result.files += 1
            self.result.bytes += st.st_size
        else:
            return  # devices, fifos, sockets: not restored
        if st.st_nlink > 1:
            self.inodes[key] = dest

    def finish_dir(self, rel: bytes, st: os.stat_result) -> None:
        dest = self.dest(rel)
        if os.path.isdir(dest) and not os.path.islink(dest):
            self._meta(dest, st)


def _copy_fd(fd_in: int, fd_out: int, size: int) -> None:
    """copy_file_range where the kernel can (reflinks, no user-space copy), else read/write."""
    try:
        while os.copy_file_range(fd_in, fd_out, 1 << 24):
            pass
    except (OSError, AttributeError):
        pass
    if os.fstat(fd_out).st_size == size:
        return
    os.lseek(fd_in, 0, 0)
    os.lseek(fd_out, 0, 0)
    os.ftruncate(fd_out, 0)
    while chunk := os.read(fd_in, 1 << 20):
        os.write(fd_out, chunk)


def _entries(top: bytes) -> list[tuple[bytes, bytes, os.stat_result]]:
    """(path, name below top, lstat) of `top` (name b"") and everything below it, pre-order."""
    st = os.lstat(top)
    out = [(top, b"", st)]
    if stat.S_ISDIR(st.st_mode):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in dirnames + sorted(filenames):
                p = os.path.join(dirpath, name)
                out.append((p, os.path.relpath(p, top), os.lstat(p)))
    return out


def copy_into(src: bytes, target_root: bytes, rel_dest: bytes, overwrite: bool, emit: Emit = no_emit,
              cancel=None) -> Written:
    """Copy `src` (a file or a tree) to `target_root/rel_dest`, safely (see the module's doc)."""
    check_name(rel_dest)
    writer = SafeWriter(target_root, overwrite)
    entries = _entries(src)
    rels = [os.path.join(rel_dest, r) if r else rel_dest for _, r, _ in entries]
    for rel in rels:
        check_name(rel)
    if not overwrite:
        clash = []
        for (_, _, st), rel in zip(entries, rels):
            d = os.path.join(writer.root, rel)
            if os.path.lexists(d) and not (stat.S_ISDIR(st.st_mode) and os.path.isdir(d)
                                           and not os.path.islink(d)):
                clash.append(rel)
        if clash:
            shown = ", ".join(os.fsdecode(c) for c in clash[:5]) + (" ..." if len(clash) > 5 else "")
            raise WorkFailed(f"{len(clash)} files exist in the target already: {shown}",
                             hint="use --overwrite to replace them, or restore to another directory")
    parents = rel_dest.split(b"/")[:-1]
    for i in range(len(parents)):
        d = writer.dest(b"/".join(parents[: i + 1]))
        if not os.path.isdir(d):
            os.mkdir(d, 0o755)
    dirs = []
    for (path, _, st), rel in zip(entries, rels):
        if cancel is not None and cancel.is_set():
            from rabtui.errors import Cancelled

            raise Cancelled("restore cancelled")
        writer.put(path, rel, st)
        if stat.S_ISDIR(st.st_mode):
            dirs.append((rel, st))
    for rel, st in reversed(dirs):
        writer.finish_dir(rel, st)
    return writer.result


# --- what to restore from ---------------------------------------------------------------------


def directory_of(source: Source, path: bytes):
    """The configured directory that holds `path` (relative to /), the longest match."""
    best = None
    for d in source.directories:
        dr = rel_path(d.path)
        if path == dr or not dr or path.startswith(dr + b"/"):
            if best is None or len(rel_path(best.path)) < len(dr):
                best = d
    if best is None:
        raise UsageError(f"/{os.fsdecode(path)} is not in a directory of source {source.id}")
    return best


def choose_backup(store: Store, source: Source, rel: bytes, name: str | None):
    if name:
        row = store.one("SELECT * FROM backups WHERE source=? AND (name=? OR CAST(id AS TEXT)=?)"
                        " AND status<>'deleted' ORDER BY id DESC LIMIT 1", (source.id, name, name))
        if row is None:
            raise UsageError(f"source {source.id} has no backup {name}")
        if row["status"] not in RESTORABLE:
            raise UsageError(f"backup {name} of {source.id} is {row['status']}, not complete")
        return row
    # a file known to the catalog: the newest backup that holds it (kept data: its own versions)
    row = store.one(
        f"""SELECT b.* FROM versions v JOIN paths p ON p.id=v.path_id JOIN backups b
              ON b.source=p.source AND b.medium=v.medium AND b.id BETWEEN v.first_backup AND v.last_backup
            WHERE p.source=? AND p.path=? AND b.status IN {RESTORABLE_SQL}
              AND (b.status<>'{KEPT}' OR b.id=v.first_backup)
            ORDER BY b.started DESC, b.id DESC LIMIT 1""", (source.id, rel))
    if row is None:
        row = store.one(f"SELECT * FROM backups WHERE source=? AND status IN {RESTORABLE_SQL}"
                        " ORDER BY started DESC, id DESC LIMIT 1", (source.id,))
    if row is None:
        raise WorkFailed(f"source {source.id} has no complete backup")
    return row


def _medium_ready(medium, prompter, cancel, emit) -> None:
    from rabtui.backup.media import read_label

    while True:
        label = None
        try:
            label = read_label(medium.path) if Path(medium.path).is_dir() else None
        except WorkFailed:
            pass
        if label and label.get("id") == medium.id:
            return
        found = f"labelled {label.get('id')!r}" if label else "not there"
        if prompter is None:
            raise WorkFailed(f"medium {medium.id} is {found} at {medium.path}")
        answer = prompter.ask(Question("insert_medium", f"Medium {medium.id} is {found} at {medium.path}."
                                       f" Insert or mount medium {medium.id}, then answer ready.",
                                       (READY, ABORT), {"medium": medium.id}), cancel)
        if answer != READY:
            raise WorkFailed("restore aborted: the medium is not there")


def backup_source_path(cfg: Config, source: Source, backup, rel: bytes) -> bytes:
    from rabtui.backup import media as mediamod

    d = directory_of(source, rel)
    medium = cfg.medium(backup["medium"])
    in_backup = os.path.join(os.fsencode(backup["path"]), b"data", rel)
    # archive: a backup holds only what it added; a directory comes from the medium's union tree
    # (every file saved there), a file from the backup that saved it (else the union)
    if d.kind == "archive" and (os.path.isdir(in_backup) or not os.path.lexists(in_backup)):
        under = rel[len(rel_path(d.path)):].lstrip(b"/")
        union = os.fsencode(mediamod.archive_root(medium.path, source.id, d.path))
        return os.path.join(union, under) if under else union
    return in_backup


# --- the command ------------------------------------------------------------------------------------


def rsync_to_source_argv(src: bytes, dest: str, *, rsh: str | None, overwrite: bool, dry_run: bool = False,
                         is_dir: bool) -> list[str]:
    """rsync of a restored item back to its place on the source. Without `overwrite`, a dry run
    with `--existing` first lists the files that would be replaced."""
    argv = ["rsync", "-aH", "--numeric-ids", "-s", "--outbuf=L", "-ii", "--out-format=%i|%n"]
    if rsh:
        argv += ["-e", rsh]
    if dry_run:
        argv += ["-n", "--existing"]
    s = os.fsdecode(src)
    argv += ["--", s + "/" if is_dir else s, dest]
    return argv


@dataclass
class RestoreResult:
    source: str
    path: str
    origin: str               # "backup NAME on MEDIUM" | "checkpoint N"
    target: str
    written: Written | None = None
    summary: str = ""


def restore(cfg: Config, store: Store, source_id: str, path: str | bytes, *, backup: str | None = None,
            checkpoint: int | None = None, to: str | os.PathLike | None = None, to_source: bool = False,
            overwrite: bool = False, emit: Emit = no_emit, cancel=None, prompter=None) -> RestoreResult:
    from rabtui.backup import media as mediamod

    source = cfg.source(source_id)
    rel = rel_path(path)
    if not rel:
        raise UsageError("give the path to restore (a file or directory of the source)")
    check_name(rel)
    if (to is None) == (not to_source):
        raise UsageError("give exactly one of --to DIR and --to-source")
    if backup and checkpoint is not None:
        raise UsageError("give at most one of --backup and --checkpoint")
    directory_of(source, rel)
    shown = "/" + os.fsdecode(rel)
    target = "source " + source.id if to_source else os.fspath(to)
    if checkpoint is not None:
        work_parent = os.fsencode(to) if to is not None else os.fsencode(cfg.state_dir)
        os.makedirs(work_parent, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=b".rabtui-restore-", dir=work_parent) as staging:
            item = extract_from_checkpoint(cfg, store, source, checkpoint, rel, staging, prompter, cancel, emit)
            return _deliver(cfg, source, rel, item, to, to_source, overwrite, emit, cancel,
                            RestoreResult(source.id, shown, f"checkpoint {checkpoint}", target))
    row = choose_backup(store, source, rel, backup)
    medium = cfg.medium(row["medium"])
    origin = f"backup {row['name']} on {medium.id}"
    emit(Event(LOG, f"restoring {shown} of {source.id} from {origin} to {target}"))
    with mediamod.mounted(medium, emit):
        _medium_ready(medium, prompter, cancel, emit)
        item = backup_source_path(cfg, source, row, rel)
        if not os.path.lexists(item):
            raise WorkFailed(f"{shown} is not in {origin}")
        return _deliver(cfg, source, rel, item, to, to_source, overwrite, emit, cancel,
                        RestoreResult(source.id, shown, origin, target))


def _deliver(cfg, source, rel, item, to, to_source, overwrite, emit, cancel, result: RestoreResult):
    if not to_source:
        w = copy_into(item, os.fsencode(to), rel, overwrite, emit, cancel)
        result.written = w
        result.summary = (f"restored {result.path} from {result.origin} into {to}: {w.files} files,"
                          f" {w.dirs} directories, {w.bytes} bytes")
        return result
    if source.is_local:
        w = copy_into(item, b"/", rel, overwrite, emit, cancel)
        result.written = w
        result.summary = f"restored {result.path} from {result.origin} onto {source.id}: {w.files} files"
        return result
    from rabtui import remote

    is_dir = os.path.isdir(item) and not os.path.islink(item)
    dest_path = "/" + os.fsdecode(rel) + ("/" if is_dir else "")
    if not is_dir:
        dest_path = "/" + os.fsdecode(rel)
    dest = remote.rsync_location(source, os.fsdecode(b"/" + os.path.dirname(rel)))
    if is_dir:
        dest = remote.rsync_location(source, "/" + os.fsdecode(rel))
    rsh = remote.rsync_rsh(cfg, source)
    if not overwrite:
        clash: list[str] = []
        done = proc.run(rsync_to_source_argv(item, dest, rsh=rsh, overwrite=False, dry_run=True, is_dir=is_dir),
                        on_stdout=lambda l: clash.append(l.decode("utf-8", "replace")), cancel=cancel)
        clash = [c for c in clash if "|" in c and c[:1] in ("<", ">", "c") and c[1:2] == "f"]
        if done.returncode not in (0, 24) and not clash:
            raise WorkFailed(f"rsync to {source.id} failed (exit {done.returncode}): {done.stderr_text()[-300:]}")
        if clash:
            names = [c.split("|", 1)[1] for c in clash]
            raise WorkFailed(f"{len(names)} files exist on {source.id} already and differ: {', '.join(names[:5])}",
                             hint="use --overwrite to replace them")
    argv = rsync_to_source_argv(item, dest, rsh=rsh, overwrite=overwrite, is_dir=is_dir)
    if not overwrite:
        argv.insert(1, "--ignore-existing")
    done = proc.run(argv, cancel=cancel)
    if done.returncode not in (0, 24):
        raise WorkFailed(f"rsync to {source.id} failed (exit {done.returncode}): {done.stderr_text()[-300:]}")
    result.summary = f"restored {result.path} from {result.origin} onto {source.id}:{dest_path}"
    return result
