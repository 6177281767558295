"""Several sources' first backups at once (`backup --all`, max_parallel): each spool gives its new
paths ids from its rows while the others add theirs, here a few at a time (as trees of millions
of files do while rsync runs), so that their ranges of ids meet. Then rebuild-state, their second
backups, and a source new to the config (its first backup while the others' ids are larger), also at once: the
catalog is what the media hold, each version names its own source's file, and each directory's
change counter is its files. Real rsync, local sources, standard and archive directories."""

from __future__ import annotations

import os
import signal
import sys
import textwrap

import pytest

from rabtui import faults
from rabtui.actions.rebuild import rebuild_state
from rabtui.events import no_emit
from rabtui.backup import catalog_update
from rabtui.cli import main
from tests import invariants
from tests.test_kill_anywhere import _files
from tests.trees import Lab
from tests import preloaded

NAMES = ("s1", "s2", "s3", "s4")


def _config(lab: Lab, names) -> None:
    text = ""
    for name in names:
        text += f'[[sources]]\nid = "{name}"\n'
        for d, kind in (("data", "standard"), ("arch", "archive")):
            root = lab.src / name / d
            root.mkdir(parents=True, exist_ok=True)
            text += f'[[sources.directories]]\npath = "{root}"\nkind = "{kind}"\n'
    lab.write(text)
    lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", "[rabtui]\nmax_parallel = 4\n", 1))


def _tree(lab: Lab, name: str, round_: int, count: int) -> None:
    for d in ("data", "arch"):
        _files(lab.src / name / d, {f"{'sub/' if i % 3 else ''}f{i:03}-{round_ if i % 4 == 0 else 0}":
                                    f"{name} {d} {i} {round_}".encode() for i in range(count)})


def _checked(lab: Lab) -> None:
    cfg, store = lab.load(), lab.store()
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_change_counters(store)
    assert store.one("SELECT COUNT(*) AS n FROM versions v JOIN backups b ON b.id=v.first_backup"
                     " LEFT JOIN paths p ON p.id=v.path_id WHERE p.id IS NULL OR p.source<>b.source")["n"] == 0


def test_first_backups_of_several_sources_at_once(tmp_path, monkeypatch, capsys):
    lab = Lab(tmp_path, media_count=1)
    monkeypatch.setattr(catalog_update, "BATCH", 3)
    monkeypatch.setattr(catalog_update, "PATHS_AT_ONCE", 2)
    for i, name in enumerate(NAMES):
        _tree(lab, name, 0, 30 + 7 * i)
    _config(lab, NAMES[:3])
    assert main(["--config", str(lab.config_path), "backup", "--all"]) == 0, capsys.readouterr()
    _checked(lab)
    rebuild_state(lab.load(), no_emit, None, None)     # the ids given again, in another order
    _checked(lab)
    for name in NAMES:
        _tree(lab, name, 1, 45)
    _config(lab, NAMES)
    assert main(["--config", str(lab.config_path), "backup", "--all"]) == 0, capsys.readouterr()
    _checked(lab)


KILLED = textwrap.dedent("""
    import sys
    from rabtui.backup import catalog_update
    catalog_update.BATCH, catalog_update.PATHS_AT_ONCE = 3, 2
    from rabtui.cli import main
    main(["--config", sys.argv[1], "backup", "--all"])
""")


@pytest.mark.parametrize("point", ["backup.rsync_ended", "backup.archive_linked", "backup.catalog",
                                   "backup.json_written"])
def test_first_backups_at_once_killed_then_the_next(tmp_path, monkeypatch, capsys, point):
    """`backup --all` of sources never backed up, killed (SIGKILL) when the first of them reaches
    `point`, the others where they are; then the next `backup --all` finds what they left."""
    lab = Lab(tmp_path, media_count=1)
    for i, name in enumerate(NAMES[:3]):
        _tree(lab, name, 0, 30 + 7 * i)
    _config(lab, NAMES[:3])
    done = preloaded.run([sys.executable, "-c", KILLED, str(lab.config_path)], env={**os.environ, faults.ENV: point},
                         capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    monkeypatch.setattr(catalog_update, "BATCH", 3)
    monkeypatch.setattr(catalog_update, "PATHS_AT_ONCE", 2)
    for name in NAMES[:3]:
        _tree(lab, name, 1, 40)
    assert main(["--config", str(lab.config_path), "backup", "--all"]) == 0, capsys.readouterr()
    _checked(lab)
