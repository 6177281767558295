"""Backups copied by hand into another place (`cp -a` of a backup onto another medium, or into
another source's folder): a backup is one source on one medium, and its backup.json names the
source and the medium its run wrote it for. One whose record names another source or medium of the
config, read in the same rebuild, that holds the backup of that name there, is a copy of that
backup: nothing says the copy is whole (its record is the run's word about the other place), taken
as this place's own it would take the id the original holds (renumbering the backups made after
it), and one of another source would be restored as this source's files. It is not read, and named
with the way out. A record naming a place that is not read here or holds no such backup is taken as
the place it sits in (a disk taken over with `media label --force` keeps its old records; a source
renamed in the config, its folder renamed by hand, keeps its old id in them), unless it names
another source of the config: that source's backup (its original away, or deleted by cleanup) is
not this one's either."""

from __future__ import annotations

from pathlib import Path

from rabtui import fmt
from rabtui.rebuild.backups_recorded import Listed


def set_aside(found: dict[str, dict[str, Listed] | None], unmatched: list[str], source_ids: set[str]) -> None:
    """The copies in `found` (medium id -> source -> its backups read, scan._read_medium) left out of
    it, each said into `unmatched`; `source_ids`: the config's."""
    for medium_id, sources in found.items():
        for source_id, listed in (sources or {}).items():
            kept = []
            for name, path, rec in listed:
                place = (rec.medium or medium_id, rec.source or source_id)
                original = None if place == (medium_id, source_id) else _original(found, place, name)
                if original is None and place[1] != source_id and place[1] in source_ids:
                    unmatched.append(
                        f"medium {medium_id}: {fmt.name(str(Path(source_id) / name))}: a backup of the source"
                        f" {fmt.name(place[1])} (its backup.json names it), whose original is not read here: not read,"
                        f" its files not in the catalog; move it into {fmt.name(place[1])}'s folder (or, if this source"
                        f" is {fmt.name(place[1])} renamed, write {fmt.name(source_id)} as \"source\" in its backup.json),"
                        " then run `rabtui rebuild-state` again")
                    continue
                if original is None:
                    kept.append((name, path, rec))
                    continue
                names = " and ".join(f"{what} {fmt.name(said)}" for what, said, here in
                                     (("medium", place[0], medium_id), ("source", place[1], source_id)) if said != here)
                unmatched.append(
                    f"medium {medium_id}: {fmt.name(str(Path(source_id) / name))}: a copy of the backup"
                    f" {fmt.name(str(original))} (its backup.json names {names}): not read, its files not in the"
                    f" catalog (the original is recorded); delete the copy")
            sources[source_id] = kept


def _original(found, place: tuple[str, str], name: str) -> Path | None:
    """Where `place` (medium, source) holds the backup `name`, its record naming that place."""
    medium_id, source_id = place
    for other, path, rec in (found.get(medium_id) or {}).get(source_id, []):
        if other == name and rec.medium in (medium_id, None) and rec.source in (source_id, None):
            return path
    return None
