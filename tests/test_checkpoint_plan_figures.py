"""`checkpoint plan`: the total of its summary line counts what the per-disc data column counts
(the room the files take on the discs, their records with them), rounded the same way: a tiny tree
read "0.0 MB" next to a data column of 0.1 MB."""

from __future__ import annotations

import json
import re

from rabtui.cli import main
from tests.test_checkpoint import _lab
from tests.trees import write_files


def test_the_summary_total_agrees_with_the_data_column(tmp_path, capsys):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {f"f{i}": b"x" * 10 for i in range(5)})
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    conf = ["--config", str(lab.config_path), "checkpoint", "plan"]
    capsys.readouterr()
    assert main([*conf, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["per_disc"]) == 1
    assert summary["data_bytes"] == summary["per_disc"][0]["data_bytes"] > 0
    assert summary["content_bytes"] == 51 == sum(d["bytes"] for d in summary["directories"])

    assert main(conf) == 0
    lines = capsys.readouterr().out.splitlines()
    column = lines[1].split()[2]                  # disc, files, data: "0.1 MB"
    total = re.search(r"6 files, ([\d.,]+) MB on the discs", lines[2])
    assert total and total.group(1) == column and column != "0.0", lines
