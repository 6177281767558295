from rabtui.tui.screens.base import RabtuiScreen


class BrowseScreen(RabtuiScreen):
    pass
