"""Where an item is in a backup on its medium: the backup's own tree, or for an archive directory
the medium's union (which holds every file saved there; what it lacks: where_saved.py). Which version
of each file a backup had: as_of.py."""

from __future__ import annotations

import os
import stat

from rabtui import fmt
from rabtui.checkpoint import kept_entries
from rabtui.checkpoint.shortpath import Shortcuts
from rabtui.config import Config, Source
from rabtui.errors import WorkFailed
from rabtui.restore.copies import directory_of
from rabtui.restore.saved_others import saved_before_at
from rabtui.restore.where_saved import (saved_as_recorded, saved_elsewhere, saved_in_place_of_a_dir,
                                       union_entry_not_then)
from rabtui.state.catalog import rel_path
from rabtui.state.store import Store


def roots_of(cfg: Config, source: Source, backup, rel: bytes) -> list[tuple[bytes, bytes]]:
    """(root, `rel` below it) in the backup and, for an archive directory, in the medium's union:
    where backup_source_path looks."""
    from rabtui.media import medium_layout

    d = directory_of(source, rel)
    under = rel[len(rel_path(d.path)):].lstrip(b"/")
    roots = [os.fsencode(medium_layout.backup_data_path(backup["path"], d.path))]
    if d.kind == "archive" and not _union_saved_over(cfg, source, backup, d.path):
        roots.append(os.fsencode(medium_layout.archive_root(cfg.medium(backup["medium"]).path, source.id, d.path)))
    return [(root, under) for root in roots]


def backup_source_path(cfg: Config, source: Source, backup, rel: bytes, sc: Shortcuts,
                       store: Store | None = None) -> bytes:
    """Where `rel` is in the backup (or in the archive's union), whole (`sc.path()` makes it usable
    when it is deeper than the kernel takes). Raises WorkFailed when a directory on the way there is
    a symlink in it: the symlink came from the source and may point anywhere on this server, and a
    restore hands out only what the backup holds. With `store`: what the union lacks (kept data's,
    never linked there) in the backup that saved it (saved_elsewhere)."""
    from rabtui.media import below, medium_layout

    d = directory_of(source, rel)
    medium = cfg.medium(backup["medium"])
    # a symlink planted on the way to the copy, or to an archive directory's union (one a backup
    # saved there: that union is none, the files come from the backups' own trees, as_of)
    planted = medium_layout.symlink_to_copy(backup["path"], d.path)
    union = d.kind == "archive" and not _union_saved_over(cfg, source, backup, d.path)
    if planted is None and union:
        planted = medium_layout.symlink_to_union(medium.path, source.id, d.path)
    if planted is not None:
        raise WorkFailed(f"/{fmt.name(rel)} is not read from backup {backup['name']}: "
                         + medium_layout.planted_symlink(planted, "a restore takes nothing through one"))
    under = rel[len(rel_path(d.path)):].lstrip(b"/")
    root = os.fsencode(medium_layout.backup_data_path(backup["path"], d.path))
    in_backup = os.path.join(root, under) if under else root
    # archive: a backup holds only what it added; a directory comes from the medium's union tree
    # (every file saved there), a file from the backup that saved it (else the union)
    link = below.symlink_on_the_way(root, under)
    if d.kind == "archive" and store is not None and link is None and under:
        saved_as_recorded(store, backup, d.path, rel, sc.path(in_backup))
    own_dir = in_backup if link is None and os.path.isdir(sc.path(in_backup)) else None
    if union and (link is not None or own_dir is not None or not os.path.lexists(sc.path(in_backup))):
        root = os.fsencode(medium_layout.archive_root(medium.path, source.id, d.path))
        in_backup = os.path.join(root, under) if under else root
        link = below.symlink_on_the_way(root, under)
        there = os.lstat(sc.path(in_backup)) if link is None and os.path.lexists(sc.path(in_backup)) else None
        if own_dir is not None and (link is not None or (there is not None and not stat.S_ISDIR(there.st_mode))
                                    or (there is None and not under)):
            # the backup had a directory there, a newer one another shape (or, the directory itself,
            # none: a backup killed as it made way for it, union_place)
            in_backup, link = own_dir, None
        elif link is not None and store is not None \
                and (link in kept_entries.found(store, backup, d.path, root, link).replaced
                     or union_entry_not_then(store, backup, d.path, os.path.join(rel_path(d.path), link))) \
                and (kept := saved_elsewhere(store, backup, d.path, rel, sc, root)) is not None:
            in_backup, link = kept, None    # the union's symlink is older than kept data's directory, or newer
        elif link is None and under and store is not None and there is None:
            # or the backup's own directory (one holding only symlinks, say) a newer shape took from the union
            in_backup = saved_elsewhere(store, backup, d.path, rel, sc, root) or own_dir or in_backup
        elif link is None and under and store is not None:     # the union's shape may be a newer backup's
            planted: dict[bytes, tuple[str, str]] = {}
            saved = saved_before_at(store, backup, d.path, rel, root, sc, planted)
            if rel in planted:
                raise WorkFailed(f"/{fmt.name(rel)} of backup {backup['name']} is not restored: {planted[rel][1]}")
            if saved is not None:
                in_backup = saved.path(under)
            elif not stat.S_ISDIR(there.st_mode):   # or an older one's: the newest saved there up to the backup
                in_backup = saved_elsewhere(store, backup, d.path, rel, sc, root, there) or in_backup
            elif (mine := saved_in_place_of_a_dir(store, backup, d.path, rel, root, under, sc)) is not None:
                in_backup = mine    # saved after the union's directory, or before a newer backup's
    elif d.kind == "archive" and not union and link is None and under and store is not None \
            and not os.path.lexists(sc.path(in_backup)):
        # no union there (a symlink saved in its place): where a backup up to it saved it
        in_backup = saved_elsewhere(store, backup, d.path, rel, sc) or in_backup
    if link is not None:
        raise WorkFailed(f"/{fmt.name(rel)} is not in backup {backup['name']}: /{fmt.name(rel_path(d.path))}/"
                         f"{fmt.name(link)} is a symlink there, and a restore takes nothing through one")
    return in_backup


def _union_saved_over(cfg: Config, source: Source, backup, dir_path: str) -> bool:
    """Does a symlink a backup of a directory around the archive directory `dir_path` saved stand
    at (or on the way to) its union's place (medium_layout.saved_symlink_to_union)? Nothing is read
    through it: the directory has no union there."""
    from rabtui.media import medium_layout

    return medium_layout.saved_symlink_to_union(cfg.medium(backup["medium"]).path, source.id, dir_path) is not None
