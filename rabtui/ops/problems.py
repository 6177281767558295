"""What a health check finds (rabtui/ops/health.py): a Problem and its level."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARNING, CRITICAL = "ok", "warning", "critical"
RANK = {OK: 0, WARNING: 1, CRITICAL: 2}
FULL_WARN, FULL_CRIT = 0.90, 0.98     # a file system this full (space or inodes): a warning, critical


@dataclass(frozen=True)
class Problem:
    check_id: str
    level: str
    message: str

    def line(self) -> str:
        return f"{self.level.upper()}: {self.message}"
