"""Health check of what the killed runs of a source no longer in the config left (rabtui/ops/health.py):
their rows stay `running` and their partial directories on the media, while no backup of that
source comes to recover them. A cleanup does (actions/cleanup.recover), but for a run that began
its step 7: it may have linked files into the source's archive unions, which only the source's
directories tell how to undo. The source's complete backups stay, restorable, as they are."""

from __future__ import annotations

from datetime import datetime

from rabtui.backup.records import running_rows
from rabtui.backup.recovery import removed_source_left, step7_began
from rabtui.config import Config
from rabtui.ops.problems import WARNING, Problem
from rabtui.state import locks
from rabtui.state.store import Store


def removed_sources_left(cfg: Config, store: Store) -> list[Problem]:
    """One warning per source no longer in the config and medium with its interrupted runs there
    (none while a run holds that source's lock: a backup started before the source was removed)."""
    configured = {s.id for s in cfg.sources}
    runs: dict[tuple[str, str], list] = {}
    for r in running_rows(store):
        if r["source"] not in configured and not locks.source_lock(cfg.state_dir, r["source"]).is_held():
            runs.setdefault((r["source"], r["medium"]), []).append(r)
    out = []
    for (source_id, medium_id), rows in sorted(runs.items()):
        names = ", ".join(f"{r['name']} (started {datetime.fromtimestamp(r['started']):%Y-%m-%d %H:%M})"
                          for r in rows[:3]) + (f" and {len(rows) - 3} more" if len(rows) > 3 else "")
        text = (f"source {source_id} is no longer in the config; {len(rows)} interrupted backup(s) of it are left on"
                f" medium {medium_id}: {names}")
        stuck = next((r for r in rows if step7_began(store, r)), None)
        if stuck is None:
            text += ("; `rabtui cleanup` removes what they left (its complete backups stay) with the medium there")
        else:
            text += f"; {stuck['name']}: {removed_source_left(source_id, stuck)}"
            if len(rows) > 1:
                text += "; `rabtui cleanup` removes what the others left"
        out.append(Problem(f"leftover:{source_id}:{medium_id}", WARNING, text))
    return out
