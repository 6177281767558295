"""Backups copied by hand from one medium onto another (`cp -a` of a source's folder): a backup
is one source on one medium, and its backup.json names the medium its run wrote it onto. One whose
record names another medium of the config, read in the same rebuild, that holds the backup of that
name of the same source, is a copy of that backup: nothing says the copy is whole (its record is the
run's word about the other medium), and taken as this medium's own it would take the id the
original holds, renumbering this medium's backups made after it. It is not read, and named with the
way out. A record naming a medium that is not read here or holds no such backup is taken as the
medium it sits on (a disk taken over with `media label --force` keeps its old records)."""

from __future__ import annotations

from pathlib import Path

from rabtui import fmt
from rabtui.rebuild.backups_recorded import Listed


def set_aside(found: dict[str, dict[str, Listed] | None], unmatched: list[str]) -> None:
    """The copies in `found` (medium id -> source -> its backups read, scan._read_medium) left out of
    it, each said into `unmatched`."""
    for medium_id, sources in found.items():
        for source_id, listed in (sources or {}).items():
            kept = []
            for name, path, rec in listed:
                original = _original(found, source_id, name, rec.medium)
                if rec.medium == medium_id or original is None:
                    kept.append((name, path, rec))
                    continue
                unmatched.append(
                    f"medium {medium_id}: {fmt.name(str(Path(source_id) / name))}: a copy of medium {rec.medium}'s"
                    f" backup {fmt.name(str(original))} (its backup.json names {rec.medium}): not read, its files"
                    f" not in the catalog; delete the copy, or, to keep it as {medium_id}'s own, set \"medium\" to"
                    f" \"{medium_id}\" in its backup.json and run `rabtui rebuild-state` again")
            sources[source_id] = kept


def _original(found, source_id: str, name: str, medium_id: str | None) -> Path | None:
    """Where medium `medium_id` holds the backup `name` of the source, its record naming that medium."""
    for other, path, rec in ((found.get(medium_id) or {}).get(source_id, []) if medium_id else []):
        if other == name and rec.medium in (medium_id, None):
            return path
    return None
