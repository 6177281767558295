"""A backup that does not fit marks only the directories that did not fit (the checkpoint trigger
"a backup did not fit"), on a real tiny tmpfs medium: when rsync runs out of space (step 5), and
when the medium is refused before rsync because the last backup's sizes say it cannot hold them
(step 2)."""

from __future__ import annotations

import json

import pytest

from rabtui.actions.rebuild import rebuild_state
from rabtui.checkpoint import triggers
from rabtui.events import no_emit
from rabtui.media import medium_layout
from tests.test_backup_failures import tmpfs_medium  # noqa: F401  (fixture)
from tests.trees import Lab, fill_up, write_files


def _lab(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local([("small", "standard"), ("big", "standard")])
    write_files(lab.src / "small", {"a": 1000, "b": 2000})
    return lab, cfg


def _marked(lab) -> set[str]:
    rows = lab.store().all("SELECT path FROM dir_state WHERE source='loc' AND did_not_fit IS NOT NULL")
    return {r["path"].rsplit("/", 1)[-1] for r in rows}


def test_rsync_out_of_space_marks_only_that_directory(tmp_path, tmpfs_medium):  # noqa: F811
    lab, cfg = _lab(tmp_path)
    tmpfs_medium("size=2m")
    write_files(lab.src / "big", {"huge": 3 * 1024 * 1024})
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and result.reason.startswith(f"{lab.src / 'big'}: medium too small")
    assert _marked(lab) == {"big"}


def test_medium_refused_before_rsync_marks_only_what_cannot_fit(tmp_path, tmpfs_medium):  # noqa: F811
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "big", {"huge": 1536 * 1024})
    assert lab.backup(cfg, medium_id="m2").status == "completed"     # sizes known from a roomy medium
    tmpfs_medium("size=1m")
    result = lab.backup(cfg, medium_id="m1")                           # no base there: a whole copy
    assert result.status == "failed" and "medium too small: medium m1 has" in result.reason
    steps = lab.store().all("SELECT state FROM backup_steps WHERE backup_id=? ORDER BY step", (result.backup_id,))
    assert [s["state"] for s in steps][:2] == ["ok", "failed"]
    assert _marked(lab) == {"big"}
    why = {s.path.rsplit("/", 1)[-1]: s.reasons for s in triggers.statuses(cfg, lab.store())}
    assert "a backup did not fit on its medium" in why["big"]
    assert "a backup did not fit on its medium" not in why["small"]


def test_a_full_medium_with_a_base_names_the_least_room_a_backup_needs_not_a_whole_copy(tmp_path, tmpfs_medium):  # noqa: F811
    """A medium left with less than 1 MiB free refuses every backup; one of a source with a base
    there would need no whole copy (unchanged files are linked): the refusal named the last whole
    copy's size, as if that much room were needed."""
    lab, cfg = _lab(tmp_path)
    tmpfs_medium("size=3m")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    fill_up(lab.media[0][1] / "filler")
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and "medium too small: medium m1 has" in result.reason, result.reason
    assert "a whole copy needs" not in result.reason, result.reason
    assert "a backup needs 1048576 bytes free at the least" in result.reason, result.reason


@pytest.mark.parametrize("recorded", ["source sizes", "before they were recorded"])
def test_an_archive_directory_first_onto_a_medium_is_refused_by_its_whole_copy_not_its_last_new_files(tmp_path, tmpfs_medium, recorded):  # noqa: F811
    """An archive directory's backup holds only what it added: after a backup that added 11 bytes,
    the last total said 11 bytes, and a first backup onto a medium too small for the archive ran
    rsync until the medium was full. The whole copy it needs is what rsync listed of it on the
    source in the newest backup; in a database from before that was recorded (the column added on
    opening it, empty), the one the newest first backup of the source onto a medium made."""
    lab = Lab(tmp_path)
    cfg = lab.local([("arch", "archive")])
    write_files(lab.src / "arch", {"a": 1536 * 1024, "b": 1536 * 1024})
    assert lab.backup(cfg, medium_id="m2").status == "completed"     # a whole copy onto a roomy medium
    write_files(lab.src / "arch", {"c": 11})
    assert lab.backup(cfg, medium_id="m2").status == "completed"     # adds 11 bytes
    if recorded != "source sizes":
        _as_before_source_sizes(lab)
    tmpfs_medium("size=1600k")
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and "medium too small: medium m1 has" in result.reason, result.reason
    need = 3145739 if recorded == "source sizes" else 3145728
    assert f"a whole copy needs {need} bytes" in result.reason, result.reason
    steps = lab.store().all("SELECT state FROM backup_steps WHERE backup_id=? ORDER BY step", (result.backup_id,))
    assert [s["state"] for s in steps][:2] == ["ok", "failed"]
    assert _marked(lab) == {"arch"}


def _as_before_source_sizes(lab) -> None:
    """The state database as a version that did not record backup_dirs.source_bytes left it."""
    store = lab.store()
    store.execute("ALTER TABLE backup_dirs DROP COLUMN source_bytes")
    store.close()
    assert lab.store().one("SELECT COUNT(*) FROM backup_dirs WHERE source_bytes IS NOT NULL")[0] == 0


@pytest.mark.parametrize("state", ["as recorded", "rebuilt from the media"])
def test_an_archive_that_grew_since_its_full_copy_is_refused_by_a_medium_too_small_for_it_now(tmp_path, tmpfs_medium, state):  # noqa: F811
    """The archive's full copy took 1.5 MiB; it grew by 1.5 MiB since, backed up onto the same
    medium (which added only that). A first backup onto a medium with 2 MiB free was forecast by the
    full copy alone: rsync ran, filled the medium part way and failed there, every night. It is
    refused before anything is written, and the backups already made are kept whole; so too after
    rebuild-state (the sizes rsync listed are in each backup's backup.json)."""
    lab = Lab(tmp_path)
    cfg = lab.local([("arch", "archive")])
    write_files(lab.src / "arch", {"a": 1536 * 1024})
    assert lab.backup(cfg, medium_id="m2").status == "completed"     # the full copy
    write_files(lab.src / "arch", {"b": 1536 * 1024})
    grew = lab.backup(cfg, medium_id="m2")
    assert grew.status == "completed"
    if state == "rebuilt from the media":
        rebuild_state(lab.load(), no_emit, None, None)
    made = lab.store().all("SELECT id, status FROM backups ORDER BY id")
    small = tmpfs_medium("size=2m")
    result = lab.backup(cfg, medium_id="m1")
    assert (result.status, result.exit_code) == ("failed", 1), result.reason
    assert "medium too small: medium m1 has" in result.reason, result.reason
    assert "a whole copy needs 3145728 bytes" in result.reason, result.reason
    steps = lab.store().all("SELECT state FROM backup_steps WHERE backup_id=? ORDER BY step", (result.backup_id,))
    assert [s["state"] for s in steps][:3] == ["ok", "failed", "skipped"]
    assert medium_layout.list_backups(small, "loc") == []              # nothing written there
    assert _marked(lab) == {"arch"}
    assert lab.store().all("SELECT id, status FROM backups WHERE id<>? ORDER BY id", (result.backup_id,)) == made
    union = lab.media[1][1] / "loc" / ".archive"
    held = {p.name: p.stat().st_size for p in union.rglob("*") if p.is_file()}
    assert held == {"a": 1536 * 1024, "b": 1536 * 1024}, held
    assert (grew.path / "data").exists()


def test_an_archive_directory_that_fits_as_a_whole_copy_is_not_refused(tmp_path, tmpfs_medium):  # noqa: F811
    lab = Lab(tmp_path)
    cfg = lab.local([("arch", "archive")])
    write_files(lab.src / "arch", {"a": 512 * 1024})
    assert lab.backup(cfg, medium_id="m2").status == "completed"
    write_files(lab.src / "arch", {"c": 11})
    assert lab.backup(cfg, medium_id="m2").status == "completed"
    tmpfs_medium("size=3m")
    assert lab.backup(cfg, medium_id="m1").status == "completed"


def test_an_archive_whose_source_dropped_most_of_it_is_not_refused_a_medium_big_enough_for_it_now(tmp_path, tmpfs_medium):  # noqa: F811
    """The archive's full copy took 3 MiB; its source then rotated that log away (the medium that
    has the full copy keeps it in its union). A first backup onto another medium copies what the
    source holds now, 2 KB: a 2 MiB medium was refused, every night, by the full copy's 3 MiB."""
    lab = Lab(tmp_path)
    cfg = lab.local([("arch", "archive")])
    write_files(lab.src / "arch", {"old.log": 3 << 20, "b": 1000})
    assert lab.backup(cfg, medium_id="m2").status == "completed"
    (lab.src / "arch" / "old.log").unlink()
    write_files(lab.src / "arch", {"c": 1000})
    assert lab.backup(cfg, medium_id="m2").status == "completed"
    small = tmpfs_medium("size=2m")
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "completed", result.reason
    union = small / "loc" / ".archive"
    assert sorted(p.name for p in union.rglob("*") if p.is_file()) == ["b", "c"]
    assert _marked(lab) == set()


def test_a_directory_dropped_from_the_config_after_a_refusal_counts_no_more(tmp_path, tmpfs_medium):  # noqa: F811
    """A first backup onto a 2 MiB medium is refused: the source's `big` directory took 3 MiB. The
    operator drops `big` from the config to make it fit; the next try was refused again, by the
    sizes of the directory no longer backed up, until a backup onto another medium recorded new ones."""
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "big", {"huge": 3 << 20})
    assert lab.backup(cfg, medium_id="m2").status == "completed"
    small = tmpfs_medium("size=2m")
    refused = lab.backup(cfg, medium_id="m1")
    assert refused.status == "failed" and "medium too small: medium m1 has" in refused.reason, refused.reason
    cfg = lab.local([("small", "standard")])
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "completed", result.reason
    [(name, path, _)] = medium_layout.list_backups(small, "loc")
    assert sorted(p.name for p in medium_layout.backup_data_path(path, str(lab.src / "small")).iterdir()) == ["a", "b"]


@pytest.mark.parametrize("listed", ["not recorded", "less than held"])
def test_an_archive_rebuilt_from_the_media_is_forecast_by_its_first_copy_not_its_newest_backup(tmp_path, tmpfs_medium, listed):  # noqa: F811
    """rebuild-state records no backup's base, and the forecast took the newest backup, which holds
    only the 1000 bytes it added, for the archive's whole copy (3 MiB): where the listings do not say
    more (backup.json written by a rabtui that did not record them; or a listing of 500 bytes, less
    than that backup held: edited, no listing is that small), a first backup onto a 2 MiB medium ran
    and filled it. The whole copy is the newest backup made first on its medium."""
    lab = Lab(tmp_path)
    cfg = lab.local([("arch", "archive")])
    write_files(lab.src / "arch", {"a": 3 << 20})
    first = lab.backup(cfg, medium_id="m2")
    write_files(lab.src / "arch", {"b": 1000})
    newest = lab.backup(cfg, medium_id="m2")
    assert (first.status, newest.status) == ("completed", "completed")
    for made in (first, newest):
        record = made.path / "backup.json"
        info = json.loads(record.read_text())
        [d] = info["directories"]
        if listed == "not recorded":
            del d["source_bytes"]
        elif made is newest:
            assert d["total_bytes"] == 1000 and d["source_bytes"] == (3 << 20) + 1000
            d["source_bytes"] = 500
        record.write_text(json.dumps(info))
    rebuild_state(lab.load(), no_emit, None, None)
    small = tmpfs_medium("size=2m")
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and "medium too small: medium m1 has" in result.reason, result.reason
    assert "a whole copy needs 3145728 bytes" in result.reason, result.reason
    assert medium_layout.list_backups(small, "loc") == []


@pytest.mark.parametrize("state", ["as recorded", "rebuilt from the media"])
def test_a_directory_excluded_in_part_after_a_refusal_is_not_refused_by_its_sizes_before(tmp_path, tmpfs_medium, state):  # noqa: F811
    """The source's cache took 3 MiB, and a first backup onto a 2 MiB medium was refused; the
    operator excludes the cache. The sizes recorded with other excludes refused the medium again,
    until a backup onto another medium recorded new ones; they forecast nothing now (a directory's
    excludes are recorded with its sizes), and what rsync then lists fits. (The same excludes
    refuse it, as the first try shows.)"""
    lab = Lab(tmp_path)
    cfg = lab.local([("std", "standard")])
    write_files(lab.src / "std", {"a": 1000, "cache/big": 3 << 20})
    assert lab.backup(cfg, medium_id="m2").status == "completed"
    small = tmpfs_medium("size=2m")
    refused = lab.backup(cfg, medium_id="m1")
    assert refused.status == "failed" and "medium too small: medium m1 has" in refused.reason, refused.reason
    cfg = lab.local([("std", "standard")], extra='excludes = ["cache/"]')
    if state != "as recorded":
        rebuild_state(cfg, no_emit, None, None)
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "completed", result.reason
    [(_, path, info)] = medium_layout.list_backups(small, "loc")
    assert sorted(p.name for p in medium_layout.backup_data_path(path, str(lab.src / "std")).iterdir()) == ["a"]
    assert info["directories"][0]["excludes"] == ["cache/"]
