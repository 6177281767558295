"""The cleanup verb: retention applied across all media at once (see backup/retention.py), then
the event log pruned. The front shows the plan (plan_lines) before it is applied."""

from __future__ import annotations

from datetime import datetime

from rabtui import fmt
from rabtui.backup import retention
from rabtui.config import Config
from rabtui.state import jobs
from rabtui.state.store import Store

Plan = retention.Plan


def plan(cfg: Config, store: Store, now: datetime | None = None) -> Plan:
    """What cleanup would delete now, judged across all media at once (writes nothing)."""
    return retention.plan_cleanup(cfg, store, now=now)


def apply(cfg: Config, store: Store, plan: Plan) -> None:
    """Delete what the plan says, then prune the event log."""
    retention.apply_cleanup(cfg, store, plan)
    jobs.prune_events(store)


def has_work(plan: Plan) -> bool:
    """Whether applying the plan changes anything on the media (run-due says the plan only then)."""
    return bool(plan.delete or plan.leftovers or plan.refused)


def plan_lines(plan: Plan, dry_run: bool) -> list[str]:
    """What the plan deletes and keeps, one line each (names escaped for a terminal)."""
    verb = "would delete" if dry_run else "deleting"
    out = [fmt.name(f"{verb} {c.source} {c.name} on {c.medium} ({c.why}), frees {fmt.size(c.freed_bytes)}")
           for c in plan.delete]
    out += [fmt.name(f"keeping {name}: {why}") for _, name, why in plan.guarded]
    out += [fmt.name(f"deleting no backup of {source}, as the plan cannot be proven safe: {why}")
            for source, why in plan.refused]
    out += [fmt.name(f"{verb} the remains of an interrupted deletion: {p}") for p in plan.leftovers]
    out.append(f"{len(plan.delete)} backups, {fmt.size(plan.freed_bytes)} freed"
               + (" (dry run: nothing deleted)" if dry_run else ""))
    return out
