"""The catalog verbs: every version of matching files (on media and on checkpoint discs), and what
changed between two backups of a source."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field

from rabtui.checkpoint import marks
from rabtui.config import Config
from rabtui.errors import Cancelled, UsageError
from rabtui.media import unknown_backups
from rabtui.events import WARNING
from rabtui.media.at_hand import left_unmounted, media_at_hand, moved_away
from rabtui.media.medium_layout import is_backup_ref
from rabtui.restore import copies
from rabtui.restore.known_source import source_of
from rabtui.state import backup_diff, catalog, others, queries
from rabtui.state.store import RESTORABLE, Store


@dataclass
class Found:
    """The versions found, which media are mounted now (a copy on another is out of reach), and
    which the configuration names (one taken out of it, retired or lost, keeps its backups in the
    state, but no restore reads them: restore/copies.configured)."""

    versions: list[catalog.Version]
    at_hand: set[str]
    configured: set[str]
    moved: set[str] = field(default_factory=set)    # media whose backups the catalog records off their path
    # media that may hold backups the state database does not know, each with why (media/unknown_backups.py)
    not_known: list[str] = field(default_factory=list)
    # (source, medium, name) -> id of the backups named; the (source, name) two media give (named_twice)
    ids: dict[tuple[str, str, str], int] = field(default_factory=dict)
    twice: set[tuple[str, str]] = field(default_factory=set)
    plugged: set[str] = field(default_factory=set)    # media with a device plugged in, not mounted (a restore mounts them)
    warned: list[str] = field(default_factory=list)   # what the look at them warned of

    def as_json(self) -> list[dict]:
        out = []
        for v in self.versions:
            found = copies.with_at_hand(v.as_json(), self.at_hand)
            for loc, shown in zip(v.locations, found["locations"]):
                if loc.kind == "backup":
                    shown["configured"] = loc.medium in self.configured
                    shown["plugged_in"] = loc.medium in self.plugged and loc.medium not in self.at_hand
                    shown["backup_ids"] = [self.ids.get((v.source, loc.medium, n)) for n in loc.backups]
                    if loc.unreadable:
                        shown["unreadable_id"] = self.ids.get((v.source, loc.medium, loc.unreadable))
            out.append(found)
        return out

    def not_listed(self) -> list[str]:
        """What may hold more than is listed: a line per medium (not_known), said beside the versions."""
        return self.warned + [f"{line}: what it holds is not listed; `rabtui rebuild-state` with it mounted records"
                              " its backups" for line in self.not_known]

    def describe(self, version: catalog.Version, location: catalog.Location) -> str:
        """Where `location` is, a backup's id beside its name where the name stands for two."""
        names = [*location.backups, *([location.unreadable] if location.unreadable else [])]
        return location.describe({n: self.ids[(version.source, location.medium, n)] for n in names
                                  if (version.source, n) in self.twice and (version.source, location.medium, n) in self.ids})

    def out_of_reach(self, location) -> str | None:
        """Why a copy at `location` cannot be read now (a medium no longer configured, not mounted), or None."""
        if location.kind != "backup":
            return None
        if location.medium not in self.configured:
            return "medium no longer configured"
        if location.medium in self.moved:
            return "recorded off the medium's path, not read: `rabtui check` says more"
        if location.medium in self.at_hand:
            return None
        return "plugged in, not mounted: a restore mounts it" if location.medium in self.plugged else "not mounted"


# a disc's catalog marks its entries that are no regular file (checkpoint/marks.py): find's kinds
DISC_KINDS = {marks.LINK_MARK: "symlink", marks.SPECIAL_MARK: "special", marks.DIR_MARK: "directory"}


def archive_dirs(cfg: Config) -> dict[str, tuple[str, ...]]:
    """Each source's archive directories (their backups hold only what was new)."""
    return {s.id: s.archive_paths for s in cfg.sources}


def find(cfg: Config, store: Store, pattern: str, *, source: str | None = None, ignore_case: bool = False,
         limit: int | None = None, cancel=None) -> Found:
    """Every version of the files whose name (or path, with a /) matches `pattern`, with where it is."""
    if not pattern:
        raise UsageError("give a pattern: a file name, or a glob like '*.conf' or 'etc/*'")
    if source is not None:       # "" names no source, rather than every one
        source_of(cfg, store, source)
    try:
        return _find(cfg, store, pattern, source, ignore_case, limit, cancel)
    except sqlite3.OperationalError as exc:
        # SQLite's limits on a GLOB's length, on the depth of an expression and on the number of
        # values in a statement (some 4 for each letter written more than one way, an accented one)
        if not any(said in str(exc) for said in ("pattern too complex", "Expression tree is too large",
                                                 "too many SQL variables")):
            raise
        raise UsageError(f"the pattern is too long to search for ({len(pattern)} characters, {len(os.fsencode(pattern))}"
                         " bytes): SQLite takes 50,000 bytes") from None


def _find(cfg: Config, store: Store, pattern: str, source: str | None, ignore_case: bool, limit: int | None,
          cancel) -> Found:
    found = catalog.find(store, pattern, source, archive_dirs(cfg), limit=limit, ignore_case=ignore_case, cancel=cancel)
    # the symlinks and special files: in the backups, and on the discs (as their catalog marks them)
    entries = {(v.source, v.path, v.kind, v.size, v.mtime): v for v in
               others.find(store, pattern, source, archive_dirs(cfg), ignore_case=ignore_case, cancel=cancel)}
    for v in catalog.find_on_discs(store, pattern, source, ignore_case=ignore_case, kinds=DISC_KINDS):
        held = entries.get((v.source, v.path, v.kind, v.size, v.mtime))
        if held is not None:
            held.locations += v.locations
        else:
            found.append(v)
    found += entries.values()
    found.sort(key=lambda v: (v.source, v.path, v.mtime, v.size))    # a file only discs hold, in its place
    ids, twice = queries.backup_ids(store)
    warned: list[str] = []      # a device medium left unmounted is looked at as a restore looks (read-only)
    try:
        unknown = unknown_backups.not_known(cfg, store, {source} if source is not None else {s.id for s in cfg.sources},
                                            lambda e: warned.append(e.message) if e.kind == WARNING else None, cancel)
    except Cancelled as exc:    # what the look warned of is said all the same (a mount it made, left)
        if not warned:
            raise
        raise Cancelled(exc.message, hint="\n".join(filter(None, [exc.hint, *warned]))) from None
    return Found(found, media_at_hand(cfg, store), {m.id for m in cfg.media},
                 {m.id for m in cfg.media if moved_away(m, store)}, unknown, ids, twice,
                 {m.id for m in cfg.media if left_unmounted(m)}, warned)


def find_with_newest_backup(cfg: Config, store: Store, pattern: str, limit: int = 500, cancel=None,
                            said: list[str] | None = None) -> list[dict]:
    """Versions of the files whose name matches, as `rabtui find` finds them (on media and on
    discs), each with the newest backup holding it (Browse opens that backup at the file).
    `said` gets what `find` says beside them (Found.not_listed)."""
    out = []
    found = find(cfg, store, pattern, limit=limit, cancel=cancel)
    if said is not None:
        said += found.not_listed()
    for v in found.versions:
        backups = [loc for loc in v.locations if loc.kind == "backup" and loc.backups]
        newest = None
        if backups:
            loc = backups[-1]
            newest = queries.backup_named(store, v.source, loc.medium, loc.backups[-1])
        out.append({"source": v.source, "path": v.path, "size": v.size, "mtime": v.mtime, "kind": v.kind,
                    "where": "; ".join(_where(found, v, loc) for loc in v.locations), "backup": newest})
    return out


def _where(found: Found, version: catalog.Version, location) -> str:
    away = found.out_of_reach(location)
    return found.describe(version, location) + (f" ({away})" if away else "")


def check_backup_ref(ref: str) -> None:
    """A backup named by the operator (its name or id), refused as a usage error when it cannot
    name one, before it reaches the database."""
    if not is_backup_ref(ref):
        raise UsageError(f"{ref}: not a backup's name (backup-YYYYmmddHHMMSS[-N]) or id")


def diff(cfg: Config, store: Store, source: str, backups: list[str]) -> tuple[list, backup_diff.Diff]:
    """The two backups compared (two names, or none for the last two complete ones) and the diff."""
    source_of(cfg, store, source)
    for ref in backups:
        check_backup_ref(ref)
    if len(backups) == 2:
        rows = [catalog.backup_row(store, source, b) for b in backups]
        for b, r in zip(backups, rows):
            if r is None:
                raise UsageError(f"source {source} has no backup {b}")
            twice = catalog.named_twice(store, source, b) if r["name"] == b else None
            if twice:
                raise UsageError(twice, hint="give that backup by its id")
            if r["status"] not in RESTORABLE:     # holds nothing on its medium; the versions around it run over its id
                raise UsageError(f"backup {b} of {source} is {r['status']}, not complete")
    elif not backups:
        done = catalog.complete_backups(store, source)
        if len(done) < 2:
            raise UsageError(f"source {source} has fewer than two complete backups")
        rows = done[-2:]
    else:
        raise UsageError("give two backups, or none for the last two")
    return rows, backup_diff.diff(store, rows[0], rows[1], archive_dirs(cfg).get(source, ()))
