"""Directories of a source's folder on a medium that hold a backup's record (backup.json) under a
name no backup has (renamed by hand: `old-copy`, `backup-2026-11-22`): rebuild-state reads backups
by their names, so it would pass such a backup over in silence, and it would be found nowhere. They
are named instead, with the name to give them back."""

from __future__ import annotations

import os
from pathlib import Path

from rabtui import fmt
from rabtui.media import medium_layout


def renamed_backups(medium_path: str | os.PathLike, source_id: str) -> list[str]:
    """What to say of each such directory of `source_id` on the medium at `medium_path`, by name."""
    root = medium_layout.source_root(medium_path, source_id)
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    said = []
    for name in names:
        path = root / name
        if name.startswith(".") or medium_layout.BACKUP_NAME.match(name) or path.is_symlink() or not path.is_dir() \
                or not os.path.lexists(path / "backup.json"):
            continue
        info = medium_layout.read_backup_json(path)
        was = info.get("name") if info is not None else None
        back = (f"rename it back to {was}" if isinstance(was, str) and medium_layout.BACKUP_NAME.fullmatch(was)
                and not os.path.lexists(root / was) else "give it a backup's name (backup-YYYYmmddHHMMSS)")
        said.append(f"{fmt.name(str(Path(source_id) / name))}: a backup's record (backup.json) in a directory whose"
                    f" name is no backup's: not read, its files not in the catalog; {back} and run"
                    " `rabtui rebuild-state` again")
    return said
