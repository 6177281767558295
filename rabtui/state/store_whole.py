"""Whether an open state database is whole: its tables hold the schema's columns, and every page
holds together. What store_check.py cannot tell from the file before it is opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from rabtui.state.store_check import damaged


def check_columns(conn: sqlite3.Connection, path: Path, expected: dict[str, frozenset[str]]) -> None:
    """The tables of `expected` (table -> columns) the database has hold their columns: one dropped
    (by a hand, a tool) failed the first query that read it, mid-run (a backup at its catalog, with
    its data on the medium; `find` with a traceback), and `check` said all was well."""
    missing = []
    for table, columns in expected.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}
        if have:      # a table missing: check_tables judges it
            missing += [f"{table}.{c}" for c in sorted(columns - have)]
    if missing:
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        raise damaged(path, f"columns missing: {', '.join(missing[:4])}{more}")


def check_pages(conn: sqlite3.Connection) -> None:
    """SQLite's quick_check of every page of the database (its b-trees and their cells, the free
    list): a damaged page is otherwise met only by the first query that reads it, mid-run, and one
    in a table the health check does not read let `check` say all was well. Raises
    sqlite3.DatabaseError, as such a query does, naming the first problems found."""
    problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)").fetchall() if r[0] != "ok"]
    if problems:
        said = "; ".join(" ".join(p.split()) for p in problems)
        raise sqlite3.DatabaseError(f"database disk image is malformed (SQLite's quick_check: {said[:300]})")
