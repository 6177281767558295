"""A checkpoint taken after a directory changed kind puts on the discs what the backup it reads
shows, by the kind each backup saved the directory as (not the config's now), and its discs
verify; a restore from them gives that. Real backups (rsync), real xorriso (`images:` drive)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests import invariants
from tests.trees import Lab, burn_due, write_files

DAY = datetime(2026, 6, 1, 3, 30)


def _step(lab: Lab, n: int | None, kind: str, files: dict, gone=(), *, kept: bool = False, **kw) -> None:
    """A backup of `photos` as `kind` on day `n` (None: now) (`kept`: its post-backup command
    fails, its data kept; `kw`: run_backup's, e.g. medium_id)."""
    extra = 'post_backup_commands = ["exit 4"]' if kept else ""
    lab.write(lab._local_source([("photos", kind)], extra, "loc")
              + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{lab.tmp / "iso"}"\n')
    photos = lab.src / "photos"
    write_files(photos, files)
    for name in gone:
        (photos / name).unlink()
    now = DAY + timedelta(days=n) if n is not None else None
    assert lab.backup(lab.load(), now=now, **kw).status == ("failed" if kept else "completed")


def _burnt_and_all_agree(lab, tmp_path) -> None:
    """A checkpoint burnt and verified; the views, its discs, the restores from the media and every
    version find lists agree with the media."""
    cfg, store = lab.load(), lab.store()
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    invariants.check_views_are_media(cfg, store)
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")
    invariants.check_restores_are_views(cfg, store, tmp_path / "from-media")
    invariants.check_found_restores(cfg, store, tmp_path / "found")


@pytest.mark.parametrize("kinds", [("archive", "archive", "standard"), ("standard", "standard", "archive"),
                                   ("archive", "standard", "archive")])
def test_a_checkpoint_after_a_kind_change_holds_what_the_backup_shows(tmp_path, kinds):
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    _step(lab, 0, kinds[0], {"a": b"a1", "sub/c": b"c1", "x": b"x"})
    _step(lab, 1, kinds[1], {"b": b"b", "sub/c": b"c2 longer"}, ("a",))
    number = burn_due(lab.load(), lab.store(), asked={"*"}, verified=True)
    invariants.check_checkpoint_is_view(lab.load(), lab.store(), number, tmp_path / "out")
    _step(lab, 2, kinds[2], {"d": b"d", "sub/c": b"c3 longer still"}, ("x",))
    _burnt_and_all_agree(lab, tmp_path)


def test_a_kept_standard_backup_is_no_kept_data_of_the_directory_made_archive(tmp_path):
    """A standard backup whose post-backup command failed (its data kept), then the directory made
    archive: the file only that standard backup saved is none of what the archive backup shows, and
    not on the discs."""
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    _step(lab, 0, "standard", {"a": b"a1"})
    _step(lab, 1, "standard", {"k": b"only the kept backup"}, kept=True)
    _step(lab, 2, "archive", {"b": b"b"}, ("k",))
    _burnt_and_all_agree(lab, tmp_path)


def test_kind_changes_with_killed_runs_between_restore_and_checkpoint_as_the_media_show(tmp_path):
    """Archive, a run killed as it linked into the union, standard (its backup recovers the killed
    run), a standard run killed, archive again: after each step every backup restores as it shows
    on the medium, and a checkpoint's discs hold what its backup shows."""
    from tests.test_kill_anywhere import _killed, rabtui

    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    out = tmp_path / "out"

    def checked(n: int) -> None:
        cfg, store = lab.load(), lab.store()
        invariants.check_catalog_is_media(cfg, store)
        invariants.check_views_are_media(cfg, store)
        invariants.check_restores_are_views(cfg, store, out / f"media-{n}")
        invariants.check_found_restores(cfg, store, out / f"found-{n}")
        number = burn_due(cfg, store, asked={"*"}, verified=True)
        invariants.check_checkpoint_is_view(cfg, store, number, out / f"discs-{n}")

    _step(lab, None, "archive", {"a": b"a1", "sub/c": b"c1"})
    checked(0)
    write_files(lab.src / "photos", {"k": b"only the killed run", "sub/c": b"c2 longer"})
    _killed(rabtui(lab, "backup", "loc", point="union.linked"))
    _step(lab, None, "standard", {"b": b"b"}, ("k",))
    checked(1)
    write_files(lab.src / "photos", {"s": b"standard, killed"})
    _killed(rabtui(lab, "backup", "loc", point="backup.rsync_ended"))
    _step(lab, None, "archive", {"d": b"d"}, ("a",))
    checked(2)
    write_files(lab.src / "photos", {"m": b"only the second killed archive run", "sub/c": b"c3 longer still"})
    _killed(rabtui(lab, "backup", "loc", point="union.linked"))
    _step(lab, None, "standard", {}, ("m",))
    checked(3)
    # the two killed as they linked into the union had ended their transfer: undone in the union,
    # their data kept; the one killed as its rsync ended, abandoned
    statuses = [r["status"] for r in lab.store().all("SELECT status FROM backups ORDER BY id")]
    assert (statuses.count("kept"), statuses.count("abandoned")) == (2, 1), statuses
    union = sorted(p.name for p in (lab.media[0][1] / "loc" / ".archive").rglob("*") if p.is_file())
    assert "k" not in union and "m" not in union, union


@pytest.mark.parametrize("kinds", [("archive", "standard", "archive"), ("standard", "archive", "standard")])
def test_odd_names_and_symlinks_across_kind_changes(tmp_path, kinds):
    """Names of 255 bytes, not UTF-8, with an escape sequence, and a symlink, each saved under
    one kind and the source dropping some under the next: restores and discs as the media show."""
    import os

    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    photos = lab.src / "photos"
    long, raw, esc = b"L" * 255, b"\xff\xfe-raw", b"\x1b[31mred"
    _step(lab, 0, kinds[0], {long: b"long", raw: b"raw", b"dir/" + esc: b"esc"})
    os.symlink(b"../" + long, os.path.join(os.fsencode(photos), b"dir", b"link"))
    _step(lab, 1, kinds[1], {raw: b"raw, longer now"})
    os.unlink(os.path.join(os.fsencode(photos), long))
    os.unlink(os.path.join(os.fsencode(photos), b"dir", b"link"))
    _step(lab, 2, kinds[2], {b"dir/" + long: b"deeper"})
    cfg, store = lab.load(), lab.store()
    invariants.check_views_are_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "media")
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "discs")


def test_a_kept_archive_backup_then_standard_then_archive_on_two_media(tmp_path):
    """An archive backup whose post-backup command failed (kept data, never linked into the
    union), then standard, then archive again, alternating two media: restores (find's versions
    too) and the discs as the media show."""
    lab = Lab(tmp_path, media_count=2)
    (tmp_path / "iso").mkdir()
    _step(lab, 0, "archive", {"a": b"a1", "sub/c": b"c1"})
    _step(lab, 1, "archive", {"k": b"kept data's", "sub/c": b"c2 kept"}, kept=True)
    _step(lab, 2, "standard", {"b": b"b"}, ("a",))
    _step(lab, 3, "archive", {"d": b"d"}, ("k",))
    _step(lab, 4, "archive", {"e": b"e"})
    cfg, store = lab.load(), lab.store()
    assert {r["medium"] for r in store.all("SELECT medium FROM backups")} == {"m1", "m2"}
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "media")
    invariants.check_found_restores(cfg, store, tmp_path / "found")
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "discs")
