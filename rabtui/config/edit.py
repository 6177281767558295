"""Editing the operator's configuration file in place (tomlkit), for the UI's source form.

Only what the operator changed is written: the `[[sources]]` table being edited, and in it only
the keys whose values changed; comments, order, relative paths, hand-written tables and every other
byte of the file stay as they were, its line ends (LF or CRLF) too; sources or directories written
as an inline array (`directories = [{path = "/etc"}]`) stay one, and the lines added to a file
indented by hand are indented alike. The file is never written over changes
made on disk since it was read (`ChangedOnDisk` carries what changed; of two saves at once, the
second waits for the first, then finds the file changed), the result is validated as
`check-config` would, and it is replaced atomically (a temporary file, fsync, rename), private to its
mode, owner, group, ACL and xattrs kept; a symlinked file is replaced where the link points, and the link
stays; a file of several names (hard links) is not saved.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import shlex
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, InlineTable, Table

from rabtui import command_safety, faults, file_replace, flock_turns, fmt, privacy
from rabtui.config import conflict_kept
from rabtui.config import safety as config_safety
from rabtui.config.edit_directories import put_directories
from rabtui.config.form_keys import DIRECTORY_KEYS, SOURCE_DEFAULTS, SOURCE_KEYS
from rabtui.config.model import NAME_MAX
from rabtui.config.parse import BOM, error_at, parse, read_toml
from rabtui.config.toml_layout import (
    deepest_last, indent_like, indents, keep_trailing_trivia_of_only_table, move_trailing_trivia, plain,
    pop_trailing_trivia, put_before, set_key,
)
from rabtui.errors import ConfigError, UsageError


class ConflictKept(UsageError):
    """The edit is saved, but the file it replaced had been changed on disk after the save's last
    look at it (an editor saving in that instant): that file is kept aside at `kept`."""

    def __init__(self, path: Path, kept: list[Path], pending: list[tuple[str, Path]] = ()):
        earlier = f" (and one a killed save left in {', '.join(map(str, kept[1:]))})" if kept[1:] else ""
        super().__init__(f"{path} was saved, but it had been changed on disk as a save put it in place: that"
                         f" change is kept in {kept[0]}{earlier}",
                         hint=f"merge it by hand: diff {shlex.quote(str(kept[0]))} {shlex.quote(str(path))}")
        self.kept = kept[0]
        self._pending = list(pending)

    def said(self) -> None:
        """Once the UI has shown this: the kept files are no longer named by the next run."""
        conflict_kept.said(self._pending)


class ChangedOnDisk(UsageError):
    """The file is not what it was when it was read; `diff` shows how (unified, read -> now)."""

    def __init__(self, path: Path, diff: str):
        super().__init__(f"{path} changed on disk since it was read", hint="reload it, then edit again")
        self.diff = diff


@dataclass(frozen=True)
class Snapshot:
    """The configuration file as it was read."""

    path: Path
    text: str

    def source_values(self, source_id: str) -> dict[str, Any]:
        """The form's keys of one source as written in the file (a relative path stays relative)."""
        table = _find_source(self._parse(), source_id)
        out = {key: plain(table[key]) for key in SOURCE_KEYS if key in table}
        out["directories"] = [{k: plain(d[k]) for k in DIRECTORY_KEYS if k in d} for d in table.get("directories", [])]
        return out

    def put_source(self, values: dict[str, Any], old_id: str | None = None) -> str:
        """The file's text with one source added (old_id None) or edited; None, "" and [] mean
        "no such key"."""
        doc = self._parse()
        if old_id is None:
            sources = doc.get("sources")
            if isinstance(sources, Array):      # sources = [{id = ...}, ...] stays an inline array
                table = tomlkit.inline_table()
            else:
                table = tomlkit.table()
            if sources is None:
                doc.append("sources", AoT([table]))
            else:
                if not isinstance(sources, Array):
                    move_trailing_trivia(sources[-1], table)
                sources.append(table)
            table = doc["sources"][-1]
        else:
            table = _find_source(doc, old_id)
        for key in SOURCE_KEYS:
            set_key(table, key, values.get(key), SOURCE_DEFAULTS.get(key))
        if old_id is None and not isinstance(table, InlineTable) and len(doc["sources"]) > 1:
            indent_like(table, *indents(doc["sources"][-2]))
        put_directories(table, values.get("directories", []))
        return self._dumps(doc)

    def source_ids(self) -> list[str]:
        return [str(t.get("id")) for t in self._parse().get("sources", [])]

    def delete_source(self, source_id: str) -> str:
        doc = self._parse()
        table = _find_source(doc, source_id)
        sources = doc["sources"]
        index = list(sources).index(table)
        # the comments that introduced the next table stay before it
        if index:
            move_trailing_trivia(sources[index], deepest_last(sources[index - 1]))
        elif len(sources) > 1:
            put_before(sources[1], pop_trailing_trivia(sources[0]))
        else:
            keep_trailing_trivia_of_only_table(doc, sources)
        del sources[index]
        if not len(sources):
            del doc["sources"]
        return self._dumps(doc)

    def _crlf(self) -> bool:
        crlf = self.text.count("\r\n")
        return bool(crlf) and crlf == self.text.count("\n")

    def _toml(self) -> str:
        """The text after a byte order mark, if it begins with one."""
        return self.text.removeprefix(BOM)

    def _ended(self) -> str:
        """The TOML text with its last line ended, so that a table can follow it."""
        text = self._toml()
        if not text or text.endswith("\n"):
            return text
        return text + ("\r\n" if self._crlf() else "\n")

    def _parse(self):
        """The file as tomlkit reads it for an edit; UsageError when tomlkit would not write even
        the unedited file back as it is (it moves [[sources]] tables that other tables separate next
        to each other): the edit would change more than was asked."""
        text = self._ended()
        try:
            doc = tomlkit.parse(text)
        except (TOMLKitError, ValueError, RecursionError) as exc:   # valid TOML to tomllib all the same
            raise UsageError(f"{self.path} cannot be edited here: {exc}; nothing was changed",
                             hint="edit it by hand: `rabtui check-config` says what it holds") from None
        if tomlkit.dumps(doc) != text:
            raise UsageError(f"{self.path} cannot be edited here without moving parts of it (for instance"
                             " [[sources]] tables with other tables between them); nothing was changed",
                             hint="edit it by hand, or put its [[sources]] tables one after another")
        where = _not_editable(doc)
        if where:
            raise UsageError(f"{self.path}: {where} is not written as the form edits it (edited by hand?);"
                             " nothing was changed", hint="correct it by hand: `rabtui check-config` says how")
        return doc

    def _dumps(self, doc) -> str:
        """The document's text; in a file whose lines all end in CRLF, the lines tomlkit adds do too.
        A last line without its line end keeps it so, unless the edit wrote after it."""
        text = tomlkit.dumps(doc)
        if self._crlf():
            text = re.sub(r"(?<!\r)\n", "\r\n", text)
        ended, toml = self._ended(), self._toml()
        if ended != toml and text.endswith(ended[ended.rfind("\n", 0, -1) + 1:]):
            text = text[:len(text) - (len(ended) - len(toml))]
        return self.text[:len(self.text) - len(toml)] + text


def read(path: str | os.PathLike) -> Snapshot:
    """The file as it is now; ConfigError when it cannot be edited as TOML (not there, not UTF-8, not
    valid TOML: edited by hand meanwhile), UsageError when tomlkit cannot keep its layout."""
    path = Path(path)
    snapshot = Snapshot(path, read_toml(path)[0])
    snapshot._parse()
    return snapshot


def check(snapshot: Snapshot, text: str) -> None:
    """ConfigError (file:line) when `text`, the file of `snapshot` edited, is not a valid configuration;
    UsageError when it holds commands that would not run (check-config refuses it)."""
    path = snapshot.path
    try:
        data = tomllib.loads(text.removeprefix(BOM))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: the edit would not be valid TOML ({exc}); nothing was saved",
                          hint="edit the file by hand") from exc
    cfg = parse(data, path=path, text=text.removeprefix(BOM), check_media=False)
    refused = config_safety.commands_refused(cfg)
    if refused:     # as check-config: saved, the night's backup would refuse them
        raise UsageError(f"{refused}; nothing was saved")
    # as the nightly run will run them (its working directory, its PATH), not as from here
    changeable = config_safety.commands_changeable(cfg, _local_commands_held(snapshot), scheduled=True)
    if changeable:
        keypath, message = changeable
        raise error_at(path, keypath, f"{message}; nothing was saved", text)


def commands_not_run(cfg, text: str | None = None) -> UsageError | None:
    """Why check-config refuses the commands `cfg` holds, as it says it (`text`: the file's, when
    not the one on disk): its file others can change, a local source's command that runs what
    another user can change (file:line: key, and the fix), notify.command's; None when none. The
    form says it of what a save left (a command the file held already) as check-config does."""
    refused = config_safety.commands_refused(cfg)
    if refused:
        return UsageError(refused)
    # judged as the nightly run will run them: from its working directory, with its PATH
    changeable = config_safety.commands_changeable(cfg, scheduled=True)
    if changeable:
        return error_at(cfg.path, *changeable, text)
    changeable = config_safety.judged(cfg.notify.command, scheduled=True) if cfg.notify.command else None
    if changeable:
        return UsageError(f"notify.command runs what another user can change: {changeable}; it is not run",
                          hint=command_safety.FIX)
    return None


def left_not_run(path: str | os.PathLike, text: str) -> str | None:
    """What check-config refuses of the commands of `text`, the file at `path` as a save wrote it (a
    command the file held already, which an edit of another source does not stop), said whole with
    its fix; None when none, or when it cannot be read."""
    try:
        cfg = parse(tomllib.loads(text.removeprefix(BOM)), path=Path(path), text=text.removeprefix(BOM), check_media=False)
    except (tomllib.TOMLDecodeError, ConfigError):
        return None
    refused = commands_not_run(cfg, text)
    return str(refused) if refused else None


def _local_commands_held(snapshot: Snapshot) -> set[tuple[str, str]]:
    """(source id, command) of each pre/post command and rsync_path of a local source (no host) in
    the file as read: an edit is refused for a command it brings in, not for one another source, or
    the one edited, held already (the backup refuses that one all the same; check-config names it)."""
    try:
        data = tomllib.loads(snapshot.text.removeprefix(BOM))
    except tomllib.TOMLDecodeError:
        return set()
    sources = data.get("sources")
    held = set()
    for s in sources if isinstance(sources, list) else []:
        if not isinstance(s, dict) or s.get("host") is not None:
            continue
        commands = [*_strings(s.get("pre_backup_commands")), *_strings(s.get("post_backup_commands")),
                    *_strings([s.get("rsync_path")])]
        held |= {(str(s.get("id")), c) for c in commands}
    return held


def _strings(value) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def save(snapshot: Snapshot, text: str) -> Path:
    """Validate `text`, then put it in place of the file, unless the file changed since `snapshot`
    or was made read-only. A symlinked file is written where the link points (the link stays a
    link)."""
    check(snapshot, text)
    path = snapshot.path

    def unchanged() -> None:
        try:
            now = path.read_bytes()
        except FileNotFoundError:
            now = b""
        if now != snapshot.text.encode("utf-8"):
            diff = "".join(difflib.unified_diff(snapshot.text.splitlines(True),
                                                now.decode("utf-8", "replace").splitlines(True),
                                                f"{path.name} (as read)", f"{path.name} (on disk now)"))
            raise ChangedOnDisk(path, diff)

    unchanged()
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = stat.S_IWUSR
    if not mode & stat.S_IWUSR:   # the rename would replace it all the same: the operator's no stands
        raise UsageError(f"{path} is read-only (mode {stat.S_IMODE(mode):04o}): nothing was saved",
                         hint="make it writable (chmod u+w) to edit it here")
    owner = _owner(path)
    if owner is not None and os.geteuid() not in (0, owner):
        # the rename would put a file of ours in place of its owner's (only root gives a file away)
        raise UsageError(f"{path} belongs to uid {owner}, not to you (uid {os.geteuid()}): nothing was saved",
                         hint="edit it as its owner, or as root")

    @contextlib.contextmanager
    def still_unchanged():
        """Again once the new file is on disk (its fsync may take long), up to the rename: a hand edit
        saved meanwhile, or another save's, is not written over."""
        with _one_save_at_a_time(path):
            unchanged()
            yield

    kept: list[Path] = []
    pending: list[tuple[str, Path]] = []

    def keep(old: str) -> None:
        try:
            aside, still = conflict_kept.keep(snapshot.path, old)
        except OSError:     # no name free beside the config, the disk full: it stays where it is, said
            kept.append(Path(old))
            return
        kept.append(aside)
        if still is not None:
            pending.append((still, aside))

    replace(path, text, still_unchanged, replaced=keep, was=snapshot.text.encode("utf-8"))
    if kept:
        faults.point("config.conflict_kept")
        raise ConflictKept(path, kept, pending)
    return path


SAVE_WAIT = 10.0     # seconds a save waits for another save of the same file to end


@contextlib.contextmanager
def _one_save_at_a_time(path: Path):
    """Held from the last look at the file to the rename: a second save of the same file (the
    console's form beside its delete, a second console) waits, then finds the file changed, where
    both would find it unchanged and the later rename would drop the other's edit. An flock on the
    file as it is now: the rename puts another file in its place, which the second then reads."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield
        return
    try:
        if not flock_turns.take(fd, SAVE_WAIT):
            raise UsageError(f"{path} is being saved by another edit: nothing was saved",
                             hint="try again once it is saved")
        yield
    finally:
        os.close(fd)


def replace(path: str | os.PathLike, text: str, renaming=None, anew: bool = False, replaced=None,
            was: bytes = b"") -> None:
    """Put `text` in place of the config file at `path` atomically: a crash or a full disk leaves
    the old file or the new one, never half of one (OSError is raised, the old file as it was).
    Not where another user can change the way to it (UsageError): they could make its name, or a
    directory on the way, a symlink to any file as it is written (a root's `sudo rabtui` on a config
    in their home would write it into /etc/cron.d).
    `renaming` (file_replace.replace_file's) may raise to keep the file as it is; `replaced` is given
    the file replaced when it does not hold `was` (file_replace.replace_file's). The file keeps its
    mode, owner, group, ACL and xattrs; `anew` (a starter file in its place) only its owner, and is 0600.
    Not a file of several names (hard links): the new file would have only this one (UsageError)."""
    others = privacy.others_can_change(path)
    if others:
        raise UsageError(f"{path} is not written: {others} (whoever can change the way to it could point it at"
                         " another file as it is written); nothing was saved",
                         hint="edit it by hand, or keep it where only you and root can change the way to it"
                              " (chown, chmod go-w)")
    real = os.path.realpath(path)
    too_long = _no_room_beside(real, aside=not anew)
    if too_long:
        raise UsageError(f"{path} is not written: {too_long}; nothing was saved",
                         hint="edit it by hand, or give it a shorter name or path (--config, $RABTUI_CONFIG)")
    try:
        st = os.lstat(real)
        links, owner = st.st_nlink, (st.st_uid, st.st_gid)
    except FileNotFoundError:
        st, links, owner = None, 1, None
    if st is not None and not stat.S_ISREG(st.st_mode):     # the rename would replace /dev/null, a FIFO
        what = ("a symlink that leads to no file (a loop)" if stat.S_ISLNK(st.st_mode)     # else resolved
                else f"a {fmt.file_kind(st.st_mode)}")
        raise UsageError(f"{path} is not written: it is {what}, not a configuration file; nothing was saved",
                         hint="name a configuration file (--config, $RABTUI_CONFIG)")
    if owner is not None and owner[0] not in (0, os.geteuid()) and privacy.sticky(os.path.dirname(real)):
        # its owner may rename it away and put a symlink to any file in its place as it is written
        raise UsageError(f"{path} is not written: it belongs to uid {owner[0]} in {os.path.dirname(real)}, a sticky"
                         " directory open to others (its owner could put a symlink to another file in its place"
                         " as it is written); nothing was saved",
                         hint="edit it by hand, or keep it where only you and root can change the way to it")
    if links > 1:
        raise UsageError(f"{path} has {links} names (hard links): a save would give the new contents to this"
                         " one only, and leave the old to the others; nothing was saved",
                         hint="edit it by hand, or make the other names symlinks to it (ln -sf)")
    # the temporary file is made beside the real file, so that the rename replaces it and not a link
    # to it; an edit keeps the mode, owner, group, ACL and xattrs of the file it replaces, `anew` (a
    # starter file) is private (it may come to hold commands run as root on sources, and notification
    # tokens); a file written as root (sudo) is left to its owner
    try:
        file_replace.replace_file(real, text.encode("utf-8"), privacy.FILE_MODE, owner, renaming, keep=not anew,
                                  replaced=replaced, was=was)
    except file_replace.GroupNotKept:
        raise UsageError(f"{path} is not written: its group {privacy.group_named(owner[1])}, which you (uid"
                         f" {os.geteuid()}) are not in, cannot be kept on the new file a save puts in its place"
                         " (who may read it would change); nothing was saved",
                         hint=f"edit it by hand, save it as root, or give it a group of yours first (chgrp GROUP"
                              f" {shlex.quote(str(path))})") from None


# a save's files beside the config: `.<name>.XXXXXXXX.tmp/new.<sha256>` (file_replace, exchange_aside)
_NAME_LONGER, _PATH_LONGER = len("..XXXXXXXX.tmp"), len("..XXXXXXXX.tmp/new.") + 64
_PATH_MAX = 4095    # bytes the kernel takes in a path (4,096 with its end)


def _no_room_beside(real: str, aside: bool) -> str | None:
    """Why the files a save makes beside the file at `real` cannot be named there, or None; without
    `aside` (a starter file), its temporary file alone (`.<name>.XXXXXXXX.tmp`)."""
    name, whole = len(os.fsencode(os.path.basename(real))), len(os.fsencode(real))
    longer = _PATH_LONGER if aside else _NAME_LONGER
    if name + _NAME_LONGER > NAME_MAX:
        return (f"its name is too long ({name} bytes) for the file a save makes beside it, {_NAME_LONGER} bytes"
                f" longer ({NAME_MAX} at most)")
    if whole + longer > _PATH_MAX:
        return (f"its path is too long ({whole} bytes) for the file a save makes beside it, {longer} bytes"
                f" longer ({_PATH_MAX} at most)")
    return None


def _owner(path: Path) -> int | None:
    try:
        return os.stat(path).st_uid
    except FileNotFoundError:
        return None


def _tables(value: Any) -> bool:
    return isinstance(value, (AoT, Array)) and all(isinstance(t, (Table, InlineTable)) for t in value)


def _not_editable(doc) -> str | None:
    """The key of valid TOML whose shape the editor cannot walk: `sources` not an array of tables, a
    source's `directories` not one, or a directory without its path."""
    sources = doc.get("sources")
    if sources is None:
        return None
    if not _tables(sources):
        return "sources"
    for i, source in enumerate(sources):
        dirs = source.get("directories")
        if dirs is not None and not (_tables(dirs) and all(isinstance(d.get("path"), str) for d in dirs)):
            return f"sources[{i}].directories"
    return None


def _find_source(doc, source_id: str) -> Table:
    for t in doc.get("sources", []):
        if t.get("id") == source_id:
            return t
    raise UsageError(f"source {source_id!r} is no longer in the configuration file",
                     hint="it was changed on disk: reload it")
