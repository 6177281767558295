"""tomlkit documents changed so that the rest of the file keeps its layout: a key set only when its
value changes, new lines indented as the file's, the comments and blank lines between tables kept
where they stand when tables go or move, the items of an inline array reordered with their
comments."""

from __future__ import annotations

import re
from typing import Any

from tomlkit.items import AoT, Array, Comment, InlineTable, Table, Whitespace


def plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def set_key(table: Table, key: str, value: Any, default: Any = None) -> None:
    """Change one key only when its value changes (its comment and layout then stay)."""
    if isinstance(value, tuple):
        value = list(value)
    current = plain(table[key]) if key in table else default
    if current == value or (empty(current) and empty(value)):
        return
    if empty(value) or (default is not None and value == default):   # a default is not written out
        if key in table:
            del table[key]
    elif isinstance(table, InlineTable) and key not in table:
        table.append(key, value)    # a space after the comma, which setting the key leaves out
    else:
        indent = indents(table)[1] if isinstance(table, Table) and key not in table else None
        table[key] = value
        if indent:
            table[key].trivia.indent = indent


def indents(table: Table) -> tuple[str, str | None]:
    """The spaces before the header of `table` (the comments above it left out) and before its first
    key (None when it has none): a file indented by hand gets its new lines indented alike."""
    keys = (item for key, item in table.value.body if key is not None and not isinstance(item, (Table, AoT)))
    first = next(keys, None)
    return re.search(r"[ \t]*$", table.trivia.indent).group(), first.trivia.indent if first is not None else None


def indent_like(table: Table, header: str, keys: str | None) -> None:
    """Indent a table just made, and the keys it holds, as given."""
    table.trivia.indent = re.sub(r"[ \t]*$", header, table.trivia.indent, count=1)
    if keys is not None:
        for key, item in table.value.body:
            if key is not None and not isinstance(item, (Table, AoT)):
                item.trivia.indent = keys


def reorder_array(array: Array, order: list[int]) -> None:
    """Put the items of `array` in `order` (the old index of each), each with the comment on its
    line; the indents and commas stay where they are. tomlkit has no call for it: its groups of
    (indent, value, comma, comment) are moved by hand (tomlkit 0.13 to 0.15)."""
    groups = [array._value[array._index_map[i]] for i in range(len(array))]
    moved = [(g.value, g.comment) for g in groups]
    for i, (group, j) in enumerate(zip(groups, order)):
        group.value, group.comment = moved[j]
        list.__setitem__(array, i, moved[j][0])
    array._reindex()


def pop_trailing_trivia(table: Table) -> list:
    """The comments and blank lines at the end of `table` (they introduce what followed it in the
    file), taken out of it."""
    body = deepest_last(table).value.body
    trailing = []
    while body and body[-1][0] is None and isinstance(body[-1][1], (Comment, Whitespace)):
        trailing.insert(0, body.pop()[1])
    return trailing


def move_trailing_trivia(before: Table, after: Table) -> None:
    """Comments and blank lines at the end of `before` go to the end of `after`, the table now
    written where they stand."""
    for item in pop_trailing_trivia(before):
        after.value.append(None, item)


def put_before(table: Table, trivia: list) -> None:
    """Comments and blank lines written just above the header of `table`."""
    table.trivia.indent = "".join(item.as_string() for item in trivia) + table.trivia.indent


def reorder_tables(aot: AoT, order: list[int]) -> None:
    """Put the tables of `aot` in `order` (the old index of each). Each table takes its own keys and
    the comments among them along; the comments and blank lines between two tables stay where they
    are in the file."""
    tables = list(aot)
    between = [pop_trailing_trivia(t) for t in tables]
    for i in reversed(range(len(tables))):
        del aot[i]
    for j in order:
        aot.append(tables[j])
    for t, trivia in zip(aot, between):
        for item in trivia:
            deepest_last(t).value.append(None, item)


def keep_trailing_trivia_of_only_table(doc, aot: AoT) -> None:
    """Before `aot`, whose only table goes, the comments at its end go above the table that follows
    it in the file (they introduced that one), else to the end of the one before it."""
    items = [item for _, item in doc.body]
    at = next(i for i, item in enumerate(items) if item is aot)
    after = [item for item in items[at + 1:] if isinstance(item, (Table, AoT))]
    before = [item for item in items[:at] if isinstance(item, (Table, AoT))]
    if after:
        put_before(after[0][0] if isinstance(after[0], AoT) else after[0], pop_trailing_trivia(aot[0]))
    elif before:
        move_trailing_trivia(aot[0], deepest_last(before[-1][-1] if isinstance(before[-1], AoT) else before[-1]))


def deepest_last(table: Table) -> Table:
    """The table written last in the file among `table` and its arrays of tables."""
    while table.value.body and isinstance(table.value.body[-1][1], AoT) and len(table.value.body[-1][1]):
        table = table.value.body[-1][1][-1]
    return table

