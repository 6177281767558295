"""The media a verification of a checkpoint's disc does not read, though something may be at the
paths its plan names: the medium's path changed in the config since its backups were recorded
(what is at the old path may be another disk, or a copy changed since), another disk is mounted
at its path, or it is no longer in the config. Their directories count as absent, as those of a
medium not mounted (backed_up_attrs.unreachable), and the verification says why."""

from __future__ import annotations

from rabtui.errors import RabtuiError
from rabtui.media.at_hand import another_there


def away(cfg, store, plan_json: dict) -> dict[str, str]:
    """Each medium of the plan's directories that is not read now -> why."""
    out: dict[str, str] = {}
    for medium_id in sorted({d["medium"] for d in plan_json["dirs"]}):
        try:
            # a label this machine fails to read (out of descriptors, say) is not another disk:
            # the reads there fail, saying so, and leave the disc unjudged
            why = another_there(cfg.medium(medium_id), store, unread=False)
        except RabtuiError:
            why = f"medium {medium_id} is no longer in the config: nothing is read where it was"
        if why:
            out[medium_id] = why
    return out
