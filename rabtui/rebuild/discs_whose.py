"""Whose discs a checkpoint read again is on: this server's, another's (the labels of the media its
README.txt or its copy of the state names, against those this server gave its media), or a server
nothing here can tell."""

from __future__ import annotations

from rabtui.config import Config
from rabtui.media import mounts
from rabtui.rebuild.disc_text import readme_media
from rabtui.state.store import Store


def whose(cfg: Config, store: Store, number: int, readme: bytes | None, recorded) -> str | None:
    """Why the discs of checkpoint `number` are taken as another server's, or why it cannot be told
    whether they are this one's; None when they are its own. What the discs say of the server that
    made them: the labels of its media, in their README.txt (readme_media), or, on a disc written
    before it named them, in the copy of the state they hold. Against them: the labels this server
    used as those media (the media read now, else the labels kept beside the state database, or
    the database replaced). The media may all be away: the discs still say whose they are, and
    when nothing here tells, that is said, never taken for a match."""
    said = readme_media(readme)
    if said is None:
        said = getattr(recorded, "labels", {})
    labels = {mid: label for mid, label in said.items() if mounts.tells_apart(label)}
    head = f"checkpoint {number}: "
    if not labels:
        if readme_media(readme) is None and getattr(recorded, "unread", None):
            return (head + "neither its README.txt nor the copy of the state on its discs says which server made"
                    " them (a disc written before README.txt named its media, its copy unread): cannot tell"
                    " whether they are this server's; recorded all the same (check them before a restore from"
                    " them)")
        return None
    media = {m.id for m in cfg.media}
    if not any(mid in media for mid in labels):     # not one medium of this server's
        others = [f"medium {mid} (which this server has not)" for mid in sorted(labels)][:5]
        return head + _theirs(others)
    others, unknown = [], []
    for mid, label in sorted(labels.items()):
        if mid not in media:
            continue
        ours = mounts.recorded_label(store, mid)
        if not mounts.tells_apart(ours):
            unknown.append(mid)
        elif label.get("id") != mid or any(mounts.same_labelling(label, earlier) for earlier in mounts.labellings(ours)):
            return None     # the disk labelled then, or one this server labelled anew since
        else:
            others.append(f"medium {mid} (labelled on {label.get('created') or 'an unknown date'} there, on"
                          f" {ours.get('created') or 'an unknown date'} here)")
    if others:
        return head + _theirs(others)
    return (head + f"its discs were made by the server whose media {', '.join(unknown)} were labelled on"
            f" {', '.join(str(labels[mid].get('created') or 'an unknown date') for mid in unknown)}; no label of"
            " this server's media of those ids is at hand (the media away, and not remembered in the state"
            " directory): cannot tell whether they are this server's; recorded all the same (check them before"
            " a restore from them), without the backups the copy of the state on them names; run"
            " `rabtui rebuild-state` again with those media in place to tell")


def _theirs(others: list[str]) -> str:
    return (f"the discs say they were made by a server that knew {', '.join(others)}: another server's discs,"
            " or made before that medium was labelled again; recorded all the same (check them before a restore"
            " from them), without the backups the copy of the state on them names")
