from rabtui.tui.screens.base import RabtuiScreen


class CheckpointsScreen(RabtuiScreen):
    pass
