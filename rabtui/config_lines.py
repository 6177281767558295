"""Where each key of a TOML text stands, so that config errors can name the line.

tomllib gives values but no positions; this scanner reads the text again, following table headers
(`[t]`, `[[t]]`, `[[t.sub]]`) and `key = value` lines, and records the line of each key path, e.g.
("sources", 1, "directories", 0, "kind").
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_.-]+)\s*=')


def _split_key(raw: str) -> list[str]:
    if raw[0] in "\"'":
        return [raw[1:-1]]
    return [part.strip() for part in raw.split(".")]


def _bracket_balance(text: str) -> int:
    """Open minus closed brackets outside strings and comments (for multi-line arrays)."""
    depth, quote, i = 0, None, 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "#":
            break
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return depth


class KeyLines:
    def __init__(self, text: str):
        self._lines: dict[tuple, int] = {}
        counts: dict[tuple, int] = {}
        current: tuple = ()
        depth = 0
        for number, line in enumerate(text.splitlines(), start=1):
            if depth > 0:
                depth += _bracket_balance(line)
                continue
            header = _HEADER.match(line)
            if header:
                names = _split_key(header.group(2))
                path: tuple = ()
                # resolve parents of arrays of tables to their current index
                for name in names[:-1]:
                    path += (name,)
                    if path in counts:
                        path += (counts[path] - 1,)
                path += (names[-1],)
                if header.group(1) == "[[":
                    index = counts.get(path, 0)
                    counts[path] = index + 1
                    # a new element resets the counts of arrays nested inside it
                    for key in [k for k in counts if len(k) > len(path) and k[: len(path)] == path]:
                        del counts[key]
                    path += (index,)
                current = path
                self._lines.setdefault(current, number)
                continue
            key = _KEY.match(line)
            if key:
                self._lines.setdefault(current + tuple(_split_key(key.group(1))), number)
                depth = _bracket_balance(line[key.end():])

    def line_of(self, keypath: tuple) -> int | None:
        keypath = tuple(keypath)
        while keypath:
            if keypath in self._lines:
                return self._lines[keypath]
            keypath = keypath[:-1]
        return None
