"""Retention's guard over archive files, judged on the whole cleanup's plan at once.

A version (path, size, mtime) that an archive directory saved lives in the backup that first saved
it (and in that medium's union tree while the backup lives). The guard keeps one set of the
backups that the cleanup will delete, across all media of a source, and lets a backup join it only
if every archive version it holds still has a copy outside the set afterwards: in a backup that
stays on a medium of the config (one taken out of it, lost or put on a shelf, is never looked at
again, nor read by a restore that names no copy) or on a verified checkpoint disc. Checked at each
addition, the rule holds for the whole plan, whatever order the candidates come in.

A backup that goes also takes its versions out of the view of every later backup on its medium
(the union tree, Browse, `restore --backup`, the next checkpoint all show, for each file, the
newest version saved there up to that backup). The guard keeps it while a later backup that stays
shows a version it saved and an older, other version of that file is saved in a backup that stays
on the medium: that later backup would show the older version as its newest, without a word. With
no older version there, the file leaves that view instead (its copy is elsewhere).

The guard reads the catalog, so a plan is only as safe as the catalog is true: `catalog_gap`
compares a candidate's archive files on the medium with what the catalog says it holds, and
`copies_gap` looks on the media that are here for the copies the guard counted on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from rabtui import fmt
from rabtui.media import fstree
from rabtui.media import medium_layout
from rabtui.mtimes import seconds
from rabtui.state import saved_kinds
from rabtui.state.store import RESTORABLE_SQL, Store


# the backup `{backup}` saved the directory of the path `p` as a `{kind}` one
# (its directory: the one of the backup that holds the path, whichever `p.dir` the catalog first
# knew it in: a source's directories may have changed from /data to /data/photos, or back)
_SAVED_AS = ("EXISTS (SELECT 1 FROM backup_dirs bd WHERE bd.backup_id={backup} AND "
             + saved_kinds.under_sql("p.path", "bd.path").replace("{", "{{").replace("}", "}}") + " AND bd.kind='{kind}')")


def _unsure(first: str) -> str:
    """SQL: the backup `first` recorded no kinds and no look at its medium (saved_kinds.look) took
    the directory of the path `p` for it: no answer there (a symlink planted on the way), or the
    medium not at hand since. It may have saved the directory as an archive one whatever the
    config says now (it names another since: /data made /data/photos): its version is counted as
    an archive one, kept while it has no other copy."""
    return (f"(NOT EXISTS (SELECT 1 FROM backup_dirs bu WHERE bu.backup_id={first}) AND NOT EXISTS"
            f" (SELECT 1 FROM unrecorded_looks ul WHERE ul.backup_id={first} AND ul.kind IN ('archive', 'standard')"
            f" AND {saved_kinds.under_sql('p.path', 'ul.path')}))")


class ArchiveGuard:
    """The backups of one source that the plan deletes, and whether one more may join them."""

    def __init__(self, store: Store, source: str, archive_dirs: list[str], media: list[str],
                 unions: Iterable[tuple[str, str]] = ()):
        """`archive_dirs`: the source's archive directories in the config; `media`: the ids of the
        media of the config, where a copy counts; `unions`: (medium id, directory) where a medium
        holds an archive union of the directory (union_may_be_there: a backup that recorded no
        kinds may have saved it so there)."""
        self.store, self.source, self.dirs, self.media = store, source, list(archive_dirs), list(media)
        self.unions = sorted(set(unions))
        # directories that were archive directories when some backup ran (the config says standard now)
        self.were = sorted({*recorded_dirs(store, source), *(d for _, d in self.unions)} - set(self.dirs))
        self._in_dirs, self._in_were = (saved_kinds.below_sql("p.path", d) for d in (self.dirs, self.were))
        self._arc_args = (*self._in_dirs[1], *self._in_were[1])     # _saved_as_archive's parameters
        self.going: set[int] = set()
        # a backup that recorded no kinds: its versions are archive ones where unsure (_unsure)
        self.unrecorded = store.one(f"SELECT 1 FROM backups b WHERE b.source=? AND b.status IN {RESTORABLE_SQL}"
                                    " AND NOT EXISTS (SELECT 1 FROM backup_dirs d WHERE d.backup_id=b.id)",
                                    (source,)) is not None

    def _without(self, backup_id: int) -> tuple[list[int], str]:
        """The backups gone if this one went with the plan's, and the SQL placeholders of those."""
        gone = sorted(self.going | {backup_id})
        return gone, ",".join("?" * len(gone))

    def _saved_as_archive(self, first: str = "v.first_backup") -> str:
        """SQL: the version `v` (its first backup `first`) of the path `p` was saved by an archive
        directory: one of the config's its first backup did not save as a standard one, or one that
        backup saved as an archive directory, or recorded no kinds of (saved_kinds.judged: the
        config says standard now, a backup recorded it as an archive one). Its parameters:
        self._arc_args."""
        return (f"(({self._in_dirs[0]} AND NOT {_SAVED_AS.format(backup=first, kind='standard')})"
                f" OR ({self._in_were[0]} AND ({_SAVED_AS.format(backup=first, kind='archive')}"
                f" OR NOT EXISTS (SELECT 1 FROM backup_dirs bn WHERE bn.backup_id={first})))"
                f" OR {_unsure(first)})")

    def _a_copy_kept(self, b: str) -> str:
        """SQL: the backup `b`, taken by _saved_as_archive to have saved the directory of `p` as an
        archive one, is kept for it by every later cleanup: it recorded kinds, or the look at its
        medium found it saved so (saved_kinds.look: the union stays while it does,
        union_release.needed_by). Taken so only because the config says archive now, or another
        backup recorded it so (which may be deleted), a later cleanup may judge it standard and
        delete it unguarded."""
        return (f"(EXISTS (SELECT 1 FROM backup_dirs bk WHERE bk.backup_id={b}.id) OR EXISTS (SELECT 1"
                f" FROM unrecorded_looks u WHERE u.backup_id={b}.id AND {saved_kinds.under_sql('p.path', 'u.path')}"
                f" AND u.kind='archive'))")

    def only_copies(self, backup_id: int) -> int:
        """How many archive versions this backup holds would have no copy left if it went
        together with the backups already in the plan: those it saved, of the directories it saved
        as archive directories (the config may say standard now: its later backups hold the
        source's tree as it was then, not the files the source dropped), and of the config's
        archive directories it recorded no kind of; one it saved as a standard directory promised
        nothing (the config made it archive since: its first archive backup saved the files then
        anew). A copy counts where the guard keeps it in turn: a verified disc, or an archive
        version that a backup staying saved. Not a backup that saved the directory as a standard
        one: once this backup went, the catalog would know its copy as a version of that standard
        backup, which a later cleanup deletes unguarded (and with it, and the union released, the
        file)."""
        if not self.dirs and not self.were and not self.unrecorded:
            return 0
        gone, ids = self._without(backup_id)
        media = ",".join("?" * len(self.media))
        stays = f"b.status IN {RESTORABLE_SQL} AND b.id NOT IN ({ids}) AND b.medium IN ({media})"
        no_copy = f"""NOT EXISTS (SELECT 1 FROM disc_files f JOIN discs d ON d.number=f.number AND d.disc=f.disc
                                  WHERE d.state='verified' AND f.source=p.source AND f.path=p.path
                                    AND f.size=v.size AND f.mtime=v.mtime)
                  AND NOT EXISTS (SELECT 1 FROM versions o JOIN backups b ON b.id=o.first_backup
                                  WHERE o.path_id=v.path_id AND o.size=v.size AND o.mtime=v.mtime
                                    AND {stays} AND {self._saved_as_archive('o.first_backup')}
                                    AND {self._a_copy_kept('b')})"""
        row = self.store.one(
            f"""SELECT COUNT(*) AS n FROM versions v JOIN paths p ON p.id=v.path_id
                WHERE v.first_backup=? AND p.source=? AND {self._saved_as_archive()} AND {no_copy}""",
            (backup_id, self.source, *self._arc_args, *gone, *self.media, *self._arc_args),
        )
        return row["n"] if row else 0

    def reverts(self, backup_id: int) -> int:
        """How many archive files would show an older version in the view of a later backup on the
        medium that stays, if this backup went with those already in the plan."""
        if not self.dirs and not self.were:
            return 0
        gone, ids = self._without(backup_id)
        # an older, other version stays on the medium (checked first: most archive files have one
        # version), and a backup that stays comes after this one and before the file's next version,
        # showing the directory's union (one that saved it as a standard one holds its own tree)
        row = self.store.one(
            f"""SELECT COUNT(DISTINCT v.path_id) AS n FROM versions v JOIN paths p ON p.id=v.path_id
                WHERE v.first_backup=? AND p.source=? AND {self._saved_as_archive()}
                  AND EXISTS (SELECT 1 FROM versions o WHERE o.path_id=v.path_id AND o.medium=v.medium
                                AND o.first_backup<v.first_backup AND o.first_backup NOT IN ({ids})
                                AND (o.size<>v.size OR o.mtime<>v.mtime))
                  AND EXISTS (SELECT 1 FROM backups b WHERE b.source=p.source AND b.medium=v.medium
                                AND b.status IN {RESTORABLE_SQL} AND b.id NOT IN ({ids}) AND b.id>v.first_backup
                                AND NOT {_SAVED_AS.format(backup='b.id', kind='standard')}
                                AND b.id<COALESCE((SELECT MIN(n.first_backup) FROM versions n
                                                   WHERE n.path_id=v.path_id AND n.medium=v.medium
                                                     AND n.first_backup>v.first_backup), {1 << 62}))""",
            (backup_id, self.source, *self._arc_args, *gone, *gone),
        )
        return row["n"] if row else 0

    def add(self, backup_id: int) -> None:
        self.going.add(backup_id)


def archive_dirs_then(store: Store, backup_id: int, archive_dirs: list[str]) -> list[str]:
    """The archive directories of the backup `backup_id` as it ran: those it recorded as archive
    directories. One the config added since is none of its own (it saved nothing of it: judged as
    its, the catalog knew none of its files, and with its medium away every cleanup of the source
    was refused); when it recorded no directory at all, saved_kinds.archive_in's (the config's,
    `archive_dirs`, and those another backup on its medium recorded as archive ones)."""
    if store.one("SELECT 1 FROM backup_dirs WHERE backup_id=?", (backup_id,)) is None:
        return list(saved_kinds.archive_in(store, {"id": backup_id}, archive_dirs))
    return recorded_dirs(store, "", backup_id=backup_id)


def recorded_dirs(store: Store, source: str, kind: str = "archive", backup_id: int | None = None) -> list[str]:
    """The directories of the source that its backups (not deleted), or the backup `backup_id`,
    recorded as of `kind`: their kind when they ran."""
    one = "b.id=?" if backup_id is not None else "b.source=? AND b.status<>'deleted'"
    return [r["path"] for r in store.all(
        "SELECT DISTINCT bd.path FROM backup_dirs bd JOIN backups b ON b.id=bd.backup_id"
        f" WHERE {one} AND bd.kind=? ORDER BY bd.path", (backup_id if backup_id is not None else source, kind))]


def read_by_checkpoints(store: Store, source: str) -> dict[int, int]:
    """The backups of `source` that an unfinished checkpoint still reads from, each with the
    checkpoint's number: a directory's content backup, for an archive directory the backups whose
    own trees its directories are read in, and the backups that
    first saved the versions its discs not yet verified hold (a newer backup may have replaced them
    in the union since; checkpoint/read_from.py reads them there). A directory that a later
    checkpoint has completed holds nothing back for an older one left unfinished (`burn --new`)."""
    unfinished = "SELECT number FROM checkpoints WHERE status NOT IN ('completed', 'abandoned')"
    superseded = ("EXISTS (SELECT 1 FROM checkpoint_dirs l JOIN checkpoints lc ON lc.number=l.number"
                  " WHERE lc.status='completed' AND lc.number > cd.number AND l.source=cd.source"
                  " AND l.path=cd.path AND l.role='data')")
    rows = store.all(
        f"SELECT cd.backup_id AS id, cd.number FROM checkpoint_dirs cd WHERE cd.source=?"
        f" AND cd.number IN ({unfinished}) AND cd.backup_id IS NOT NULL AND NOT {superseded}"
        " UNION SELECT v.first_backup AS id, f.number FROM discs d"
        " JOIN disc_files f ON f.number=d.number AND f.disc=d.disc AND f.source=?"
        " JOIN paths p ON p.source=f.source AND p.path=f.path"
        f" JOIN checkpoint_dirs cd ON cd.number=f.number AND cd.source=p.source AND {saved_kinds.under_sql('p.path', 'cd.path')}"
        # taken from a backup that recorded no kinds: held as though it saved an archive one (holds more back)
        " AND (EXISTS (SELECT 1 FROM backup_dirs bd WHERE bd.backup_id=cd.backup_id AND bd.path=cd.path"
        "  AND bd.kind='archive') OR NOT EXISTS (SELECT 1 FROM backup_dirs bn WHERE bn.backup_id=cd.backup_id))"
        " JOIN backups cb ON cb.id=cd.backup_id"
        " JOIN versions v ON v.path_id=p.id AND v.medium=cb.medium AND v.mtime=f.mtime"
        "  AND (v.size=f.size OR f.parts IS NOT NULL)"
        f" WHERE d.number IN ({unfinished}) AND d.state<>'verified' AND NOT {superseded}", (source, source))
    return {**_attributes_read(store, source, unfinished, superseded), **{r["id"]: r["number"] for r in rows}}


def _attributes_read(store: Store, source: str, unfinished: str, superseded: str) -> dict[int, int]:
    """The backups whose own trees an unfinished checkpoint's plan read an archive directory's
    directories in (their mode, owner, times, ACLs and xattrs: checkpoint/own_dirs.py, the plan's
    `own`), each with its number: its burn and verification read them there again."""
    paths: dict[int, set[str]] = {}      # checkpoint -> its directories of the source it still reads
    for r in store.all(f"SELECT cd.number, cd.path FROM checkpoint_dirs cd WHERE cd.source=?"
                       f" AND cd.number IN ({unfinished}) AND NOT {superseded}", (source,)):
        paths.setdefault(r["number"], set()).add(r["path"])
    own: dict[str, int] = {}             # a data/ folder read -> the first checkpoint reading it
    for number in sorted(paths):
        row = store.one("SELECT plan FROM checkpoints WHERE number=?", (number,))
        try:
            dirs = json.loads(row["plan"] or "{}").get("dirs", [])
        except (ValueError, AttributeError):
            continue
        for d in dirs:
            if isinstance(d, dict) and d.get("source") == source and d.get("path") in paths[number]:
                for folder in d.get("own") or ():
                    if isinstance(folder, str):
                        own.setdefault(folder, number)
    if not own:
        return {}
    return {b["id"]: own[folder] for b in store.all("SELECT id, path FROM backups WHERE source=? AND status<>'deleted'",
                                                    (source,))
            if (folder := os.path.join(b["path"], "data")) in own}


def catalog_gap(store: Store, medium_id: str, present: bool, backup, archive_dirs: list[str]) -> str | None:
    """Why the catalog cannot vouch for this backup's archive files (None: it can).

    With the medium here, every regular file of the backup's archive directories must be a version
    the catalog knows as saved by it; without it, the database must at least know some of the files
    its record says the backup wrote.
    """
    data_root = os.fsencode(Path(backup["path"]) / "data")
    for d in archive_dirs:
        within = saved_kinds.below_sql("p.path", [d])     # whichever directory the catalog knew it in first
        known = {(bytes(r["path"]), r["size"], r["mtime"]) for r in store.all(
            "SELECT p.path, v.size, v.mtime FROM versions v JOIN paths p ON p.id=v.path_id"
            f" WHERE v.medium=? AND v.first_backup=? AND p.source=? AND {within[0]}",
            (medium_id, backup["id"], backup["source"], *within[1]))}
        top = os.fsencode(medium_layout.backup_data_path(backup["path"], d))
        if present:
            unknown = 0
            for e, st in fstree.scan(top):
                if e.is_file(follow_symlinks=False):
                    key = (os.path.relpath(e.path, data_root), st.st_size, seconds(st))
                    unknown += key not in known
            if unknown:
                return (f"{fmt.count(unknown, 'archive file')} of {backup['name']} on {medium_id} ({d}) {fmt.are(unknown)} not in"
                        " the catalog")
        elif not known:
            row = store.one("SELECT files FROM backup_dirs WHERE backup_id=? AND path=?", (backup["id"], d))
            if row is None or row["files"]:
                return (f"the catalog knows none of the archive files of {backup['name']} on {medium_id}"
                        f" ({d}), and the medium is not there to look")
    return None


def copies_gap(store: Store, present: dict[str, bool], backup, going: set[int], archive_dirs: list[str]) -> str | None:
    """Why the copies that make this backup's deletion safe cannot be shown (None: they can).

    Each archive version it saved must be on a verified disc, or in a backup that stays on a medium
    of the config (`present`: those, each with whether it is here): on one that is not here (the
    catalog is trusted for it), or found there with its size and mtime.
    """
    if not archive_dirs:
        return None
    dirs, dirs_args = saved_kinds.below_sql("p.path", archive_dirs)
    ids = ",".join("?" * len(going))
    for v in store.all(
        f"""SELECT v.path_id, p.path, v.size, v.mtime FROM versions v JOIN paths p ON p.id=v.path_id
            WHERE v.first_backup=? AND p.source=? AND {dirs}
              AND NOT EXISTS (SELECT 1 FROM disc_files f JOIN discs d ON d.number=f.number AND d.disc=f.disc
                              WHERE d.state='verified' AND f.source=p.source AND f.path=p.path
                                AND f.size=v.size AND f.mtime=v.mtime)""",
        (backup["id"], backup["source"], *dirs_args),
    ):
        stays = f"b.status IN {RESTORABLE_SQL} AND b.id NOT IN ({ids})"
        key = (v["path_id"], v["size"], v["mtime"], *going)
        # as the guard counts them (ArchiveGuard.only_copies): not a version a standard backup saved
        copies = store.all(
            f"SELECT b.medium, b.path, b.name FROM versions o JOIN backups b ON b.id=o.first_backup JOIN paths p ON p.id=o.path_id"
            f" WHERE o.path_id=? AND o.size=? AND o.mtime=? AND {stays} AND NOT EXISTS (SELECT 1 FROM backup_dirs bd"
            f" WHERE bd.backup_id=o.first_backup AND {saved_kinds.under_sql('p.path', 'bd.path')} AND bd.kind='standard')", key)
        if not any(c["medium"] in present and (not present[c["medium"]] or _holds(c["path"], bytes(v["path"]),
                                                                                   v["size"], v["mtime"]))
                   for c in copies):
            where = ", ".join(f"{c['name']} on {c['medium']}" for c in copies) or "no backup"
            return (f"/{os.fsdecode(bytes(v['path']))} of {backup['name']} has its other copy in {where}"
                    " by the catalog, but not on the medium")
    return None


def _holds(backup_path: str, rel: bytes, size: int, mtime: int) -> bool:
    try:
        st = os.lstat(os.path.join(os.fsencode(backup_path), b"data", rel))
    except OSError:
        return False
    return st.st_size == size and seconds(st) == mtime
