"""The command palette: every screen and every action bound on the current screen, by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

SCREENS = (
    ("dashboard", "Dashboard", "health at a glance"),
    ("sources", "Sources", "add, edit, test and trust sources"),
    ("media", "Media", "rotation, labels, usage and backups"),
    ("runs", "Runs", "running and past jobs, live progress"),
    ("checkpoints", "Checkpoints", "triggers, disc plan, burning"),
    ("browse", "Browse", "backup trees, diff, find"),
)


class RabtuiCommands(Provider):
    def _commands(self):
        app = self.app
        for mode, title, help_text in SCREENS:
            yield f"Go to {title}", help_text, partial(app.switch_mode, mode)
        seen = set()
        for key, active in self.screen.active_bindings.items():
            b = active.binding
            if not b.description or b.action in seen or b.action.startswith("switch_mode"):
                continue
            if b.action in ("command_palette", "quit"):
                continue
            seen.add(b.action)
            node = active.node
            yield (b.tooltip or b.description, f"key: {app.get_key_display(b)}",
                   partial(app.run_action, b.action, node))

    async def discover(self) -> Hits:
        for text, help_text, command in self._commands():
            yield DiscoveryHit(text, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, command in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), command, text=text, help=help_text)
