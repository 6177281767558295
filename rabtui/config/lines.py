"""Where each key of a TOML text stands, so that config errors can name the line.

tomllib gives values but no positions; this scanner reads the text again, following table headers
(`[t]`, `[[t]]`, `[[t.sub]]`) and `key = value` lines, and records the line of each key path, e.g.
("sources", 1, "directories", 0, "kind").
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
KEY = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_.-]+)\s*=')


def _split_key(raw: str) -> list[str]:
    if raw[0] in "\"'":
        return [raw[1:-1]]
    return [part.strip() for part in raw.split(".")]


class _Scanner:
    """Bracket depth and string state across lines (arrays and multi-line strings span lines)."""

    def __init__(self):
        self.depth = 0
        self.quote: str | None = None    # '"', "'", '"""' or "'''" while inside a string

    @property
    def inside(self) -> bool:
        return self.depth > 0 or self.quote is not None

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            c = text[i]
            if self.quote:
                if c == "\\" and self.quote[0] == '"':
                    i += 2
                    continue
                if text.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = None
                    continue
            elif c in "\"'":
                self.quote = c * 3 if text.startswith(c * 3, i) else c
                i += len(self.quote)
                continue
            elif c == "#":
                break
            elif c in "[{":
                self.depth += 1
            elif c in "]}":
                self.depth -= 1
            i += 1
        if self.quote in ('"', "'"):   # a one-line string cannot go on past its line
            self.quote = None


class KeyLines:
    def __init__(self, text: str):
        self._lines: dict[tuple, int] = {}
        counts: dict[tuple, int] = {}
        current: tuple = ()
        scan = _Scanner()
        # TOML ends a line at \n only (str.splitlines would end one at \u2028 in a comment or a string too)
        for number, line in enumerate(text.split("\n"), start=1):
            if scan.inside:
                scan.feed(line)
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
                    self._lines.setdefault(path, number)   # the array itself: its first element
                    index = counts.get(path, 0)
                    counts[path] = index + 1
                    # a new element resets the counts of arrays nested inside it
                    for key in [k for k in counts if len(k) > len(path) and k[: len(path)] == path]:
                        del counts[key]
                    path += (index,)
                current = path
                self._lines.setdefault(current, number)
                continue
            key = KEY.match(line)
            if key:
                parts = tuple(_split_key(key.group(1)))
                for n in range(1, len(parts) + 1):   # a.b.c = 1 also places a and a.b
                    self._lines.setdefault(current + parts[:n], number)
                scan.feed(line[key.end():])

    def line_of(self, keypath: tuple) -> int | None:
        keypath = tuple(keypath)
        while keypath:
            if keypath in self._lines:
                return self._lines[keypath]
            keypath = keypath[:-1]
        return None
