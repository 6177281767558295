"""A backup.json bounded to the room kept for it on the medium (records.ROOM): a run's final record
is written into that room, on a medium that may have filled up during the backup, and a record
longer than the room could then not be written, leaving a complete backup unrecorded there.

What grows without bound is text (each directory's `message`, the steps' messages, the run's
`reason`: rsync's error lines quoting long names, escaped) and the names of the paths not read and
of the files with holes (bounded per directory, not per run). The texts are cut first, to a budget
shared among them (each keeps its first lines and says how much was cut; the state database keeps
the whole where it does: the steps' messages and the reason), then, if need be, the names, the
last first: of the files with holes first (their holes still out of the totals), then of the
paths not read (then counted in `unreadable_unnamed`, as unreadable.py counts those past its own
bound; each out of `unmade` too, where it is named again as one the medium could not hold)."""

from __future__ import annotations

import copy
import json

NOTE = " [... {} more characters cut to fit backup.json]"
SLACK = 128          # per text cut, for its note
TEXTS_AT_LEAST = 4   # of the room, the part the texts keep however many names there are: those go first then


def encoded(data: dict) -> bytes:
    """`data` as backup.json holds it."""
    return (json.dumps(data, indent=2, default=str) + "\n").encode()


def encoded_within(data: dict, room: int) -> bytes:
    """`data` encoded as backup.json holds it in at most `room` bytes: as it is (encoded once) when
    it fits, else a copy of it cut to fit."""
    text = encoded(data)
    return text if len(text) <= room else encoded(_cut(data, room))


def bounded(data: dict, room: int) -> dict:
    """`data` (a backup.json's content), or a copy of it cut to fit `room` bytes once encoded."""
    return data if len(encoded(data)) <= room else _cut(data, room)


def _cut(data: dict, room: int) -> dict:
    data = copy.deepcopy(data)
    _cut_texts(data, room)
    dirs = [d for d in data.get("directories") or () if isinstance(d, dict)]
    for key in ("holes", "unreadable"):     # the holes only make sizes exact; the paths not read tell diff a deletion from none
        over = len(encoded(data)) - room
        while over > 0 and any(d.get(key) for d in dirs):
            over -= _drop_last(max((d for d in dirs if d.get(key)), key=lambda d: len(d[key])), key)
            if over <= 0:
                over = len(encoded(data)) - room
    return data


def _texts(data: dict) -> list[tuple[dict, str]]:
    """Where the record's free texts are: (the dict, its key) of each."""
    places = [(data, "reason")]
    places += [(s, "message") for s in data.get("steps") or () if isinstance(s, dict)]
    places += [(d, "message") for d in data.get("directories") or () if isinstance(d, dict)]
    return [(owner, key) for owner, key in places if isinstance(owner.get(key), str)]


def _cut_texts(data: dict, room: int) -> None:
    places = _texts(data)
    if not places:
        return
    texts = [owner[key] for owner, key in places]
    for owner, key in places:
        owner[key] = ""
    budget = max(0, max(room // TEXTS_AT_LEAST, room - len(encoded(data))) - SLACK * len(places))
    sizes = [_size(t) for t in texts]
    # shared: each text its part of what the shorter ones leave
    left = len(texts)
    for n in sorted(sizes):
        if n * left > budget:
            break
        budget -= n
        left -= 1
    share = budget // left if left else budget
    for (owner, key), text, n in zip(places, texts, sizes):
        owner[key] = text if n <= share else _first_lines(text, share)


def _size(text: str) -> int:
    return len(json.dumps(text)) - 2


def _first_lines(text: str, share: int) -> str:
    """The first lines of `text` (rsync's lines, joined with "; ") that take at most `share` bytes
    in JSON, and a note of how many characters were cut."""
    lo, hi = 0, len(text)
    while lo < hi:     # the most characters whose JSON fits the share
        mid = (lo + hi + 1) // 2
        if _size(text[:mid]) <= share:
            lo = mid
        else:
            hi = mid - 1
    kept = text[:lo]
    cut = kept.rfind("; ")
    if cut > 0:
        kept = kept[:cut]
    return kept + NOTE.format(len(text) - len(kept))


def _drop_last(d: dict, key: str) -> int:
    """The last name of `d[key]` left out (a path not read then counted unnamed, and out of `unmade`,
    which names it again if the medium could not hold it); the bytes saved."""
    names = d[key]
    if isinstance(names, dict):
        name = next(reversed(names))
        saved = len(json.dumps({name: names.pop(name)})) + 4
    else:
        name = names.pop()
        saved = len(json.dumps(name)) + 6
        d["unreadable_unnamed"] = (d.get("unreadable_unnamed") or 0) + 1
        unmade = d.get("unmade")
        if isinstance(unmade, list) and name in unmade:
            unmade.remove(name)
            saved += len(json.dumps(name)) + 6
    return saved
