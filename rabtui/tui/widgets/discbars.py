"""One bar per disc: data, add/ filler, reserved and free space."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from rabtui import fmt
from rabtui.tui.planning import FillPlan
from rabtui.tui.safe_text import plain

STATE_STYLE = {"verified": "green", "written": "cyan", "writing": "bold cyan", "failed": "bold red",
               "skipped": "yellow", "planned": "dim", "interrupted": "bold red", "abandoned": "dim"}


class DiscBars(Static):
    """Renders a FillPlan (and, when burning, each disc's state) as text bars that fit 80 columns."""

    def show(self, plan: FillPlan | None, states: dict[int, tuple[str, str]] | None = None) -> None:
        self._plan, self._states = plan, states or {}
        self.update(self.render_text(self.size.width or 78))

    def on_resize(self) -> None:
        if getattr(self, "_plan", None) is not None:
            self.update(self.render_text(self.size.width or 78))

    def render_text(self, width: int) -> Text:
        plan, states = self._plan, self._states
        text = Text()
        if plan is None:
            return Text("press p to plan a checkpoint", style="dim")
        if not plan.discs:
            return plain(plan.note or "nothing to plan", style="dim", lines=True)    # an error naming a path
        n = len(plan.discs)
        verdict = "optimal" if n == plan.lower_bound else f"{n - plan.lower_bound} over the bound"
        style = "bold red" if n > plan.max_discs else "bold"
        text.append(f"{n} × {plan.disc_name} ({fmt.size(plan.disc_bytes)}), lower bound {plan.lower_bound} ({verdict})",
                    style=style)
        if n > plan.max_discs:
            text.append(f"  more than max_discs={plan.max_discs}: refused", style="bold red")
        text.append("\n")
        barw = max(10, width - 58)
        for d in plan.discs:
            total = plan.disc_bytes or 1
            cells = [(d.data_bytes, "█", "green"), (d.filler_bytes, "▓", "blue"), (d.reserved_bytes, "▒", "magenta")]
            used = 0
            text.append(f"{d.disc:>2} ")
            for size, ch, st in cells:
                w = int(round(barw * size / total))
                w = min(w, barw - used)
                text.append(ch * w, style=st)
                used += w
            text.append("░" * (barw - used), style="dim")
            state, _msg = states.get(d.disc, ("", ""))
            text.append(f" {fmt.size(d.data_bytes):>9} +{fmt.size(d.filler_bytes):>9} free {fmt.size(d.free_bytes):>9}")
            text.append(f" {state:<8}", style=STATE_STYLE.get(state, ""))
            text.append("\n")
        text.append("█ data  ", style="green")
        text.append("▓ add/ filler  ", style="blue")
        text.append("▒ README, rabtui/, catalog  ", style="magenta")
        text.append("░ free", style="dim")
        said = [f"{fmt.count(plan.not_read, 'path')} the backups could not read on the source {fmt.are(plan.not_read)} not on the discs"] if plan.not_read else []
        if plan.not_read_archive:
            said.append(f"{fmt.count(plan.not_read_archive, 'path')} the backups of archive directories could not read on the"
                        f" source {fmt.are(plan.not_read_archive)} on the discs only as an earlier backup saved them")
        if plan.not_held:
            said.append(f"{fmt.count(plan.not_held, 'file')} the backups read on the source could not be written on the"
                        f" medium (its file system refused {'it' if plan.not_held == 1 else 'them'})")
        if said:
            text.append("\n" + "; ".join(said) + " (`rabtui checkpoint plan` names them)", style="bold magenta")
        return text
