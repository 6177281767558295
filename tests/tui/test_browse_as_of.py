"""Browse on a backup of an archive directory lists every file saved on that medium up to that
backup (the union as of it, as restore --backup gives it), not only what that backup copied."""

from __future__ import annotations

from datetime import datetime, timedelta

from rabtui.tui.app import make_app
from tests.trees import Lab, write_files
from tests.tui.conftest import browse_backups, run, texts, wait_for

T0 = datetime(2026, 3, 1, 2, 0, 0)


def test_archive_directory_browsed_as_of_each_backup(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"2025/a.jpg": b"A" * 100, "2025/keep.jpg": b"K" * 30})
    b1 = lab.backup(cfg, now=T0)
    write_files(photos, {"2025/a.jpg": b"a" * 120, "2026/b.jpg": b"B" * 50})
    b2 = lab.backup(cfg, now=T0 + timedelta(days=1))
    write_files(photos, {"2025/d.jpg": b"D" * 40})
    b3 = lab.backup(cfg, now=T0 + timedelta(days=2))
    assert [b.status for b in (b1, b2, b3)] == ["completed"] * 3
    year = str(photos / "2025").lstrip("/").encode()

    async def go():
        app = make_app(lab.config_path, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await browse_backups(app, pilot, "loc")
            backups = {b["name"]: b for b in screen.keys if not b.get("root")}

            async def listed(backup) -> dict:
                screen.open_backup(backups[backup.path.name], year)
                await wait_for(pilot, lambda: screen.rel == year and not screen.loading and screen.level == "dir")
                return {e.name: (e.size, e.state) for e in screen.keys}

            # b2 copied only a.jpg (edited) in 2025/; keep.jpg, saved by b1, is there as of b2
            assert await listed(b2) == {b"a.jpg": (120, "new"), b"keep.jpg": (30, "")}
            assert "up to this backup" in texts(app, "#browse-where")
            assert await listed(b1) == {b"a.jpg": (100, "new"), b"keep.jpg": (30, "new")}
            assert await listed(b3) == {b"a.jpg": (120, ""), b"keep.jpg": (30, ""), b"d.jpg": (40, "new")}

    run(go())
