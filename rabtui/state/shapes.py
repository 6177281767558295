"""Which of the files an archive directory's backups saved up to a backup it shows, where the source
gave a place another shape (a file made a directory, a directory made a file, and back): at each
place the newest shape saved there up to that backup wins. A file shows where no file was saved
below it later (it was made a directory), and where each directory on the way to it is one as
the newest saved there has it: no file saved at that place after everything saved below it. What
an older directory held comes back when a newer backup makes the place a directory again, as a
restore from the medium and the discs give it (read in the backup that saved it, which retention
keeps); the union itself lost it with the directory."""

from __future__ import annotations


def on_the_way(path: bytes) -> list[bytes]:
    """The directories on the way to `path` (relative to /), the nearest first."""
    out, at = [], path.rfind(b"/")
    while at > 0:
        out.append(path[:at])
        at = path.rfind(b"/", 0, at)
    return out


def newest_below(saved: dict[bytes, tuple]) -> dict[bytes, int]:
    """directory -> the newest backup that saved a file below it, of `saved` (path -> (..., first_backup))."""
    out: dict[bytes, int] = {}
    for path, v in saved.items():
        first, at = v[-1], path.rfind(b"/")
        while at > 0:
            up = path[:at]
            if out.get(up, -1) >= first:
                break       # the directories above it saw one as new already
            out[up] = first
            at = path.rfind(b"/", 0, at)
    return out


def shown(saved: dict[bytes, tuple], files_above: frozenset[bytes] = frozenset(),
          below: dict[bytes, int] | None = None) -> dict[bytes, tuple]:
    """`saved` (path -> (..., first_backup): the newest file at each path) but the files the newest
    shape of their place or of a place on the way takes the place of. `files_above`: the places on
    the way to them, outside `saved`, whose newest shape is a file. `below`: newest_below(saved),
    when the caller has it."""
    below = newest_below(saved) if below is None else below
    if not files_above and not any(place in saved for place in below):
        return saved    # no place saved both as a file and as a directory: each file shows
    taken: dict[bytes, bool] = {}     # directory -> it, or one on the way to it, is a file now

    def a_file(place: bytes) -> bool:
        v = saved.get(place)
        return place in files_above or (v is not None and v[-1] > below.get(place, -1))

    def taken_at(place: bytes) -> bool:
        # up to the nearest place judged already, then down again: each directory judged once
        way = []
        while place not in taken:
            way.append(place)
            at = place.rfind(b"/")
            if at <= 0:
                break
            place = place[:at]
        hit = taken.get(place, False)
        for up in reversed(way):
            hit = taken[up] = hit or a_file(up)
        return hit

    out = {}
    for path, v in saved.items():
        at = path.rfind(b"/")
        if below.get(path, -1) < v[-1] and not (at > 0 and taken_at(path[:at])):
            out[path] = v
    return out
