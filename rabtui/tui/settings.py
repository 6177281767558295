"""What the UI remembers between runs (the theme, when failures were last acknowledged), in a small
JSON file in the user's state directory; keys are remapped in `keymap.toml` beside the user config
(see keymap.keymap_path). Both are read and written in the app's workers (see ui_files): the state
directory may be on a file system that hangs."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import threading
from pathlib import Path

from rabtui import file_replace, flock_turns, mount_points, privacy

log = logging.getLogger("rabtui.tui")

LARGEST = 1 << 20       # bytes: what rabtui writes there is a few hundred
SAVE_WAIT = 5.0         # seconds a save waits for another console's save to end
LOOK_WAIT = 1.0         # seconds a save looks for the state directories it holds acknowledgements of


def settings_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("rabtui")) / "ui.json"


def read_small(path: Path, largest: int = LARGEST) -> bytes:
    """The bytes of `path` (through symlinks) when it is a regular file of at most `largest` bytes;
    OSError saying why not: a FIFO put there would be waited on for ever, /dev/zero read until
    memory ends. One another user can change (their home, for a `sudo rabtui` that kept it) is not
    read: their keymap would choose what root's keys do, their acknowledgement hide its failures."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        why = privacy.others_can_change(path) or privacy.others_can_write(os.path.realpath(path))
        if why:
            raise OSError(why)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError("not a regular file")
        if st.st_size > largest:
            raise OSError(f"{st.st_size} bytes: larger than {largest}")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(largest + 1)
    finally:
        os.close(fd)
    if len(data) > largest:
        raise OSError(f"larger than {largest} bytes")
    return data


class Unreadable(Exception):
    """The file is there and could not be read (an I/O error): kept as it is."""


def load(path: Path | None = None, keep_unreadable: bool = False) -> dict:
    """The saved settings (in `path`, else settings_path()); a missing file, or one that holds none,
    is no settings (the UI starts as new). One that cannot be read is none too, or `Unreadable` with
    `keep_unreadable` (a save does not write over what it could not read: the acknowledgements of
    the other state directories)."""
    path = path or settings_path()
    try:
        data = json.loads(read_small(path).decode("utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        if keep_unreadable and exc.errno is not None:    # not one of read_small's (a FIFO, too large)
            raise Unreadable(exc.strerror) from None
        log.warning("%s: not used: %s", path, exc.strerror or exc)
        return {}
    except (ValueError, RecursionError) as exc:     # (arrays nested deeper than the parser goes)
        log.warning("%s: not used: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def acknowledged_at(data: dict, state_key: str, now: float) -> float | None:
    """When failures of the state directory `state_key` were last acknowledged: None when `data`
    does not say (or says a time that is not one before `now`: NaN or one ahead would hide every
    failure for good)."""
    known = data.get("acknowledged")
    since = known.get(state_key) if isinstance(known, dict) else None
    if isinstance(since, (int, float)) and not isinstance(since, bool) and 0 <= since <= now:
        return float(since)
    return None


def merged(data: dict, changes: dict) -> dict:
    """`data` with `changes` in: a change of a table (a dict) changes its entries, the others stay
    (two consoles on two state directories each keep their own acknowledgement)."""
    out = dict(data)
    for key, value in changes.items():
        old = out.get(key)
        out[key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    return out


def _gone(path: str) -> bool:
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:     # there, but not to be looked at now: kept
        pass
    return False


# ui.json's table of the mount point each state directory acknowledged was on then
_MOUNTS = "acknowledged_mounts"


def with_mounts(data: dict, changes: dict) -> dict:
    """`data` with the mount point of each state directory `changes` acknowledges, as it is now."""
    acknowledged = changes.get("acknowledged")
    mounts = data.get(_MOUNTS, {})
    if not isinstance(acknowledged, dict) or not isinstance(mounts, dict):
        return data
    found = {}
    for key in acknowledged:
        if key.startswith("/"):
            with contextlib.suppress(OSError):
                found[key] = mount_points.mount_point(key)
    return {**data, _MOUNTS: {**mounts, **found}}


def pruned(data: dict) -> dict:
    """`data` without the acknowledgements of state directories no longer there (else each one ever
    opened stays for good): absolute paths found gone within LOOK_WAIT seconds (a look that hangs,
    an NFS server away, keeps the rest), but for one whose disk is unmounted (the mount point it was
    on when acknowledged is there, nothing mounted on it: the disk comes back; its mount point
    removed, the disk is gone for good). One there with no mount point recorded (acknowledged by an
    older rabtui) has it recorded now. Keys of another shape, and every other entry, stay."""
    known = data.get("acknowledged")
    if not isinstance(known, dict):
        return data
    mounts = data.get(_MOUNTS) if isinstance(data.get(_MOUNTS), dict) else {}
    paths = [key for key in known if key.startswith("/")]
    lock, gone, found = threading.Lock(), set(), {}

    def look() -> None:
        for path in paths:
            mount = mounts.get(path)
            if not _gone(path):
                if not isinstance(mount, str):      # acknowledged before mounts were kept
                    with lock:
                        found[path] = mount_points.mount_point(path)
            elif not (isinstance(mount, str) and mount_points.unmounted(mount)):
                with lock:
                    gone.add(path)

    looking = threading.Thread(target=look, name="rabtui-ui-json-look", daemon=True)
    looking.start()
    looking.join(LOOK_WAIT)
    with lock:
        out = {**data, "acknowledged": {k: v for k, v in known.items() if k not in gone}}
        if isinstance(data.get(_MOUNTS, {}), dict) and (mounts or found):
            out[_MOUNTS] = {k: v for k, v in {**mounts, **found}.items() if k in out["acknowledged"]}
        return out


def save(changes: dict, path: Path | None = None, cancel: threading.Event | None = None) -> str | None:
    """Keep `changes` with the settings on disk as they are now (pruned), under an flock (two
    consoles saving at once each keep theirs), written atomically into `path` (else settings_path()). None
    when saved, else why not (the UI goes on as it is)."""
    path = path or settings_path()
    why = privacy.others_can_change(path.parent)
    if why:     # their home, for a `sudo rabtui` that kept it: a folder of theirs swapped for a symlink
        return f"cannot save the UI settings in {path}: {why}"
    try:
        privacy.private_dir(path.parent)
        fd = os.open(path.with_name(path.name + ".lock"),
                     os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, privacy.FILE_MODE)
        try:
            if not flock_turns.take(fd, SAVE_WAIT, cancel):
                return f"cannot save the UI settings in {path}: another console held them for {SAVE_WAIT:g} s"
            data = pruned(with_mounts(merged(load(path, keep_unreadable=True), changes), changes))
            file_replace.replace_file(path, (json.dumps(data, indent=1) + "\n").encode())
        finally:
            os.close(fd)
    except Unreadable as exc:
        return f"cannot save the UI settings in {path}: it cannot be read ({exc}), and is left as it is"
    except OSError as exc:
        return f"cannot save the UI settings in {path}: {exc.strerror or exc}"
    return None
