"""Editing the operator's configuration file in place (tomlkit), for the UI's source form.

Only what the operator changed is written: the `[[sources]]` table being edited, and in it only
the keys whose values changed; comments, order, relative paths, hand-written tables and every other
byte of the file stay as they were, its line ends (LF or CRLF) too; sources or directories written
as an inline array (`directories = [{path = "/etc"}]`) stay one, and the lines added to a file
indented by hand are indented alike. The file is never written over changes
made on disk since it was read (`ChangedOnDisk` carries what changed), the result is validated as
`check-config` would, and it is replaced atomically (a temporary file, fsync, rename), private to its
owner (0600); a symlinked file is replaced where the link points, and the link stays.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Array, Comment, InlineTable, Table, Whitespace

from rabtui import privacy
from rabtui.config import keys as K
from rabtui.config.model import Directory, Source
from rabtui.config.parse import BOM, parse, read_toml
from rabtui.errors import ConfigError, UsageError

# The keys of a [[sources]] and a [[sources.directories]] table that the form edits (any other key is
# left as it is), and those with a default, which the file may leave out.
SOURCE_FIELDS = tuple(f for f in K.keys(Source) if f.spec.form)
SOURCE_KEYS = tuple(f.name for f in SOURCE_FIELDS)
DIRECTORY_KEYS = tuple(f.name for f in K.keys(Directory) if f.spec.form)


def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in K.keys(cls) if f.spec.form and f.default not in (None, (), K.MISSING)}


SOURCE_DEFAULTS = _defaults(Source)
DIRECTORY_DEFAULTS = _defaults(Directory)


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
        table = _find_source(tomlkit.parse(self._toml()), source_id)
        out = {key: _plain(table[key]) for key in SOURCE_KEYS if key in table}
        out["directories"] = [{k: _plain(d[k]) for k in DIRECTORY_KEYS if k in d} for d in table.get("directories", [])]
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
                    _move_trailing_trivia(sources[-1], table)
                sources.append(table)
            table = doc["sources"][-1]
        else:
            table = _find_source(doc, old_id)
        for key in SOURCE_KEYS:
            _set(table, key, values.get(key), SOURCE_DEFAULTS.get(key))
        if old_id is None and not isinstance(table, InlineTable) and len(doc["sources"]) > 1:
            _indent_like(table, *_indents(doc["sources"][-2]))
        _put_directories(table, values.get("directories", []))
        return self._dumps(doc)

    def source_ids(self) -> list[str]:
        return [str(t.get("id")) for t in tomlkit.parse(self._toml()).get("sources", [])]

    def delete_source(self, source_id: str) -> str:
        doc = self._parse()
        sources = doc["sources"]
        index = list(sources).index(_find_source(doc, source_id))
        # the comments that introduced the next table stay before it
        if index:
            _move_trailing_trivia(sources[index], _deepest_last(sources[index - 1]))
        elif len(sources) > 1:
            _put_before(sources[1], _pop_trailing_trivia(sources[0]))
        else:
            _keep_trailing_trivia_of_only_table(doc, sources)
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
        doc = tomlkit.parse(text)
        if tomlkit.dumps(doc) != text:
            raise UsageError(f"{self.path} cannot be edited here without moving parts of it (for instance"
                             " [[sources]] tables with other tables between them); nothing was changed",
                             hint="edit it by hand, or put its [[sources]] tables one after another")
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
    """ConfigError (file:line) when `text`, the file of `snapshot` edited, is not a valid configuration."""
    path = snapshot.path
    try:
        data = tomllib.loads(text.removeprefix(BOM))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: the edit would not be valid TOML ({exc}); nothing was saved",
                          hint="edit the file by hand") from exc
    parse(data, path=path, text=text.removeprefix(BOM), check_media=False)


def save(snapshot: Snapshot, text: str) -> Path:
    """Validate `text`, then put it in place of the file, unless the file changed since `snapshot`
    or was made read-only. A symlinked file is written where the link points (the link stays a
    link)."""
    check(snapshot, text)
    path = snapshot.path
    try:
        now = path.read_bytes()
    except FileNotFoundError:
        now = b""
    if now != snapshot.text.encode("utf-8"):
        diff = "".join(difflib.unified_diff(snapshot.text.splitlines(True),
                                            now.decode("utf-8", "replace").splitlines(True),
                                            f"{path.name} (as read)", f"{path.name} (on disk now)"))
        raise ChangedOnDisk(path, diff)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = stat.S_IWUSR
    if not mode & stat.S_IWUSR:   # the rename would replace it all the same: the operator's no stands
        raise UsageError(f"{path} is read-only (mode {stat.S_IMODE(mode):04o}): nothing was saved",
                         hint="make it writable (chmod u+w) to edit it here")
    replace(path, text)
    return path


def replace(path: str | os.PathLike, text: str) -> None:
    """Put `text` in place of the config file at `path` atomically: a crash or a full disk leaves
    the old file or the new one, never half of one (OSError is raised, the old file as it was)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
        owner = (st.st_uid, st.st_gid)
    except FileNotFoundError:
        owner = None
    # private: it may hold commands run as root on sources, and notification tokens; the temporary
    # file is made beside the real file, so that the rename replaces it and not a link to it; a
    # file written as root (sudo) is left to its owner
    privacy.replace_file(real, text.encode("utf-8"), privacy.FILE_MODE, owner)


# --- tomlkit ---------------------------------------------------------------------------------------


def _plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def _set(table: Table, key: str, value: Any, default: Any = None) -> None:
    """Change one key only when its value changes (its comment and layout then stay)."""
    if isinstance(value, tuple):
        value = list(value)
    current = _plain(table[key]) if key in table else default
    if current == value or (_empty(current) and _empty(value)):
        return
    if _empty(value) or (default is not None and value == default):   # a default is not written out
        if key in table:
            del table[key]
    elif isinstance(table, InlineTable) and key not in table:
        table.append(key, value)    # a space after the comma, which setting the key leaves out
    else:
        indent = _indents(table)[1] if isinstance(table, Table) and key not in table else None
        table[key] = value
        if indent:
            table[key].trivia.indent = indent


def _indents(table: Table) -> tuple[str, str | None]:
    """The spaces before the header of `table` (the comments above it left out) and before its first
    key (None when it has none): a file indented by hand gets its new lines indented alike."""
    keys = (item for key, item in table.value.body if key is not None and not isinstance(item, (Table, AoT)))
    first = next(keys, None)
    return re.search(r"[ \t]*$", table.trivia.indent).group(), first.trivia.indent if first is not None else None


def _directory_indents(source: Table, existing: AoT | None) -> tuple[str, str | None]:
    """Those of the source's first [[sources.directories]] table, else one step in from the source."""
    if existing is not None and len(existing):
        return _indents(existing[0])
    header, keys = _indents(source)
    return (keys, keys + keys[len(header):]) if keys is not None and keys.startswith(header) else ("", None)


def _indent_like(table: Table, header: str, keys: str | None) -> None:
    """Indent a table just made, and the keys it holds, as given."""
    table.trivia.indent = re.sub(r"[ \t]*$", header, table.trivia.indent, count=1)
    if keys is not None:
        for key, item in table.value.body:
            if key is not None and not isinstance(item, (Table, AoT)):
                item.trivia.indent = keys


def _put_directories(table: Table, dirs: list[dict[str, Any]]) -> None:
    existing = table.get("directories")
    old = [{k: _plain(d[k]) for k in DIRECTORY_KEYS if k in d} for d in existing] if existing else []

    def normal(ds):
        return [{k: v for k, v in d.items() if not _empty(v) and DIRECTORY_DEFAULTS.get(k) != v} for d in ds]

    if normal(old) == normal(dirs):
        return
    if existing is None and isinstance(table, InlineTable):
        table.append("directories", tomlkit.array())
        existing = table["directories"]
    if isinstance(existing, Array):
        _put_inline_directories(table, existing, old, dirs)
        return
    old_paths = [d["path"] for d in old]
    new_paths = [d["path"] for d in dirs]
    if existing is not None:        # edited in place: the tables kept keep their comments
        for i in reversed(range(len(old_paths))):
            if old_paths[i] not in new_paths:
                if len(existing) == 1:
                    _move_trailing_trivia(existing[i], table)
                elif i:     # the comments that introduced what followed stay before it
                    _move_trailing_trivia(existing[i], existing[i - 1])
                else:
                    _put_before(existing[1], _pop_trailing_trivia(existing[0]))
                del existing[i]
                del old_paths[i]
        kept = [p for p in new_paths if p in old_paths]
        if kept != old_paths:       # reordered: the tables move, the comments between them stay
            _reorder_tables(existing, [old_paths.index(p) for p in kept])
    by_path = {_plain(d["path"]): d for d in existing} if existing is not None else {}
    for d in dirs:
        kept = by_path.get(d["path"])
        sub = kept if kept is not None else tomlkit.table()
        for key in DIRECTORY_KEYS:   # a new table says its kind; a kept one may leave it out
            _set(sub, key, d.get(key), DIRECTORY_DEFAULTS.get(key) if kept is not None else None)
        if kept is None:
            _indent_like(sub, *_directory_indents(table, existing))
            _move_trailing_trivia(table, sub)
            if existing is None:
                table.append("directories", AoT([sub]))
                existing = table["directories"]
            else:
                existing.append(sub)
    if existing is not None and not len(existing):
        del table["directories"]


def _put_inline_directories(table: Table, existing: Array, old: list[dict[str, Any]],
                            dirs: list[dict[str, Any]]) -> None:
    """`directories = [{path = "/etc"}, ...]` stays an inline array: the tables kept are edited in
    place and keep the comments on their lines, also when they move; the new ones are inline tables
    where the form has them (its place in the table and the comment after its bracket stay)."""
    old_paths = [d["path"] for d in old]
    new_paths = [d["path"] for d in dirs]
    by_path = {_plain(d["path"]): d for d in existing}
    wanted = []
    for d in dirs:
        kept = by_path.get(d["path"])
        sub = kept if kept is not None else tomlkit.inline_table()
        for key in DIRECTORY_KEYS:   # a new table says its kind; a kept one may leave it out
            _set(sub, key, d.get(key), DIRECTORY_DEFAULTS.get(key) if kept is not None else None)
        wanted.append(sub)
    if not wanted:
        del table["directories"]
        return
    for i in reversed(range(len(old_paths))):
        if old_paths[i] not in new_paths:
            del existing[i]
    kept = [p for p in old_paths if p in new_paths]
    order = [kept.index(p) for p in new_paths if p in old_paths]
    if order != sorted(order):      # reordered: the tables move, with the comment on each one's line
        _reorder(existing, order)
    for at, (sub, path) in enumerate(zip(wanted, new_paths)):   # the new ones where the form has them
        if path in old_paths:
            continue
        if at < len(existing):
            existing.insert(at, sub)
        else:
            existing.append(sub)


def _reorder(array: Array, order: list[int]) -> None:
    """Put the items of `array` in `order` (the old index of each), each with the comment on its
    line; the indents and commas stay where they are. tomlkit has no call for it: its groups of
    (indent, value, comma, comment) are moved by hand (tomlkit 0.13 to 0.15)."""
    groups = [array._value[array._index_map[i]] for i in range(len(array))]
    moved = [(g.value, g.comment) for g in groups]
    for i, (group, j) in enumerate(zip(groups, order)):
        group.value, group.comment = moved[j]
        list.__setitem__(array, i, moved[j][0])
    array._reindex()


def _pop_trailing_trivia(table: Table) -> list:
    """The comments and blank lines at the end of `table` (they introduce what followed it in the
    file), taken out of it."""
    body = _deepest_last(table).value.body
    trailing = []
    while body and body[-1][0] is None and isinstance(body[-1][1], (Comment, Whitespace)):
        trailing.insert(0, body.pop()[1])
    return trailing


def _move_trailing_trivia(before: Table, after: Table) -> None:
    """Comments and blank lines at the end of `before` go to the end of `after`, the table now
    written where they stand."""
    for item in _pop_trailing_trivia(before):
        after.value.append(None, item)


def _put_before(table: Table, trivia: list) -> None:
    """Comments and blank lines written just above the header of `table`."""
    table.trivia.indent = "".join(item.as_string() for item in trivia) + table.trivia.indent


def _reorder_tables(aot: AoT, order: list[int]) -> None:
    """Put the tables of `aot` in `order` (the old index of each). Each table takes its own keys and
    the comments among them along; the comments and blank lines between two tables stay where they
    are in the file."""
    tables = list(aot)
    between = [_pop_trailing_trivia(t) for t in tables]
    for i in reversed(range(len(tables))):
        del aot[i]
    for j in order:
        aot.append(tables[j])
    for t, trivia in zip(aot, between):
        for item in trivia:
            _deepest_last(t).value.append(None, item)


def _keep_trailing_trivia_of_only_table(doc, aot: AoT) -> None:
    """Before `aot`, whose only table goes, the comments at its end go above the table that follows
    it in the file (they introduced that one), else to the end of the one before it."""
    items = [item for _, item in doc.body]
    at = next(i for i, item in enumerate(items) if item is aot)
    after = [item for item in items[at + 1:] if isinstance(item, (Table, AoT))]
    before = [item for item in items[:at] if isinstance(item, (Table, AoT))]
    if after:
        _put_before(after[0][0] if isinstance(after[0], AoT) else after[0], _pop_trailing_trivia(aot[0]))
    elif before:
        _move_trailing_trivia(aot[0], _deepest_last(before[-1][-1] if isinstance(before[-1], AoT) else before[-1]))


def _deepest_last(table: Table) -> Table:
    """The table written last in the file among `table` and its arrays of tables."""
    while table.value.body and isinstance(table.value.body[-1][1], AoT) and len(table.value.body[-1][1]):
        table = table.value.body[-1][1][-1]
    return table


def _find_source(doc, source_id: str) -> Table:
    for t in doc.get("sources", []):
        if t.get("id") == source_id:
            return t
    raise UsageError(f"source {source_id!r} is no longer in the configuration file",
                     hint="it was changed on disk: reload it")
