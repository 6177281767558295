"""A checkpoint plan of every configured directory that must go through: its refusal, if any, made
the test's failure with its hint."""

from __future__ import annotations

from rabtui.checkpoint import prepare
from rabtui.errors import WorkFailed


def plan_not_refused(lab, cfg):
    try:
        return prepare.compute(cfg, lab.store(), asked={"*"})
    except WorkFailed as exc:
        raise AssertionError(f"{exc} / {exc.hint}") from None
