"""The one table widget of the screens: Textual's DataTable, redrawn in full when its columns widen."""

from __future__ import annotations

from textual.geometry import Size
from textual.widgets import DataTable


class Table(DataTable):
    """A DataTable whose picture never mixes old and new column widths.

    DataTable measures added rows later, when it is idle, and keeps the lines it drew under a counter
    that this measuring does not advance. A frame drawn between `add_row` and the measuring (the UI
    is busy, the machine is loaded) therefore leaves lines drawn at the old widths in its caches, and
    they stay on the screen next to rows drawn at the new ones: a header, or a whole fixed-height
    table, out of line with its rows until something else changes. The measuring always ends by
    setting the virtual size; when the column widths differ from those the cached lines were drawn
    with, the cached lines are dropped and the table repaints."""

    _drawn_widths: tuple[int, ...] = ()

    def watch_virtual_size(self, size: Size) -> None:
        widths = tuple(column.get_render_width(self) for column in self.ordered_columns)
        if widths != self._drawn_widths:
            self._drawn_widths = widths
            self.notify_style_update()   # DataTable: clears its row, cell and line caches, refreshes
