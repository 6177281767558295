from rabtui.tui.screens.base import RabtuiScreen


class MediaScreen(RabtuiScreen):
    pass
