"""Health checks of checkpoints (`rabtui check`; the table of ids: rabtui/ops/health.py): those due,
those left unfinished, and the discs of complete ones found bad since."""

from __future__ import annotations

from datetime import datetime

from rabtui.checkpoint import status as checkpoint_status, triggers
from rabtui.config import Config
from rabtui.ops.problems import CRITICAL, WARNING, Problem
from rabtui.state.store import Store


def due_checkpoints(cfg: Config, store: Store, now: datetime) -> list[Problem]:
    return [Problem(f"checkpoint:{st.key}", WARNING, f"checkpoint due for {st.key}: {'; '.join(st.reasons)}")
            for st in triggers.due(cfg, store, now=now.timestamp())]


def unfinished(store: Store) -> list[Problem]:
    """A checkpoint left unfinished (not being burned now) keeps the backups it reads from cleanup.
    One problem, naming its failed discs: going on (or giving it up) is the one thing to do, and
    nothing is lost meanwhile (a disc of a complete one found bad is: failed_discs)."""
    out = []
    for row in store.all("SELECT number, status, created, drive, plan IS NULL AS rebuilt FROM checkpoints"
                         " WHERE status NOT IN (?, ?) ORDER BY number", checkpoint_status.FINISHED):
        status, shown = checkpoint_status.shown_discs(store, row["number"], row["status"])
        if status == "burning":       # its job is writing it now
            continue
        n = row["number"]
        made = f"made {datetime.fromtimestamp(row['created']):%Y-%m-%d}"
        # rebuilt from its discs (rebuild-state) without all of them written, or one failed: it cannot be resumed
        failed = "".join(f" disc {r['volid']} failed ({r['message'] or 'no reason recorded'});"
                         for r in shown if r["state"] == "failed")
        out.append(Problem(f"unfinished:{n}", WARNING, _rebuilt_unfinished(n, status, made, shown) if row["rebuilt"]
                           else f"checkpoint {n} is unfinished ({status}, {made}):{failed}"
                           f" go on with `rabtui checkpoint resume {n}`, or give it up with `rabtui checkpoint abandon"
                           f" {n}`; until then cleanup keeps the backups it reads"))
    return out


def _rebuilt_unfinished(n: int, status: str, made: str, discs: list[dict]) -> str:
    failed = [r for r in discs if r["state"] == "failed"]
    why = (f"disc {', '.join(r['volid'] for r in failed)} failed its verification, no good copy): check it again"
           f" with `rabtui checkpoint verify {n} --disc {failed[0]['disc']}`, or" if failed
           else "not all of them written):")
    return (f"checkpoint {n} is unfinished ({status}, {made}, rebuilt from its discs, {why} give it up with"
            f" `rabtui checkpoint abandon {n}` (its discs written stay usable); until then cleanup keeps the backups"
            " it reads")


def failed_discs(store: Store) -> list[Problem]:
    """A disc of a complete checkpoint found bad since (`checkpoint verify`): cleanup no longer keeps
    what it holds, it may be the only copy, until the disc is rewritten (or the checkpoint given up).
    So is one whose rewrite has not ended verified (a run killed as it wrote it): it is no good copy
    either. One of an unfinished checkpoint is said by unfinished."""
    rows = store.all("SELECT d.number, d.disc, d.volid, d.state, d.message, c.plan IS NULL AS rebuilt FROM discs d"
                     " JOIN checkpoints c USING(number) WHERE c.status='completed' AND (d.state='failed'"
                     " OR c.plan IS NOT NULL AND d.state != 'verified')")
    return [Problem(f"disc:{r['number']}:{r['disc']}", CRITICAL, _failed_disc(r)) for r in rows]


def _failed_disc(r) -> str:
    n, k = r["number"], r["disc"]
    if r["state"] != "failed":     # a rewrite cut short: `checkpoint verify` skips it, not verified
        return (f"checkpoint {n}: disc {r['volid']} failed, and was written again since without being verified"
                f" ({r['state']}): write it again with `rabtui checkpoint resume {n}`, or give the checkpoint up:"
                f" `rabtui checkpoint abandon {n}`")
    return (f"checkpoint {n}: disc {r['volid']} failed ({r['message'] or 'no reason recorded'});"
            + (f" check it again: `rabtui checkpoint verify {n} --disc {k}`, or give up"
               f" the discs this rebuilt checkpoint lacks: `rabtui checkpoint abandon {n}`"
               if r["rebuilt"] else
               f" check it again or rewrite it: `rabtui checkpoint verify {n} --disc {k}`,"
               f" or give the checkpoint up: `rabtui checkpoint abandon {n}`"))
