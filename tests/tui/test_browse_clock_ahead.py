"""Browse after a night under a clock years ahead: the source's backups are listed as made, and
the archive's merged view is restored through the backup made last on its medium, not the one dated
ahead (a file that one saved and a later backup saved anew came back in its older version). Real
rsync over the tests' sshd, `run-due --now`."""
from __future__ import annotations

from rabtui.cli import main
from rabtui.state import queries
from rabtui.tui.app import make_app
from tests.trees import Lab, ssh_source_lines, write_files
from tests.tui.conftest import browse_backups, run


def test_the_merged_archive_is_restored_through_the_backup_made_last(tmp_path, sshd):
    lab = Lab(tmp_path, media_count=1)
    arch = lab.src / "arch"
    arch.mkdir()
    lab.write(ssh_source_lines(sshd) + 'schedule = "0 2 * * *"\n'
              + f'[[sources.directories]]\npath = "{arch}"\nkind = "archive"\n')
    lab.trust(sshd)
    cfg = ["--config", str(lab.config_path)]
    for night, when in enumerate(["2026-10-01T03:00", "2099-01-01T03:00", "2026-10-02T03:00"]):
        write_files(arch, {"x": b"night %d;" % night * (night + 1)})    # saved anew each night
        assert main([*cfg, "run-due", "--now", when]) == 0

    async def go():
        app = make_app(lab.config_path, poll_interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await browse_backups(app, pilot, source="web")
            rows = [b["name"] for b in screen.keys if not b.get("root")]
            merged = [b for b in screen.keys if b.get("root")]
            assert rows == ["backup-20261002030000", "backup-20990101030000", "backup-20261001030000"], rows
            assert [b["restore_from"] for b in merged] == ["backup-20261002030000"], merged
            # the tree of the backup made last shows what changed since the one made before it
            assert queries.previous_backup(app.store, screen.keys[0])["name"] == "backup-20990101030000"

    run(go())
