"""Checkpoints abandoned before the state database was lost, recorded abandoned again. The
abandonment is kept beside the database: in the state directory and in each medium's
`.rabtui-abandoned` (written by `checkpoint abandon` there and onto the media at hand, and by each
backup onto its medium), and in the copy of the state on the discs of every checkpoint made since. A checkpoint number is never given
twice: what any of them says of a number is said of the checkpoint read from the discs. Recorded
as `checkpoint abandon` records it: its discs not verified abandoned, its directories as due as
they were."""

from __future__ import annotations

from rabtui.checkpoint.status import record_abandoned
from rabtui.rebuild.report import Report
from rabtui.state.store import Store


def honour(store: Store, report: Report) -> None:
    for number in sorted(report.abandoned & set(report.checkpoints)):
        with store.transaction() as conn:
            record_abandoned(conn, number)
        kept = [r["volid"] for r in store.all("SELECT volid FROM discs WHERE number=? AND state='verified'"
                                              " ORDER BY disc", (number,))]
        report.notes.append(f"checkpoint {number}: abandoned before the state was lost (as the media or the discs"
                            " record it): recorded abandoned again, its directories as due as they were"
                            + (f"; {', '.join(kept)} stay{'s' if len(kept) == 1 else ''} verified, its files can"
                               " be restored from them" if kept else ""))
