"""What is on the terminal: the rendered lines of the screen, and whether a widget is all in view."""

from __future__ import annotations


def screen_lines(app) -> list[str]:
    """The text of each line of the terminal as the top screen draws it."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def in_view(app, widget) -> bool:
    """The whole widget is on the terminal: not below the fold of a scrolling container, not cut."""
    region, clip = app.screen._compositor.visible_widgets.get(widget, (None, None))
    if region is None or not region.area:
        return False
    return clip.intersection(region) == region and app.screen.region.contains_region(region)
