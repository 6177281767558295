"""`rabtui check --prometheus FILE`: the health check as a textfile for node_exporter's textfile
collector, read by the rules of contrib/prometheus/rabtui-alerts.yml."""

from __future__ import annotations

import errno
import os
import stat
from datetime import datetime
from pathlib import Path

from rabtui import file_replace, fmt
from rabtui.config import Config
from rabtui.ops import health
from rabtui.state.store import Store


def _label(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def text(cfg: Config | None, store: Store | None, problems: list[health.Problem], now: datetime | None = None) -> str:
    """The textfile; without a store (the config or the database cannot be read) only the health
    check's own series."""
    ts = (now or datetime.now()).timestamp()
    lines = [
        "# HELP rabtui_health_status Worst health level: 0 ok, 1 warning, 2 critical.",
        "# TYPE rabtui_health_status gauge",
        f"rabtui_health_status {health.exit_code(problems)}",
        "# HELP rabtui_health_problems Problems found by the health check, per level.",
        "# TYPE rabtui_health_problems gauge",
    ]
    for level in (health.WARNING, health.CRITICAL):
        lines.append(f'rabtui_health_problems{{level="{level}"}} {sum(p.level == level for p in problems)}')
    lines += ["# HELP rabtui_check_status Level of each failing check: 1 warning, 2 critical.",
              "# TYPE rabtui_check_status gauge"]
    for p in problems:
        lines.append(f'rabtui_check_status{{check="{_label(p.check_id)}"}} {health.RANK[p.level]}')
    if cfg is not None and store is not None:
        lines += _store_series(cfg, store, ts)
    lines.append(f"rabtui_health_check_timestamp_seconds {ts:.0f}")
    return "\n".join(lines) + "\n"


def _store_series(cfg: Config, store: Store, ts: float) -> list[str]:
    lines = ["# HELP rabtui_last_backup_timestamp_seconds Start of the newest backup that holds the source's"
             " data (complete, with warnings, or kept: its post-backup command failed), of the newest"
             " before now when one is dated in the future.",
             "# TYPE rabtui_last_backup_timestamp_seconds gauge"]
    for s in cfg.sources:
        _good, newest = health.newest_restorable(store, s.id, ts)
        if newest:
            lines.append(f'rabtui_last_backup_timestamp_seconds{{source="{_label(s.id)}"}} {newest:.0f}')
    lines += ["# HELP rabtui_source_bytes Bytes a source uses on a medium (sum of what its backups added).",
              "# TYPE rabtui_source_bytes gauge"]
    for r in store.all("SELECT source, medium, SUM(COALESCE(new_bytes,0)) AS b FROM backups"
                       " WHERE status NOT IN ('deleted','running') GROUP BY source, medium"):
        lines.append(f'rabtui_source_bytes{{source="{_label(r["source"])}",medium="{_label(r["medium"])}"}} {r["b"]}')
    lines += ["# HELP rabtui_medium_free_bytes Free bytes on a medium when last seen.",
              "# TYPE rabtui_medium_free_bytes gauge"]
    for r in store.all("SELECT id, free_bytes FROM media WHERE free_bytes IS NOT NULL"):
        lines.append(f'rabtui_medium_free_bytes{{medium="{_label(r["id"])}"}} {r["free_bytes"]}')
    return lines


HEADER = b"# HELP rabtui_"     # how every textfile of `check` begins


def foreign(path: Path) -> str | None:
    """What `path` holds that is no textfile of an earlier check, which the write would replace, said
    as "is a FIFO": a typo or a swapped argument naming the config, a database or any other file, or
    a device node (`--prometheus /dev/null` made root's /dev/null a file of metrics). None for an
    empty file (made ready for it) and a symlink (replaced by the rename, never followed)."""
    try:
        st = os.lstat(path)
    except OSError:         # not there, or not to be looked at: the write says what it meets
        return None
    if not stat.S_ISREG(st.st_mode):    # not opened: a tape drive rewinds as it is closed
        return None if stat.S_ISLNK(st.st_mode) else f"is a {fmt.file_kind(st.st_mode)}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:         # not to be read (or replaced meanwhile): the write says what it meets
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return f"is a {fmt.file_kind(st.st_mode)}"
        if st.st_size == 0 or os.read(fd, len(HEADER)) == HEADER:
            return None
        return "holds a file that is no textfile of `rabtui check`"
    finally:
        os.close(fd)


def write(path: Path, content: str) -> None:
    """Atomically (a temporary file beside it, renamed): node_exporter never reads half a file. On
    a file system with no room for the new file beside the old (the state directory's, full), the
    old one is written over in place, in the room it frees; failing that it is removed, so that
    its figures of before are not read as those of now (RabtuiMetricsGone says it), and the
    error raised."""
    try:
        file_replace.replace_file(path, content.encode(), 0o644)     # read by node_exporter's own user; no secret
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        failure = exc
    try:
        _write_over(path, content.encode())
        return
    except OSError:
        pass
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
    raise failure


def _write_over(path: Path, data: bytes) -> None:
    """`data` written over the textfile in place: only the one an earlier check wrote (this user's,
    a regular file of one name), never what a symlink or a hard link put there by the directory's
    other users (node_exporter's, often) leads to (OSError)."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "wb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid != os.geteuid():
            raise OSError(errno.EPERM, "not the textfile of an earlier check", os.fspath(path))
        f.truncate(0)
        f.write(data)
        f.flush()
        os.fsync(fd)
