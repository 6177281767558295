"""A results page (benchmarks/results/<area>.md) written by its script without losing what people
wrote below its tables: the text after the NOTES line is kept when the tables are made again."""

from __future__ import annotations

from pathlib import Path

NOTES = "<!-- notes: what follows is written by hand and kept when the tables are made again -->"


def write_kept(path: Path, text: str) -> None:
    """`text` (the script's tables) as `path`, followed by the notes of the page there."""
    old = path.read_text() if path.exists() else ""
    notes = old.partition(NOTES)[2].strip()
    path.write_text(text.rstrip() + "\n" + (f"\n{NOTES}\n\n{notes}\n" if notes else ""))
