"""Kept data (issue 15, 2.6): a backup whose post-backup command failed is a failed run (exit 1)
whose data is restorable, shown by `find` and retained like a complete backup; it is never a
--link-dest base."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from datetime import datetime, timedelta

from rabtui.backup import retention
from rabtui.cli import main
from tests.trees import Lab, snapshot, write_files

SHORT = ("keep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
         "keep_monthly_months = 0\nkeep_yearly_years = 0\n")
T0 = datetime(2026, 7, 1, 3, 0)


def _lab(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    lab.local([("etc", "standard"), ("photos", "archive")], extra='post_backup_commands = ["exit 4"]')
    text = lab.config_path.read_text().replace("[[media]]", f"[retention]\n{SHORT}\n[[media]]", 1)
    lab.config_path.write_text(text)
    return lab


def _post_commands(lab, on: bool):
    text = lab.config_path.read_text()
    if on:
        text = text.replace("\npost_backup_commands = []", '\npost_backup_commands = ["exit 4"]')
    else:
        text = text.replace('post_backup_commands = ["exit 4"]', "post_backup_commands = []")
    lab.config_path.write_text(text)
    return lab.load()


def test_kept_data_is_restored_found_and_shown_by_check(tmp_path, capsys):
    lab = _lab(tmp_path)
    write_files(lab.src / "etc", {"conf": b"first"})
    _post_commands(lab, False)
    good = lab.backup(lab.load(), now=T0)
    (lab.src / "etc/conf").write_bytes(b"second, kept")
    write_files(lab.src / "photos", {"only-kept.jpg": b"jpeg"})
    kept = lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1))
    assert (kept.status, kept.exit_code) == ("failed", 1) and "the data is kept" in kept.reason
    assert kept.reason.count("post-backup command failed") == 1, kept.reason    # said once, not twice
    store = lab.store()
    assert store.one("SELECT status FROM backups WHERE id=?", (kept.backup_id,))["status"] == "kept"
    cfg = ["--config", str(lab.config_path)]
    capsys.readouterr()

    # restore: the newest backup that holds the file is the kept one, by default and by name
    out = tmp_path / "out"
    assert main(cfg + ["restore", "loc", str(lab.src / "etc/conf"), "--to", str(out)]) == 0
    assert (out / str(lab.src / "etc/conf").lstrip("/")).read_bytes() == b"second, kept"
    out2 = tmp_path / "out2"
    assert main(cfg + ["restore", "loc", str(lab.src / "photos/only-kept.jpg"), "--backup", kept.path.name,
                       "--to", str(out2)]) == 0
    assert (out2 / str(lab.src / "photos/only-kept.jpg").lstrip("/")).read_bytes() == b"jpeg"
    # the complete backup before it still gives the first version of conf
    out3 = tmp_path / "out3"
    assert main(cfg + ["restore", "loc", str(lab.src / "etc/conf"), "--backup", good.path.name,
                       "--to", str(out3)]) == 0
    assert (out3 / str(lab.src / "etc/conf").lstrip("/")).read_bytes() == b"first"

    # find: each version where it is; the kept backup only for its own versions
    capsys.readouterr()
    assert main(cfg + ["find", "conf", "--json"]) == 0
    found = {v["size"]: [n for loc in v["locations"] for n in loc.get("backups", [])]
             for v in json.loads(capsys.readouterr().out)}
    assert found == {len(b"first"): [good.path.name], len(b"second, kept"): [kept.path.name]}
    assert main(cfg + ["find", "only-kept.jpg"]) == 0
    assert kept.path.name in capsys.readouterr().out

    # check: the failed run is reported
    assert main(cfg + ["check"]) != 0
    assert f"last run {kept.path.name} kept" in capsys.readouterr().out


def test_kept_data_is_retained_like_a_complete_backup_and_never_a_base(tmp_path, capsys):
    lab = _lab(tmp_path)
    write_files(lab.src / "etc", {"conf": b"one"})
    good = lab.backup(_post_commands(lab, False), now=T0)
    write_files(lab.src / "photos", {"only-kept.jpg": 2000})
    kept = lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1))
    assert kept.status == "failed"
    store = lab.store()
    # a week later: the kept backup is the newest, the one before it the newest complete; both stay
    plan = retention.plan_cleanup(lab.load(), store, now=T0 + timedelta(days=8))
    assert plan.delete == []
    assert {k[0] for k in plan.kept} == {good.backup_id, kept.backup_id}

    # the photo is gone at the source before the next backup: only the kept data holds it
    (lab.src / "photos/only-kept.jpg").unlink()
    (lab.src / "etc/conf").write_bytes(b"two")
    later = lab.backup(_post_commands(lab, False), now=T0 + timedelta(days=2))
    assert later.status == "completed"
    assert store.one("SELECT link_dest FROM backups WHERE id=?", (later.backup_id,))["link_dest"] == good.backup_id
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "cleanup", "--now", (T0 + timedelta(days=9)).isoformat()]) == 0
    out = capsys.readouterr().out
    assert f"deleting loc {good.path.name}" in out          # past the periods, holds nothing unique
    assert f"keeping {kept.path.name}: holds the only copy of 1 archive file" in out
    assert not good.path.exists()
    held = kept.path / "data" / str(lab.src / "photos/only-kept.jpg").lstrip("/")
    assert held.is_file() and os.path.getsize(held) == 2000
    assert store.one("SELECT status FROM backups WHERE id=?", (kept.backup_id,))["status"] == "kept"


def test_rebuild_state_catalogues_kept_data_as_the_backup_did(tmp_path, capsys):
    lab = _lab(tmp_path)
    write_files(lab.src / "etc", {"conf": b"first"})
    lab.backup(_post_commands(lab, False), now=T0)
    (lab.src / "etc/conf").write_bytes(b"second, kept")
    write_files(lab.src / "photos", {"only-kept.jpg": b"jpeg"})
    kept = lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1))
    store = lab.store()
    view = "SELECT b.name, p.path, v.size, v.mtime, v.first_backup = v.last_backup AS own FROM versions v" \
           " JOIN paths p ON p.id=v.path_id JOIN backups b ON b.id=v.first_backup ORDER BY 1, 2"
    before = [tuple(r) for r in store.all(view)]
    assert sum(1 for r in before if r[0] == kept.path.name) == 2       # conf and the photo
    store.close()
    lab.lose_database()
    (tmp_path / "iso").mkdir()          # a drive with no discs, so that nothing is asked
    drive = f'[checkpoint]\ndrive = "images:{tmp_path / "iso"}"\n\n'
    lab.config_path.write_text(lab.config_path.read_text().replace("[[media]]", drive + "[[media]]", 1))
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
    store = lab.store()
    assert store.one("SELECT status FROM backups WHERE name=?", (kept.path.name,))["status"] == "kept"
    assert [tuple(r) for r in store.all(view)] == before


def test_an_archive_directory_restored_as_of_kept_data_holds_the_files_it_saved(tmp_path):
    """Kept data's archive files are not linked into the medium's union, which a directory's
    restore walks: they come from the kept backup itself, the directory whole as that backup had it."""
    from tests.trees import snapshot

    lab = _lab(tmp_path)
    write_files(lab.src / "photos", {"2025/first.jpg": b"one"})
    _post_commands(lab, False)
    assert lab.backup(lab.load(), now=T0).status == "completed"
    write_files(lab.src / "photos", {"2025/only-kept.jpg": b"kept", "2026/new.jpg": b"new dir"})
    kept = lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1))
    assert kept.status == "failed"
    photos = str(lab.src / "photos")
    for how in ([], ["--backup", kept.path.name]):
        out = tmp_path / f"out{len(how)}"
        assert main(["--config", str(lab.config_path), "restore", "loc", photos, "--to", str(out)] + how) == 0
        assert snapshot(out / photos.lstrip("/")) == {b"2025/first.jpg": b"one", b"2025/only-kept.jpg": b"kept",
                                                      b"2026/new.jpg": b"new dir"}, how


def test_directories_only_kept_data_saved_come_back_with_its_modes_and_times(tmp_path):
    """The directories of an archive directory that only kept data holds (none in the union) are
    made as that backup has them: modes and times, not 0755 and the time of the restore."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"2025/first.jpg": b"one"})
    assert lab.backup(_post_commands(lab, False), now=T0).status == "completed"
    write_files(photos, {"2026/deep/only-kept.jpg": b"kept"})
    os.chmod(photos / "2026/deep", 0o710)
    os.chmod(photos / "2026", 0o750)
    os.utime(photos / "2026/deep", (1_600_000_000, 1_600_000_000))
    os.utime(photos / "2026", (1_500_000_000, 1_500_000_000))
    kept = lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1))
    assert kept.status == "failed"
    in_kept = kept.path / "data" / str(photos).lstrip("/")
    for how in ([], ["--backup", kept.path.name]):
        out = tmp_path / f"out{len(how)}"
        assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(out)] + how) == 0
        got = out / str(photos).lstrip("/")
        assert (got / "2026/deep/only-kept.jpg").read_bytes() == b"kept"
        for d in ("2026", "2026/deep"):
            want, have = os.lstat(in_kept / d), os.lstat(got / d)
            assert (oct(have.st_mode), int(have.st_mtime)) == (oct(want.st_mode), int(want.st_mtime)), (how, d)


def _lab_with_discs(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    lab.write(lab._local_source([("etc", "standard"), ("photos", "archive")], 'post_backup_commands = ["exit 4"]', "loc")
              + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n\n[retention]\n{SHORT}\n')
    return lab


def test_a_checkpoint_holds_the_archive_files_only_kept_data_saved(tmp_path, capsys):
    """Kept data's archive files are not in the medium's union, which a checkpoint reads: once a
    complete backup follows, the checkpoint holds them as that backup's view of the archive has
    them (a file the source removed meanwhile included, in the version the kept data saved), read
    from the kept backup; the changed-files trigger no longer counts them."""
    from rabtui.checkpoint import run
    from rabtui.events import READY, ScriptedPrompter
    from tests.trees import burn_due

    lab = _lab_with_discs(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"2025/first.jpg": b"one", "2025/edited.jpg": b"v1"})
    assert lab.backup(_post_commands(lab, False), now=T0).status == "completed"
    write_files(photos, {"2025/only-kept.jpg": b"kept", "2026/deep/new.jpg": b"new dir", "2025/edited.jpg": b"v2, kept",
                         "2027/gone/too.jpg": b"dir gone"})
    os.chmod(photos / "2027", 0o750)
    kept = lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1))
    assert kept.status == "failed"
    for gone in ("2025/only-kept.jpg", "2025/edited.jpg", "2027/gone/too.jpg", "2027/gone", "2027"):
        (photos / gone).unlink() if "." in gone else (photos / gone).rmdir()
    cfg = _post_commands(lab, False)
    assert lab.backup(cfg, now=T0 + timedelta(days=2)).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store, asked={"*"})
    top = str(photos).lstrip("/").encode() + b"/"
    on_disc = {bytes(r["path"]): r["size"] for r in store.all("SELECT path, size FROM disc_files WHERE number=?",
                                                               (number,)) if bytes(r["path"]).startswith(top)}
    assert on_disc == {top + b"2025/first.jpg": 3, top + b"2025/edited.jpg": len(b"v2, kept"),
                       top + b"2025/only-kept.jpg": 4, top + b"2026/deep/new.jpg": 7, top + b"2027/gone/too.jpg": 8}
    assert store.one("SELECT changed_since_checkpoint FROM dir_state WHERE path=?", (str(photos),))[0] == 0
    checked = run.verify_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                    prompter=ScriptedPrompter(lambda q: READY))
    assert (checked.verified, checked.unchecked) == ([1], {}), checked.message    # against the kept backup too
    out = tmp_path / "from-discs"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--checkpoint", str(number),
                 "--to", str(out)]) == 0
    assert snapshot(out / str(photos).lstrip("/")) == {
        b"2025/first.jpg": b"one", b"2025/edited.jpg": b"v2, kept", b"2025/only-kept.jpg": b"kept",
        b"2026/deep/new.jpg": b"new dir", b"2027/gone/too.jpg": b"dir gone"}
    assert oct(os.lstat(out / str(photos).lstrip("/") / "2027").st_mode) == oct(0o40750)   # as the kept backup has it


def test_what_only_kept_data_saved_is_restored_by_itself_as_of_that_backup_and_later_ones(tmp_path):
    """A file or a directory of an archive directory that only kept data saved (the source removed
    it before the next complete backup) is in that backup's view of the archive and in every later
    one's, as the directory restored whole shows: restored by itself too, by default and by name."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"2025/first.jpg": b"one"})
    assert lab.backup(_post_commands(lab, False), now=T0).status == "completed"
    write_files(photos, {"2027/gone/x.jpg": b"x, kept", "2025/y.jpg": b"y, kept"})
    os.chmod(photos / "2027", 0o750)
    kept = lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1))
    assert kept.status == "failed"
    for gone in ("2027/gone/x.jpg", "2027/gone", "2027", "2025/y.jpg"):
        (photos / gone).unlink() if "." in gone else (photos / gone).rmdir()
    later = lab.backup(_post_commands(lab, False), now=T0 + timedelta(days=2))
    assert later.status == "completed"
    n = 0
    for what, want in (("2027", {b"gone/x.jpg": b"x, kept"}), ("2027/gone", {b"x.jpg": b"x, kept"}),
                       ("2025/y.jpg", None)):
        for how in ([], ["--backup", later.path.name], ["--backup", kept.path.name]):
            n += 1
            out = tmp_path / f"out{n}"
            item = photos / what
            assert main(["--config", str(lab.config_path), "restore", "loc", str(item), "--to", str(out)] + how) == 0, \
                (what, how)
            got = out / str(item).lstrip("/")
            if want is None:
                assert got.read_bytes() == b"y, kept", how
            else:
                assert snapshot(got) == want, (what, how)
        if what == "2027":
            assert oct(os.lstat(got).st_mode) == oct(0o40750)


def test_a_restore_refuses_a_target_holding_a_file_only_kept_data_saved(tmp_path, capsys):
    """Without --overwrite, a file in the target where the archive directory restored has one that
    only kept data saved refuses the restore before anything is written, as one the union shows does."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"2025/first.jpg": b"one"})
    assert lab.backup(_post_commands(lab, False), now=T0).status == "completed"
    write_files(photos, {"2025/y.jpg": b"y, kept"})
    assert lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1)).status == "failed"
    out = tmp_path / "out"
    write_files(out / str(photos).lstrip("/"), {"2025/y.jpg": b"mine"})
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(out)]) == 1
    assert "1 file exists in the target already" in capsys.readouterr().err
    assert snapshot(out) == {str(photos / "2025/y.jpg").lstrip("/").encode(): b"mine"}


def test_two_kept_backups_in_a_row_keep_one_copy_of_what_only_they_saved(tmp_path, capsys):
    """The second kept backup copies again what the first saved (neither is in the union); the
    source removes it; a cleanup past every period deletes one of them and keeps the other, whose
    copy `find` shows and a restore of the directory brings back."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    assert lab.backup(_post_commands(lab, False), now=T0).status == "completed"
    write_files(photos, {"x.jpg": b"x, kept twice"})
    k2 = lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1))
    k3 = lab.backup(lab.load(), now=T0 + timedelta(days=2))
    assert (k2.status, k3.status) == ("failed", "failed")
    (photos / "x.jpg").unlink()
    assert lab.backup(_post_commands(lab, False), now=T0 + timedelta(days=3)).status == "completed"
    cfg = ["--config", str(lab.config_path)]
    capsys.readouterr()
    assert main(cfg + ["cleanup", "--now", (T0 + timedelta(days=30)).isoformat()]) == 0
    said = capsys.readouterr().out
    assert f"deleting loc {k2.path.name}" in said and f"keeping {k3.path.name}: holds the only copy" in said, said
    assert main(cfg + ["find", "x.jpg"]) == 0
    assert k3.path.name in capsys.readouterr().out
    out = tmp_path / "out"
    assert main(cfg + ["restore", "loc", str(photos), "--to", str(out)]) == 0
    assert snapshot(out / str(photos).lstrip("/")) == {b"first.jpg": b"one", b"x.jpg": b"x, kept twice"}


def test_a_checkpoint_names_a_file_kept_data_saved_that_its_backup_lost(tmp_path):
    """A file of kept data removed from the medium since (by hand, an fsck) is named when the
    checkpoint is planned, not put on discs in silence nor stopping the others."""
    from rabtui.checkpoint import prepare
    from rabtui.events import WARNING

    lab = _lab_with_discs(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    assert lab.backup(_post_commands(lab, False), now=T0).status == "completed"
    write_files(photos, {"only-kept.jpg": b"kept"})
    kept = lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1))
    (photos / "only-kept.jpg").unlink()
    cfg = _post_commands(lab, False)
    assert lab.backup(cfg, now=T0 + timedelta(days=2)).status == "completed"
    (kept.path / "data" / str(photos / "only-kept.jpg").lstrip("/")).unlink()
    events = []
    c = prepare.compute(cfg, lab.store(), asked={"*"}, emit=events.append)
    said = [e.message for e in events if e.kind == WARNING]
    assert any("1 file that kept data saved is not in its backup" in m and "only-kept.jpg" in m for m in said), said
    photos_dir = next(d for d in c.data if d.path == str(photos))
    assert photos_dir.paths == [b"first.jpg"]


def test_a_directory_only_kept_data_holds_goes_onto_a_disc_with_its_xattrs_and_acl(tmp_path):
    """A directory only a kept backup holds (the union lacks it), with an xattr and a default ACL:
    the plan did not record them (it records those of the union's directories), and every disc
    written of it failed its verification ("xattr user.k on the disc, not recorded"); the
    checkpoint could never complete. It does, and the directory comes back from the disc so."""
    from tests.trees import burn_due

    lab = _lab_with_discs(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"2025/first.jpg": b"one"})
    assert lab.backup(_post_commands(lab, False), now=T0).status == "completed"
    write_files(photos, {"2026/deep/only-kept.jpg": b"kept"})
    for d, value in (("2026", b"outer"), ("2026/deep", b"inner")):
        os.setxattr(photos / d, "user.k", value)
    subprocess.run(["setfacl", "-m", "d:u:1234:rx", str(photos / "2026/deep")], check=True)
    assert lab.backup(_post_commands(lab, True), now=T0 + timedelta(days=1)).status == "failed"
    shutil.rmtree(photos / "2026")
    cfg = _post_commands(lab, False)
    assert lab.backup(cfg, now=T0 + timedelta(days=2)).status == "completed"
    number = burn_due(cfg, lab.store(), asked={"*"}, verified=True)
    out = tmp_path / "from-discs"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--checkpoint", str(number),
                 "--to", str(out)]) == 0
    got = out / str(photos).lstrip("/")
    assert (got / "2026/deep/only-kept.jpg").read_bytes() == b"kept"
    assert [os.getxattr(got / d, "user.k") for d in ("2026", "2026/deep")] == [b"outer", b"inner"]
    acl = subprocess.run(["getfacl", "-cp", str(got / "2026/deep")], capture_output=True, text=True).stdout
    assert "default:user:1234:r-x" in acl, acl


def test_a_directory_two_kept_backups_hold_with_other_xattrs_goes_onto_every_disc_as_recorded(tmp_path):
    """`2026`, which the union lacks, held by two kept backups with other xattrs and modes, its files
    on two discs: the plan recorded it as one of them has it, and the disc whose first file below
    it came from the other took it from there: that disc failed its verification every time it was
    written (the checkpoint could never complete). Each disc takes it from where the plan did."""
    from rabtui.checkpoint import run
    from rabtui.events import READY, ScriptedPrompter
    from tests.trees import burn_due

    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    lab.write(lab._local_source([("photos", "archive")], 'post_backup_commands = ["exit 4"]', "loc")
              + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n\n[retention]\n{SHORT}\n')
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    assert lab.backup(_post_commands(lab, False), now=T0).status == "completed"
    cfg = _post_commands(lab, True)
    for day, (name, value, mode) in enumerate((("b.jpg", b"first", 0o750), ("a.jpg", b"second", 0o710)), 1):
        write_files(photos, {f"2026/{name}": os.urandom(2_500_000)})
        os.setxattr(photos / "2026", "user.k", value)
        os.chmod(photos / "2026", mode)
        assert lab.backup(cfg, now=T0 + timedelta(days=day)).status == "failed"
        shutil.rmtree(photos / "2026")
    cfg = _post_commands(lab, False)
    assert lab.backup(cfg, now=T0 + timedelta(days=3)).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store, asked={"*"})      # each disc verified as it is written
    checked = run.verify_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                    prompter=ScriptedPrompter(lambda q: READY))
    assert (checked.verified, checked.unchecked) == ([1, 2], {}), checked.message
    top = str(photos).lstrip("/").encode() + b"/2026/"
    discs = {bytes(r["path"]): r["disc"] for r in store.all("SELECT path, disc FROM disc_files WHERE number=?",
                                                             (number,)) if bytes(r["path"]).startswith(top)}
    assert sorted(discs.values()) == [1, 2], discs      # a file on each disc
    recorded = [(r["mode"] & 0o777, bytes(r["value"])) for r in store.all(
        "SELECT disc_path, mode, value FROM disc_dir_attrs WHERE number=?", (number,)) if bytes(r[0]).endswith(b"/2026")]
    assert recorded == [(0o710, b"second")]     # as the backup beside the first file in path order has it
    out = tmp_path / "from-discs"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--checkpoint", str(number),
                 "--to", str(out)]) == 0
    got = out / str(photos).lstrip("/") / "2026"
    assert sorted(os.listdir(got)) == ["a.jpg", "b.jpg"]
    assert os.getxattr(got, "user.k") == b"second"
