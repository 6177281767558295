"""Files of odd times in an archive directory's union (before 1970 and between seconds, just
below a second, the epoch, far ahead), before and after rebuild-state and a later backup of a
changed file: the checkpoint plan is not refused. Real rsync and xorriso (`images:`)."""

from __future__ import annotations

import os

from rabtui.cli import main
from tests.trees import Lab, next_second, write_files
from tests.union_plans import plan_not_refused

TIMES = {"before": -1_500_000_000, "long_before": -1_000_000_000_500_000_000, "epoch": 0,
         "almost": 1_704_067_200_999_999_999, "ahead": 4_102_444_800_500_000_000}


def test_odd_times_in_the_union_are_not_refused(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "archive")])
    data = lab.src / "data"
    write_files(data, {name: name.encode() for name in TIMES} | {"c": b"c"})
    for name, ns in TIMES.items():
        os.utime(data / name, ns=(ns, ns))
    assert lab.backup(cfg).status == "completed"
    plan_not_refused(lab, cfg)
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
    plan_not_refused(lab, cfg)
    next_second()
    (data / "c").write_bytes(b"c changed")
    assert lab.backup(cfg).status == "completed"
    plan_not_refused(lab, cfg)
