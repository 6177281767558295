"""`rabtui demo` builds a sandbox with real backups, and never hangs without a terminal."""

from __future__ import annotations

import subprocess
import sys

from rabtui import config as configmod
from rabtui.cli import main
from rabtui.config.disc_types import parse_disc
from rabtui.state.store import Store
from tests import preloaded


def test_demo_builds_a_sandbox_with_backups(tmp_path, capsys):
    base = tmp_path / "sand\033[31mbox"     # its name said escaped, never obeyed by the terminal
    assert main(["demo", "--no-open", "--dir", str(base)]) == 0
    said = capsys.readouterr()
    assert "\033" not in said.out + said.err and f"{tmp_path}/sand\\033[31mbox/rabtui.toml" in said.out
    cfg = configmod.load(base / "rabtui.toml")
    assert [m.id for m in cfg.media] == ["disk-a", "disk-b"]
    assert cfg.checkpoint.drive.startswith("images:")
    assert parse_disc(cfg.checkpoint.disc)[1] * 2048 == 16 * 1024 * 1024
    kinds = {d.kind for d in cfg.source("demo-host").directories}
    assert kinds == {"standard", "archive"}
    files = sum(1 for p in (base / "source").rglob("*") if p.is_file())
    assert files > 2000
    store = Store(cfg.state_dir)
    rows = store.all("SELECT medium, status, total_bytes, new_bytes FROM backups ORDER BY id")
    assert [(r["medium"], r["status"]) for r in rows] == [("disk-a", "completed"), ("disk-b", "completed"),
                                                         ("disk-a", "completed")]
    # the third backup links into the first on disk-a: it adds far less than it holds
    assert rows[2]["new_bytes"] < rows[2]["total_bytes"] / 2
    # more data than one 16 MiB disc: a checkpoint spans several
    assert rows[0]["total_bytes"] > 16 * 1024 * 1024
    assert store.one("SELECT COUNT(*) AS n FROM jobs WHERE status='completed'")["n"] == 3

    # again without a terminal: reuses the sandbox and returns at once instead of opening the UI
    out = preloaded.run([sys.executable, "-m", "rabtui", "demo", "--dir", str(base)], stdin=subprocess.DEVNULL,
                        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "no terminal here" in out.stderr and "using the demo sandbox" in out.stderr and "\033" not in out.stderr
    assert store.one("SELECT COUNT(*) AS n FROM backups")["n"] == 3


def test_the_demo_is_private_whatever_the_umask(tmp_path):
    """scripts/screenshots.py and the tests build the demo without the program's umask: its state,
    media and images are still closed to other users, so its dashboard shows no such problem."""
    import os

    from rabtui import demo
    from rabtui.ops import health

    old = os.umask(0o022)
    try:
        config_path = demo.build(tmp_path / "sandbox", backups=1, documents=20, photos=5)
    finally:
        os.umask(old)
    cfg = configmod.load(config_path)
    found = [p.line() for p in health.run_checks(cfg, Store(cfg.state_dir)) if p.check_id.startswith("private")]
    assert found == []
