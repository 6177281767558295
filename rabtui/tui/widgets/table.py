"""The one table widget of the screens (Textual's DataTable, redrawn in full when its columns widen),
and the cutting of a long column to the width there is."""

from __future__ import annotations

from textual.geometry import Size
from textual.widgets import DataTable

from rich.text import Text

from rabtui.tui.safe_text import cell, middle_cut


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


def cut_column(rows: list[tuple], column: int, width: int, headers: tuple[str, ...], padding: int = 1,
               least: int = 8, middle: bool = False) -> list[tuple]:
    """`rows` with the texts of one column cut (ending in …) so that every column fits in `width`
    cells: a long title no longer pushes the columns after it out of view. The column keeps at
    least `least` cells. `middle`: a text (an id) loses its middle, not its end (ids alike but for
    their ends stay told apart)."""
    cells = [[cell(c) for c in row] for row in rows]
    if not cells:
        return rows
    widths = [max([len(h)] + [row[i].cell_len for row in cells]) for i, h in enumerate(headers)]
    room = width - sum(w for i, w in enumerate(widths) if i != column) - 2 * padding * len(headers)
    room = max(least, room)
    for row in cells:
        text = row[column]
        if text.cell_len > room and middle:
            row[column] = Text(middle_cut(text.plain, room), style=text.style)
        elif text.cell_len > room:
            row[column] = row[column].copy()
            row[column].truncate(room, overflow="ellipsis")
    return [tuple(row) for row in cells]


def cells_width(table: DataTable, width: int, rows: int) -> int:
    """The cells a table of `rows` rows (and its header) has across `width`: less its vertical
    scrollbar when its max-height shows fewer rows (its container not laid out yet: less it too)."""
    most, parent = table.styles.max_height, table.parent
    if most is not None and parent is not None and parent.size.height:
        if rows + 1 <= int(most.resolve(parent.size, table.app.size)):
            return width
    return width - table.styles.scrollbar_size_vertical
