"""Commands of this group are registered here."""


def register(sub) -> None:
    pass
