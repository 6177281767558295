"""The per-disc fill plan shown before burning: the checkpoint engine's own plan
(`rabtui.actions.checkpoint.plan`, the one `rabtui checkpoint burn` then writes), reduced to
what the bars need."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rabtui.config import Config
from rabtui.errors import RabtuiError
from rabtui.events import Emit, no_emit
from rabtui.state.store import Store


@dataclass
class DiscBar:
    disc: int
    data_bytes: int
    filler_bytes: int
    reserved_bytes: int
    free_bytes: int
    files: int


@dataclass
class FillPlan:
    disc_name: str
    disc_bytes: int
    discs: list[DiscBar]
    lower_bound: int
    max_discs: int
    directories: list[str]           # "source:path" of the data
    fillers: int
    note: str = ""
    not_read: int = 0                # paths the backups of the data could not read on the source (not on the discs)
    not_read_archive: int = 0        # those of archive directories (on the discs as earlier backups saved them)
    not_held: int = 0                # files the backups read on the source and could not write on the medium


def bars_of(per_disc: list[dict]) -> list[DiscBar]:
    return [DiscBar(int(d.get("disc", i + 1)), int(d.get("data_bytes", 0)), int(d.get("filler_bytes", 0)),
                    int(d.get("reserved_bytes", 0)), int(d.get("free_bytes", 0)), int(d.get("files", 0)))
            for i, d in enumerate(per_disc) if isinstance(d, dict)]


def from_summary(summary: dict, max_discs: int) -> FillPlan:
    """A FillPlan from `Computed.summary()` (also stored in checkpoints.plan as "summary")."""
    return FillPlan(summary.get("disc_type", "?"), int(summary.get("disc_bytes", 0)), bars_of(summary.get("per_disc", [])),
                    int(summary.get("lower_bound", 0)), max_discs,
                    [str(d.get("key")) for d in summary.get("directories", [])], len(summary.get("filler", [])),
                    not_read=_not_read(summary, archive=False), not_read_archive=_not_read(summary, archive=True),
                    not_held=sum(len(d.get("unmade") or []) for d in summary.get("directories", [])))


def _not_read(summary: dict, *, archive: bool) -> int:
    """How many paths the backups of the plan's directories (archive ones, or the others) could not
    read on the source (not those they could not write on the medium)."""
    return sum(len(d.get("unreadable") or []) - len(d.get("unmade") or []) + int(d.get("unreadable_unnamed") or 0)
               for d in summary.get("directories", []) if (d.get("kind") == "archive") == archive)


@dataclass(frozen=True)
class PlanChoice:
    """What the operator chose on the Checkpoints screen: as `--now` and `--disc` on the command line."""

    asked: tuple[str, ...] = ()     # "source:path" of directories wanted beyond the due ones
    disc: str | None = None         # a disc type or size; None: the config's

    def args(self) -> list[str]:
        """The arguments of `rabtui checkpoint plan` and `burn` that make the same plan."""
        return (["--now", *self.asked] if self.asked else []) + (["--disc", self.disc] if self.disc else [])


def fill_plan(cfg: Config, store: Store, choice: PlanChoice = PlanChoice(), emit: Emit = no_emit,
              cancel: threading.Event | None = None) -> FillPlan:
    """`emit`: what the planning says as it goes (a wait for a union's lock, naming its holder);
    `cancel` ends it (that wait too), said in the plan's note."""
    from rabtui.actions import checkpoint as checkpoint_actions

    limit = cfg.checkpoint.max_discs
    try:
        planned = checkpoint_actions.plan(cfg, store, now=list(choice.asked) or None, disc=choice.disc, emit=emit,
                                          cancel=cancel)
    except RabtuiError as exc:   # nothing due, no backup yet, a disc too small: said on the screen
        return FillPlan(choice.disc or cfg.checkpoint.disc, 0, [], 0, limit, [], 0, note=str(exc))
    return from_summary(planned.summary, limit)
