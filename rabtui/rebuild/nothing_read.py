"""rebuild-state refuses when no medium of the config was read (none listed, every one away,
another disk at each path): the database made would record no backup, and put in place of the
one there it would leave the operator with an empty state (the old one kept aside). With no
database in place, the discs read are something to rebuild from; with neither, nothing is."""

from __future__ import annotations

from pathlib import Path

from rabtui.config import Config
from rabtui.errors import WorkFailed
from rabtui.rebuild.report import Report


def refuse(cfg: Config, report: Report, *, discs_read: bool, in_place: bool) -> None:
    """Raises WorkFailed when the rebuild would have nothing of the media; `discs_read`: the discs
    were read (a database in place is refused before they are asked for); `in_place`: there is a
    database the rebuild would replace."""
    if report.media:
        return
    db = Path(cfg.state_dir) / "rabtui.db"
    if not in_place and (not discs_read or report.checkpoints):
        return
    why = ([u for u in report.unmatched if u.startswith("medium ")]
           or ["the config lists no medium" if not cfg.media else "no medium could be read"])
    what = ("no medium of the config was read: nothing to rebuild the backups from"
            + ("" if in_place else ", and no checkpoint was read from the discs"))
    raise WorkFailed(what, hint="\n".join(
        [*why, "put the media in place (mounted at their paths, as listed in the config) and run"
               " `rabtui rebuild-state` again"
         + (f"; to rebuild from the discs alone, move {db} aside first" if in_place else "")]))
