from rabtui.tui.screens.base import RabtuiScreen


class SourcesScreen(RabtuiScreen):
    pass
