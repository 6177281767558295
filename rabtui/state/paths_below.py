"""SQL tests of whether a catalogued path (relative to /, bytes) lies at or below a directory
configured on its source: the place of each on the medium's union (`.archive/<dir>`), whichever
directory the path was first catalogued in (`paths.dir`: /data, since made /data/photos, or the
reverse)."""

from __future__ import annotations

import os
from typing import Iterable


def below_sql(path_col: str, dirs: Iterable[str]) -> tuple[str, tuple]:
    """SQL (and its parameters) true where `path_col` (a path relative to /, bytes) lies at or
    below one of `dirs` (directory paths on the source): the place of each on the medium's union
    (`.archive/<dir>`), whichever directory a path was first catalogued in (`paths.dir`)."""
    col, terms, args = f"CAST({path_col} AS BLOB)", [], []
    for d in dirs:
        rel = os.fsencode(d.strip("/"))
        if not rel:
            return "1", ()
        terms.append(f"({col}=? OR ({col}>=? AND {col}<?))")
        args += [rel, rel + b"/", rel + b"0"]     # "0" follows "/": the paths below sort between
    return (f"({' OR '.join(terms)})" if terms else "0"), tuple(args)


def under_sql(path_sql: str, dir_sql: str) -> str:
    """SQL true where the path `path_sql` (relative to /, bytes) lies at or below the directory
    `dir_sql` (an SQL text: a directory path on the source, as backup_dirs keeps it): below_sql's
    test where the directory is a column."""
    text, path = f"substr(rtrim({dir_sql}, '/'), 2)", f"CAST({path_sql} AS BLOB)"
    rel = f"CAST({text} AS BLOB)"     # (|| gives text: the slash joins before the cast)
    return f"(length({rel})=0 OR {path}={rel} OR substr({path}, 1, length({rel})+1)=CAST({text}||'/' AS BLOB))"
