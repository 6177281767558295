"""Media: the rotation (RAB), mounting, the `.rabtui-medium` label, and the layout on a medium.

```
<medium>/.rabtui-medium
<medium>/<source-id>/backup-YYYYmmddHHMMSS[-N]/{backup.json, backup.log, data/...}
<medium>/<source-id>/.archive/<dir>/...      union tree of an archive directory on this medium
```
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from rabtui import __version__, faults, privacy, proc
from rabtui.media import mounts as media_state
from rabtui.media import medium_fs
from rabtui.config import Config, Medium, Source
from rabtui.errors import RabtuiError, WorkFailed
from rabtui.events import LOG, WARNING, Emit, Event, no_emit
from rabtui.state.store import Store

LABEL = ".rabtui-medium"
ARCHIVE = ".archive"
# Left alone when deciding whether a medium without a label is empty.
IGNORED_ON_EMPTY = {"lost+found", LABEL}
BACKUP_NAME = re.compile(r"^backup-(\d{14})(?:-(\d+))?$")
BACKUP_ID_MAX = 2**63 - 1          # the largest integer the state database holds


def is_backup_ref(ref: str) -> bool:
    """Whether the operator named a backup as it can be: by its name (backup-YYYYmmddHHMMSS[-N]) or
    by its id. Anything else names none (and text that is not UTF-8 cannot even be looked up)."""
    if ref.isascii() and ref.isdigit():
        return 1 <= int(ref) <= BACKUP_ID_MAX
    return ref.isascii() and BACKUP_NAME.fullmatch(ref) is not None


# --- label -----------------------------------------------------------------------------------------


def read_label(path: str | os.PathLike) -> dict | None:
    """The label of the medium at `path`, or None when there is none.

    A label is JSON (`{"id": ...}`); a file holding just an id is accepted too.
    """
    label_path = Path(path) / LABEL
    try:
        text = label_path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WorkFailed(f"cannot read the label {label_path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {"id": text.strip()}
    return data


def write_label(medium: Medium, *, first: bool = False) -> dict:
    """Write (atomically) the label of `medium` at its path, with what its file system can hold.
    `first`: only where there is none yet; the label another process wrote first (two backups
    starting on a new medium at once) is returned then, so that both record the same."""
    label = {"id": medium.id, "created": datetime.now().isoformat(timespec="seconds"), "serial": _serial(),
             "rabtui": __version__}
    return _store_label(medium, {**label, "holds": _probe(medium)}, first=first)


def _serial() -> str:
    """Tells this labelling of a disk from any other (another server's medium of the same id)."""
    return secrets.token_hex(8)


def _probe(medium: Medium, probe=medium_fs.probe):
    try:
        return probe(medium.path)
    except OSError as exc:
        raise WorkFailed(f"medium {medium.id}: cannot try what {medium.path} can hold: {exc.strerror}") from None


def labelled_nanoseconds(medium: Medium) -> bool:
    """Whether the medium keeps nanoseconds, as its label says (its last backup tried it again); for
    those who only read the medium, such as a restore."""
    try:
        label = read_label(medium.path)
    except WorkFailed:
        return False
    return label is not None and medium_fs.keeps_nanoseconds(label.get("holds"))


def _store_label(medium: Medium, label: dict, first: bool = False) -> dict:
    path = Path(medium.path)
    tmp = path / f"{LABEL}.tmp-{_writer()}"
    try:
        tmp.write_text(json.dumps(label, indent=2) + "\n", encoding="utf-8")
        if first:
            try:
                os.link(tmp, path / LABEL)      # fails where another process labelled it first
            except FileExistsError:
                label = read_label(path) or label
            os.unlink(tmp)
        else:
            os.replace(tmp, path / LABEL)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WorkFailed(f"medium {medium.id}: cannot write its label in {path}: {exc.strerror}") from None
    return label


def foreign_files(path: Path) -> list[str]:
    try:
        return sorted(n for n in os.listdir(path) if n not in IGNORED_ON_EMPTY)
    except OSError as exc:
        raise WorkFailed(f"cannot list {path}: {exc.strerror}") from None


# --- checks ----------------------------------------------------------------------------------------


def space(path: str | os.PathLike) -> dict:
    st = os.statvfs(path)
    return {
        "total_bytes": st.f_blocks * st.f_frsize,
        "free_bytes": st.f_bavail * st.f_frsize,
        "total_inodes": st.f_files,
        "free_inodes": st.f_favail,
    }


def check_medium(medium: Medium, emit: Emit = no_emit, store: Store | None = None) -> dict:
    """Check the medium before a backup: there, mounted as before, labelled as `medium.id` (an
    empty medium the state does not know is labelled now), writable. Returns its label and free
    space; raises WorkFailed with the reason otherwise."""
    path = Path(medium.path)
    if not path.is_dir():
        hint = " (not mounted?)" if medium.device else ""
        raise WorkFailed(f"medium {medium.id}: {path} does not exist or is not a directory{hint}")
    problem = media_state.mount_problem(store, medium)
    if problem:
        raise WorkFailed(f"medium {medium.id}: {problem}; refusing to use it",
                         hint=f"mount the medium at {path}" + (f" ({medium.device})" if medium.device else "")
                         + f"; if the medium lives in this directory now: rabtui media label {medium.id} --force")
    label = read_label(path)
    known = media_state.known_because(store, medium.id) if store is not None and label is None else None
    if known:
        raise WorkFailed(
            f"medium {medium.id}: {path} has no {LABEL} label, but rabtui has used this medium before"
            f" ({known}): is the disk mounted? refusing to label it again",
            hint=f"mount it; if it really is medium {medium.id}, emptied on purpose: rabtui media label {medium.id} --force",
        )
    if label is None:
        others = foreign_files(path)
        if others:
            shown = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
            raise WorkFailed(
                f"medium {medium.id}: {path} holds files but no {LABEL} label ({shown}); refusing to use it",
                hint=f"if it really is this medium: rabtui media label {medium.id} --force",
            )
        _check_writable(medium)
        faults.point("medium.labelling")
        label = write_label(medium, first=True)
        faults.point("medium.labelled")
        if label.get("id") != medium.id:
            raise WorkFailed(f"medium {medium.id}: {path} was labelled {label.get('id')!r} meanwhile: wrong medium")
        emit(Event(LOG, f"medium {medium.id}: empty, labelled now"))
    elif label.get("id") != medium.id:
        raise WorkFailed(
            f"medium {medium.id}: {path} is labelled {label.get('id')!r}, not {medium.id!r}: wrong medium"
        )
    elif other := media_state.other_labelling(store, medium, label):
        raise WorkFailed(f"medium {medium.id}: {other}; refusing to use it", hint=_other_disk_hint(medium))
    else:
        _check_writable(medium)
        holds = label.get("holds")
        if (not isinstance(holds, dict) or not set(medium_fs.WHAT) <= holds.keys()
                or holds["nanoseconds"] is not _probe(medium, medium_fs.nanoseconds_now)):
            # labelled before media were probed (or before this probe), or moved to another file system
            label = _store_label(medium, {**label, "holds": _probe(medium)})
    if store is not None:
        media_state.remember_mount(store, medium)
    return {"label": label, **space(path)}


def _writer() -> str:
    """Names a temporary file apart from those of other processes and of this one's other backups
    (they check the same medium at once)."""
    return f"{os.getpid()}-{threading.get_ident()}"


def _check_writable(medium: Medium) -> None:
    # os.access says yes to root even on a read-only mount: try it.
    probe = Path(medium.path) / f".rabtui-write-test-{_writer()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise WorkFailed(f"medium {medium.id}: {medium.path} is not writable: {exc.strerror}") from None


# --- mounting --------------------------------------------------------------------------------------


def mount_argv(medium: Medium) -> list[str]:
    return ["mount", str(medium.device), str(medium.path)]


def umount_argv(medium: Medium) -> list[str]:
    return ["umount", str(medium.path)]


@contextmanager
def mounted(medium: Medium, emit: Emit = no_emit) -> Iterator[Medium]:
    """Mount the medium's device at its path for the duration (no-op without a device, or when
    something is already mounted there, which is then left mounted)."""
    if not medium.device or os.path.ismount(medium.path):
        yield medium
        return
    Path(medium.path).mkdir(parents=True, exist_ok=True)
    result = proc.run(mount_argv(medium), timeout=120)
    if not result.ok:
        raise WorkFailed(
            f"medium {medium.id}: cannot mount {medium.device} at {medium.path}: {result.stderr_text().strip()}"
        )
    emit(Event(LOG, f"mounted {medium.device} at {medium.path}"))
    try:
        yield medium
    finally:
        os.sync()
        done = proc.run(umount_argv(medium), timeout=300)
        if done.ok:
            emit(Event(LOG, f"unmounted {medium.path}"))
        else:
            emit(Event(WARNING, f"cannot unmount {medium.path}: {done.stderr_text().strip()}"))


def label_medium(store: Store, medium: Medium, force: bool = False) -> str:
    """Write the medium's label when that is safe, or with `force`; says what was done. Refused
    (RabtuiError with the reason): a path that is not mounted where the medium was, a medium
    labelled as another, files without a label, a medium the state knows found unlabelled, or
    another disk labelled with this medium's id (taken over as this medium with `force`)."""
    with mounted(medium):
        path = medium.path
        if not os.path.isdir(path):
            raise RabtuiError(f"medium {medium.id}: {path} does not exist or is not a directory")
        label = read_label(path)
        unmounted = media_state.mount_problem(store, medium)
        if unmounted and not force:
            raise RabtuiError(f"medium {medium.id}: {unmounted}",
                              hint=f"mount it; if the medium lives in this directory now: rabtui media label {medium.id} --force")
        if label is not None and label.get("id") == medium.id:
            other = media_state.other_labelling(store, medium, label)
            if other and not force:
                raise RabtuiError(f"medium {medium.id}: {other}", hint=_other_disk_hint(medium))
            media_state.remember_mount(store, medium)
            if other:
                media_state.remember_label(store, medium, label)
                return f"the disk at {path} is medium {medium.id} from now on"
            return f"medium {medium.id} is already labelled"
        if label is not None and not force:
            raise RabtuiError(f"{path} is labelled {label.get('id')!r}, not {medium.id!r}",
                              hint="use --force to relabel it")
        others = foreign_files(path)
        if label is None and others and not force:
            raise RabtuiError(f"{path} holds files but no label ({', '.join(others[:5])})",
                              hint=f"if it really is medium {medium.id}: rabtui media label {medium.id} --force")
        known = media_state.known_because(store, medium.id)
        if label is None and known and not force:
            raise RabtuiError(f"medium {medium.id}: {path} has no label, but rabtui has used this medium before"
                              f" ({known}): is the disk mounted?",
                              hint=f"mount it; to label this directory as medium {medium.id} anyway:"
                                   f" rabtui media label {medium.id} --force")
        media_state.remember_label(store, medium, write_label(medium))
        media_state.remember_mount(store, medium)
    return f"labelled {path} as medium {medium.id}"


def _other_disk_hint(medium: Medium) -> str:
    return (f"put medium {medium.id}'s own disk at {medium.path}; if this disk is medium {medium.id} from now on"
            f" (the other is gone): rabtui media label {medium.id} --force")


# --- rotation --------------------------------------------------------------------------------------


def next_medium(cfg: Config, store: Store) -> Medium:
    """RAB rotation: the medium after the one that took the last backup (config order, cyclic).

    "Took" means a backup got as far as checking it (`media.last_used`); a run that failed before
    (host unreachable) does not advance the rotation.
    """
    if not cfg.media:
        raise WorkFailed("no media are configured")
    ids = [m.id for m in cfg.media]
    marks = ",".join("?" * len(ids))
    row = store.one(
        f"SELECT id FROM media WHERE id IN ({marks}) AND last_used IS NOT NULL ORDER BY last_used DESC LIMIT 1",
        ids,
    )
    if row is None:
        return cfg.media[0]
    return cfg.media[(ids.index(row["id"]) + 1) % len(ids)]


def record_use(store: Store, medium: Medium, info: dict, when: float | None = None) -> None:
    """The medium was checked and is being used now: last_used, last_seen, label and space."""
    when = when or time.time()
    store.execute(
        "INSERT INTO media(id, label, last_used, last_seen, total_bytes, free_bytes, total_inodes, free_inodes)"
        " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET label=excluded.label,"
        " last_used=excluded.last_used, last_seen=excluded.last_seen, total_bytes=excluded.total_bytes,"
        " free_bytes=excluded.free_bytes, total_inodes=excluded.total_inodes, free_inodes=excluded.free_inodes",
        (medium.id, json.dumps(info.get("label")), when, when, info.get("total_bytes"), info.get("free_bytes"),
         info.get("total_inodes"), info.get("free_inodes")),
    )


def record_space(store: Store, medium: Medium) -> None:
    try:
        info = space(medium.path)
    except OSError:
        return
    store.execute(
        "UPDATE media SET total_bytes=?, free_bytes=?, total_inodes=?, free_inodes=?, last_seen=? WHERE id=?",
        (info["total_bytes"], info["free_bytes"], info["total_inodes"], info["free_inodes"], time.time(), medium.id),
    )


# --- layout ----------------------------------------------------------------------------------------


def _rel(dir_path: str) -> str:
    return dir_path.lstrip("/")


def source_root(medium_path: str | os.PathLike, source_id: str) -> Path:
    return Path(medium_path) / source_id


def archive_root(medium_path: str | os.PathLike, source_id: str, dir_path: str) -> Path:
    """<medium>/<source>/.archive/<dir without leading slash>: the union tree of an archive directory."""
    return Path(medium_path) / source_id / ARCHIVE / _rel(dir_path)


def archive_base(medium_path: str | os.PathLike, source_id: str) -> Path:
    """<medium>/<source>/.archive, made 0700 when missing."""
    return privacy.private_dir(Path(medium_path) / source_id / ARCHIVE)


def others_can_change_backups(medium_path: str | os.PathLike, source: Source) -> str | None:
    """Could a user other than root and this one change where the source's backups go on the
    medium: the medium's directory and those above it, the source's, its archive unions? The owner
    of `.archive` would get a hard link of every new archive file, for instance."""
    paths = [source_root(medium_path, source.id)] + [archive_root(medium_path, source.id, d)
                                                     for d in source.archive_paths]
    return next(filter(None, map(privacy.others_can_change, paths)), None)


def private_dirs(medium_path: str | os.PathLike) -> list[Path]:
    """What must stay closed to other users on a medium: each `<source>` directory (one that holds
    backups or an archive) and its `.archive`. Backups keep the sources' modes and owners (their
    uids may be other people of this machine): these directories are what keeps them out."""
    out = []
    try:
        entries = [e for e in os.scandir(medium_path) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return out
    for entry in sorted(entries, key=lambda e: e.name):
        try:
            names = os.listdir(entry.path)
        except OSError:
            continue
        if ARCHIVE in names or any(BACKUP_NAME.match(n) for n in names):
            out.append(Path(entry.path))
            if ARCHIVE in names:
                out.append(Path(entry.path) / ARCHIVE)
    return out


def close_private_dirs(medium_path: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """Take other users' access away from `private_dirs` (media made by earlier versions were
    0755): those that were open, and why some could not be closed."""
    closed, errors = [], []
    for path in private_dirs(medium_path):
        try:
            if privacy.tighten(path):
                closed.append(path)
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror}")
    return closed, errors


def backup_data_path(backup_path: str | os.PathLike, dir_path: str) -> Path:
    """<backup>/data/<dir without leading slash>."""
    return Path(backup_path) / "data" / _rel(dir_path)


def gone_from(medium: Medium, backup_path: str | os.PathLike) -> str | None:
    """Why a backup being written is no longer on its medium (unmounted or unplugged since step 3
    made its directory), or None. What is written then would go into the directory the medium was
    mounted on: another file system, the root one often."""
    data = Path(backup_path) / "data"
    if data.is_dir():
        return None
    return f"medium {medium.id} went away during the backup: {data} is gone (unmounted or unplugged?)"


def _name_key(name: str) -> tuple[str, int]:
    m = BACKUP_NAME.match(name)
    return (m.group(1), int(m.group(2) or 1)) if m else (name, 0)


def list_backups(medium_path: str | os.PathLike, source_id: str) -> list[tuple[str, Path, dict | None]]:
    """Backups of a source on a medium, oldest first: (name, path, backup.json or None)."""
    root = source_root(medium_path, source_id)
    try:
        names = [n for n in os.listdir(root) if BACKUP_NAME.match(n)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for name in sorted(names, key=_name_key):
        path = root / name
        if not path.is_dir():
            continue
        out.append((name, path, read_backup_json(path)))
    return out


def read_backup_json(backup_path: str | os.PathLike) -> dict | None:
    try:
        with open(Path(backup_path) / "backup.json", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def backup_name(when: datetime) -> str:
    return "backup-" + when.strftime("%Y%m%d%H%M%S")


def make_backup_dir(medium_path: str | os.PathLike, source_id: str, when: datetime,
                    taken: set[str] = frozenset()) -> Path:
    """Create <medium>/<source>/backup-<YmdHis>[-N] (a new directory, never an existing one)."""
    root = source_root(medium_path, source_id)
    try:
        privacy.private_dir(root)
    except OSError as exc:
        raise WorkFailed(f"cannot create {root}: {exc.strerror}") from None
    base = backup_name(when)
    for n in range(1, 1000):
        name = base if n == 1 else f"{base}-{n}"
        if name in taken:
            continue
        path = root / name
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise WorkFailed(f"cannot create the backup directory {path}: {exc.strerror}") from None
        return path
    raise WorkFailed(f"too many backups named {base}-N in {root}")
