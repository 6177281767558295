"""Retention across media (issue 15, 2.1): one cleanup judges its whole plan at once, so the
backups that hold the copies of an archive file on two media are never both deleted."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta

from rabtui.backup import retention
from rabtui.cli import main
from tests.trees import Lab, write_files

DAY = datetime(2026, 6, 1, 3, 30)
SHORT = ("keep_all_days = 5\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
         "keep_monthly_months = 0\nkeep_yearly_years = 0\n")


def files_named(media, prefix: bytes) -> dict[bytes, set]:
    """Every regular file on the media whose name starts with `prefix`: name -> {(size, content)}."""
    found: dict[bytes, set] = {}
    for _, medium in media:
        for dirpath, _dirs, names in os.walk(os.fsencode(medium)):
            for name in names:
                path = os.path.join(dirpath, name)
                if name.startswith(prefix) and os.path.isfile(path) and not os.path.islink(path):
                    with open(path, "rb") as f:
                        found.setdefault(name, set()).add(f.read())
    return found


def test_cleanup_across_media_keeps_a_copy_of_deleted_archive_files(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=2)
    lab.local([("photos", "archive"), ("etc", "standard")], extra='schedule = "0 3 * * *"')
    text = lab.config_path.read_text().replace("[[media]]", f"[retention]\n{SHORT}\n[[media]]", 1)
    lab.config_path.write_text(text)
    write_files(lab.src / "photos", {f"F{i}": 20 * 1024 for i in range(1, 6)})
    saved = {f"F{i}".encode(): (lab.src / "photos" / f"F{i}").read_bytes() for i in range(1, 6)}
    write_files(lab.src / "etc", {"conf": b"x"})
    day = datetime(2026, 6, 1, 3, 30)
    cfg = ["--config", str(lab.config_path)]
    for i in range(4):            # run-due on four days: m1, m2, m1, m2
        (lab.src / "etc/conf").write_bytes(b"day %d" % i)
        assert main(cfg + ["run-due", "--now", (day + timedelta(days=i)).isoformat()]) == 0
    store = lab.store()
    media_of = [r["medium"] for r in store.all("SELECT medium FROM backups WHERE status='completed' ORDER BY id")]
    assert media_of == ["m1", "m2", "m1", "m2"]
    for i in range(1, 6):
        (lab.src / "photos" / f"F{i}").unlink()
    capsys.readouterr()

    # a week later both media's first backups are past the retention periods together
    assert main(cfg + ["cleanup", "--now", (day + timedelta(days=11)).isoformat()]) == 0
    out = capsys.readouterr().out
    found = files_named(lab.media, b"F")
    assert {name: {saved[name]} for name in saved} == {n: found.get(n, set()) & {saved[n]} for n in saved}
    assert "deleting loc" in out           # the cleanup did delete something
    assert "keeping backup-" in out and "only copy of 5 archive files" in out
    deleted = store.one("SELECT COUNT(*) AS n FROM backups WHERE status='deleted'")["n"]
    assert deleted == 1
    assert main(cfg + ["find", "F*"]) == 0
    assert "photos/F1" in capsys.readouterr().out


def _four_runs(tmp_path):
    """Backups on four days, alternating two media, each adding an archive file (A in the first)."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([("photos", "archive"), ("etc", "standard")])
    text = lab.config_path.read_text().replace("[[media]]", f"[retention]\n{SHORT}\n[[media]]", 1)
    lab.config_path.write_text(text)
    cfg = lab.load()
    write_files(lab.src / "photos", {"A": 3000})
    write_files(lab.src / "etc", {"conf": b"x"})
    runs = []
    for i in range(4):
        write_files(lab.src / "photos", {f"new{i}": 1000})
        runs.append(lab.backup(cfg, now=DAY + timedelta(days=i), medium_id=f"m{i % 2 + 1}"))
    assert [r.status for r in runs] == ["completed"] * 4
    return lab, cfg, runs


def test_cleanup_deletes_nothing_of_a_source_when_the_catalog_misses_archive_files(tmp_path, capsys):
    lab, cfg, runs = _four_runs(tmp_path)
    day = DAY
    store = lab.store()
    # the first backup may go (A and new0 are on m2 too); the second then holds their last copy
    plan = retention.plan_cleanup(cfg, store, now=day + timedelta(days=11))
    assert [c.id for c in plan.delete] == [runs[0].backup_id]
    assert [g[0] for g in plan.guarded] == [runs[1].backup_id]
    # the catalog lost the first backup's archive files (a damaged state): the guard cannot judge
    # it, so the source's whole plan is refused, with the reason, and nothing is deleted
    store.execute("DELETE FROM versions WHERE first_backup=?", (runs[0].backup_id,))
    before = sorted(os.listdir(lab.media[0][1] / "loc"))
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "cleanup", "--now", (day + timedelta(days=11)).isoformat()]) == 0
    assert sorted(os.listdir(lab.media[0][1] / "loc")) == before
    assert "deleting no backup of loc" in capsys.readouterr().out
    main(["--config", str(lab.config_path), "run-due", "--now", (day + timedelta(days=11)).isoformat()])
    assert "deleting no backup of loc" in capsys.readouterr().out     # run-due's cleanup says it too
    assert sorted(os.listdir(lab.media[0][1] / "loc")) == before
    plan = retention.plan_cleanup(cfg, store, now=day + timedelta(days=11))
    assert plan.delete == [] and [s for s, _ in plan.refused] == ["loc"]
    assert "not in the catalog" in plan.refused[0][1] and runs[0].path.name in plan.refused[0][1]


def test_cleanup_deletes_nothing_of_a_source_when_a_copy_it_counts_on_is_not_on_its_medium(tmp_path, capsys):
    lab, cfg, runs = _four_runs(tmp_path)
    store = lab.store()
    # the second backup (m2) holds the other copies of A and new0; someone removed it by hand,
    # and the database still says it is there
    shutil.rmtree(runs[1].path)
    before = {m: sorted(os.listdir(p / "loc")) for m, p in lab.media}
    assert main(["--config", str(lab.config_path), "cleanup", "--now", (DAY + timedelta(days=11)).isoformat()]) == 0
    assert {m: sorted(os.listdir(p / "loc")) for m, p in lab.media} == before
    out = capsys.readouterr().out
    assert "deleting no backup of loc" in out and f"{runs[1].path.name} on m2 by the catalog, but not on" in out
    assert (runs[0].path / "data" / str(lab.src / "photos/A").lstrip("/")).is_file()


def test_an_interrupted_deletion_is_finished_in_the_catalog_too(tmp_path, capsys):
    lab, cfg, runs = _four_runs(tmp_path)
    store = lab.store()
    # a cleanup killed after renaming the first backup, before the database heard of it; the next
    # cleanup comes when nothing else is due
    gone = runs[0].path.with_name(retention.DELETING_PREFIX + runs[0].path.name)
    os.rename(runs[0].path, gone)
    assert main(["--config", str(lab.config_path), "cleanup", "--now", (DAY + timedelta(days=4)).isoformat()]) == 0
    assert f"deleting the remains of an interrupted deletion: {gone}" in capsys.readouterr().out
    assert not gone.exists()
    assert store.one("SELECT status FROM backups WHERE id=?", (runs[0].backup_id,))["status"] == "deleted"
    assert store.one("SELECT COUNT(*) AS n FROM versions WHERE first_backup=?", (runs[0].backup_id,))["n"] == 0
    # with the catalog true again, the next cleanup judges the rest: A and new0 are only on m2 now
    assert main(["--config", str(lab.config_path), "cleanup", "--now", (DAY + timedelta(days=11)).isoformat()]) == 0
    assert f"keeping {runs[1].path.name}: holds the only copy of 2 archive files" in capsys.readouterr().out
    assert runs[1].path.is_dir()


def test_a_copy_on_a_medium_taken_out_of_the_config_does_not_count(tmp_path):
    """A medium taken out of the configuration (lost, or put on a shelf) is never mounted, checked
    or asked for again: no restore that names no copy reads it. Its backups' copies of an archive
    file let retention delete the only copy on the media of the config; the file was then on no
    medium a restore reads."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    cfg = lab.load()
    write_files(lab.src / "photos", {"f": b"only here"})
    for n, medium in enumerate(("m1", "m2", "m1")):
        write_files(lab.src / "photos", {f"g{n}": b"g"})
        assert lab.backup(cfg, medium_id=medium, now=DAY + timedelta(days=n)).status == "completed"
    first = lab.store().one("SELECT id, name FROM backups WHERE medium='m1' ORDER BY id LIMIT 1")
    lab.media = lab.media[:1]       # m2 lost: taken out of the config
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    cfg = lab.load()
    plan = retention.plan_cleanup(cfg, lab.store(), now=DAY + timedelta(days=5))
    assert first["id"] not in {c.id for c in plan.delete}
    assert [why for bid, _, why in plan.guarded if bid == first["id"]] == [
        "holds the only copy of 2 archive files (no verified checkpoint holds them, nor a backup on another"
        " medium of the config)"]
