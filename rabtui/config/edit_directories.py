"""A source's directories written into its table as the form has them: the tables kept are edited in
place, with their comments, the ones gone removed, new ones added indented as the others; an inline
array (`directories = [{path = "/etc"}]`) stays one."""

from __future__ import annotations

from typing import Any

import tomlkit
from tomlkit.items import AoT, Array, InlineTable, Table

from rabtui.config.form_keys import DIRECTORY_DEFAULTS, DIRECTORY_KEYS
from rabtui.config.toml_layout import (
    empty, indent_like, indents, move_trailing_trivia, plain, pop_trailing_trivia, put_before, reorder_array,
    reorder_tables, set_key,
)


def _directory_indents(source: Table, existing: AoT | None) -> tuple[str, str | None]:
    """Those of the source's first [[sources.directories]] table, else one step in from the source."""
    if existing is not None and len(existing):
        return indents(existing[0])
    header, keys = indents(source)
    return (keys, keys + keys[len(header):]) if keys is not None and keys.startswith(header) else ("", None)


def put_directories(table: Table, dirs: list[dict[str, Any]]) -> None:
    existing = table.get("directories")
    old = [{k: plain(d[k]) for k in DIRECTORY_KEYS if k in d} for d in existing] if existing else []

    def normal(ds):
        return [{k: v for k, v in d.items() if not empty(v) and DIRECTORY_DEFAULTS.get(k) != v} for d in ds]

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
                    move_trailing_trivia(existing[i], table)
                elif i:     # the comments that introduced what followed stay before it
                    move_trailing_trivia(existing[i], existing[i - 1])
                else:
                    put_before(existing[1], pop_trailing_trivia(existing[0]))
                del existing[i]
                del old_paths[i]
        kept = [p for p in new_paths if p in old_paths]
        if kept != old_paths:       # reordered: the tables move, the comments between them stay
            reorder_tables(existing, [old_paths.index(p) for p in kept])
    by_path = {plain(d["path"]): d for d in existing} if existing is not None else {}
    for d in dirs:
        kept = by_path.get(d["path"])
        sub = kept if kept is not None else tomlkit.table()
        for key in DIRECTORY_KEYS:   # a new table says its kind; a kept one may leave it out
            set_key(sub, key, d.get(key), DIRECTORY_DEFAULTS.get(key) if kept is not None else None)
        if kept is None:
            indent_like(sub, *_directory_indents(table, existing))
            move_trailing_trivia(table, sub)
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
    by_path = {plain(d["path"]): d for d in existing}
    wanted = []
    for d in dirs:
        kept = by_path.get(d["path"])
        sub = kept if kept is not None else tomlkit.inline_table()
        for key in DIRECTORY_KEYS:   # a new table says its kind; a kept one may leave it out
            set_key(sub, key, d.get(key), DIRECTORY_DEFAULTS.get(key) if kept is not None else None)
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
        reorder_array(existing, order)
    for at, (sub, path) in enumerate(zip(wanted, new_paths)):   # the new ones where the form has them
        if path in old_paths:
            continue
        if at < len(existing):
            existing.insert(at, sub)
        else:
            existing.append(sub)

