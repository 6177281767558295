"""The symlink a backup of /data (archive) saved at photos' place in the union, the config naming
/data/photos again (test_archive_dirs_nested_checkpoint._another_entry_at_photos): Browse, `check`
and a cleanup take it as saved (medium_layout.saved_in_union), none planted, and read nothing
through it; one planted in its place is refused by each. Real rsync."""

from __future__ import annotations

import os
import pytest

from tests.test_archive_dirs_nested_checkpoint import _another_entry_at_photos
from tests.trees import write_files


def _saved(tmp_path, planted: bool = False):
    """The lab, config and store with the saved symlink at photos in the union (leading to a
    directory of files named as photos' own); `planted`: replaced by another of the same target."""
    from rabtui.media import medium_layout

    lab, cfg, store = _another_entry_at_photos(tmp_path, "narrowed", "symlink")
    write_files(tmp_path / "outside", {b"k": b"K", b"x": b"X"})
    union = medium_layout.archive_root(cfg.media[0].path, "loc", str(lab.src / "data" / "photos"))
    if planted:
        os.unlink(union)
        os.symlink(tmp_path / "outside", union)
    return lab, cfg, store


@pytest.mark.parametrize("planted", [False, True])
def test_browse_lists_the_inner_directorys_own_backups_as_a_restore_gives_them(tmp_path, planted):
    """Browse refused photos' own backup ("a symlink, which rabtui never makes") where a restore
    gives its k: it lists k, nothing of where the symlink points; one planted is refused."""
    from rabtui.actions import archive_view
    from rabtui.restore import run as restore_run

    lab, cfg, store = _saved(tmp_path, planted)
    own = store.one("SELECT * FROM backups ORDER BY id LIMIT 1 OFFSET 1")      # photos' own
    photos = os.fsencode(lab.src / "data" / "photos").lstrip(b"/")
    if planted:
        with pytest.raises(OSError, match="never makes"):
            archive_view.listing(cfg, store, "loc", own, photos)
        return
    for b in store.all("SELECT * FROM backups ORDER BY id")[:2]:     # data's first, photos' own
        listed = archive_view.listing(cfg, store, "loc", b, photos)
        restore_run.restore(cfg, store, "loc", "/" + os.fsdecode(photos), backup=b["name"], to=tmp_path / b["name"])
        given = tmp_path / b["name"] / os.fsdecode(photos)
        assert listed is not None and listed[0] == sorted(os.fsencode(n) for n in os.listdir(given)) == [b"k"], listed
        assert listed[2][b"k"][1] == (given / "k").stat().st_size == 1


@pytest.mark.parametrize("planted", [False, True])
def test_check_says_no_symlink_planted_where_a_backup_saved_it(tmp_path, planted):
    """`check` warned of the saved symlink as planted (symlink:loc:m1); it warns of one planted
    in its place only."""
    from rabtui.ops import health_layout

    _lab, cfg, store = _saved(tmp_path, planted)
    said = [p.check_id for p in health_layout.planted_symlinks(cfg, store)]
    assert said == (["symlink:loc:m1"] if planted else []), said

