"""A backup dated years ahead (made under a clock that was ahead, or on another server's medium)
stays the newest by its date while the backups made after it, under a right clock, are dated
before it. Those later backups hold the source's newest state: cleanup's size cap must not take
them for the oldest. Real rsync over the tests' sshd, `run-due --now`."""
import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from rabtui.checkpoint import triggers
from rabtui.cli import main
from rabtui.media import medium_layout
from tests.trees import Lab, closed, made_once, ssh_source_lines, write_files


def _ssh_lab(tmp_path, sshd, retention: str = "") -> tuple[Lab, list[str]]:
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    data.mkdir()
    lab.write(ssh_source_lines(sshd) + 'schedule = "0 2 * * *"\n'
              + f'[[sources.directories]]\npath = "{data}"\n' + (f"[retention]\n{retention}\n" if retention else ""))
    lab.trust(sshd)
    return lab, ["--config", str(lab.config_path)]


def test_the_size_cap_keeps_the_backup_made_last_when_another_is_dated_years_ahead(tmp_path, sshd, capsys):
    lab, cfg = _ssh_lab(tmp_path, sshd, "max_size_mb = 0")       # the cap: every backup but the newest goes
    nights = ["2026-10-01T03:00", "2030-01-01T03:00", "2026-10-02T03:00", "2026-10-03T03:00"]   # one night ahead
    for night, when in enumerate(nights):
        write_files(lab.src / "data", {f"v{night}": b"night %d" % night})
        assert main([*cfg, "run-due", "--now", when]) == 0
        made = lab.store().one("SELECT name, path FROM backups ORDER BY id DESC LIMIT 1")
        copy = medium_layout.backup_data_path(made["path"], str(lab.src / "data"))
        # the backup just made holds the source as it is now: it stays, whatever the dates say
        assert (copy / f"v{night}").read_bytes() == b"night %d" % night, (made["name"], capsys.readouterr().out)


def _three_nights(lab: Lab, cfg: list[str]) -> None:
    """A file written anew each night; the second night's clock is years ahead, the third's right."""
    for night, when in enumerate(["2026-10-01T03:00", "2030-01-01T03:00", "2026-10-02T03:00"]):
        write_files(lab.src / "data", {"doc": b"night %d;" % night * (night + 1)})
        assert main([*cfg, "run-due", "--now", when]) == 0


@pytest.fixture(scope="module")
def _three_nights_made(tmp_path_factory, sshd):
    def make(live):
        lab, cfg = _ssh_lab(live, sshd)
        _three_nights(lab, cfg)
        closed(lab)

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def three_nights(_three_nights_made):
    """_ssh_lab after _three_nights, anew for each test (made once for the module), in lab.tmp."""
    _, made = _three_nights_made
    lab = Lab(made.anew(), media_count=1)
    return lab, ["--config", str(lab.config_path)]


def test_restore_and_diff_take_the_backup_made_last_not_the_one_dated_ahead(three_nights, tmp_path, capsys):
    lab, cfg = three_nights
    out = tmp_path / "out"
    assert main([*cfg, "restore", "web", str(lab.src / "data" / "doc"), "--to", str(out)]) == 0
    said = capsys.readouterr().out
    assert (out / str(lab.src / "data" / "doc").lstrip("/")).read_bytes() == b"night 2;" * 3, said
    assert main([*cfg, "diff", "web", "--json"]) == 0       # the last two made, in the order they were made
    data = json.loads(capsys.readouterr().out)
    assert (data["a"], data["b"]) == ("backup-20300101030000", "backup-20261002030000"), data


def test_a_checkpoint_takes_the_backup_made_last_not_the_one_dated_ahead(tmp_path, sshd, capsys):
    lab, cfg = _ssh_lab(tmp_path, sshd)
    lab.config_path.write_text(lab.config_path.read_text()
                               + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n')
    _three_nights(lab, cfg)
    assert main([*cfg, "checkpoint", "burn", "--yes", "--now"]) == 0, capsys.readouterr().out
    store = lab.store()
    taken = store.one("SELECT b.name FROM checkpoint_dirs c JOIN backups b ON b.id=c.backup_id")["name"]
    assert taken == "backup-20261002030000"
    sizes = {bytes(r["path"]).rsplit(b"/", 1)[-1]: r["size"] for r in store.all("SELECT path, size FROM disc_files")}
    assert sizes[b"doc"] == len(b"night 2;" * 3)


def test_the_link_base_is_the_backup_made_last_so_the_catalog_lists_only_backups_holding_a_file(tmp_path, sshd,
                                                                                                  capsys):
    """A file gone from the source for a night comes back unchanged (same size and mtime). The night
    after a backup dated ahead, the base of the backup that finds it back must be the one made the
    night before (which lacks it), not the one dated ahead: linked from that one, the catalog
    stretched its version over the night that did not hold it."""
    lab, cfg = _ssh_lab(tmp_path, sshd)
    data = lab.src / "data"
    write_files(data, {"keep": b"k", "f": b"the file"})
    os.utime(data / "f", (1_700_000_000, 1_700_000_000))
    for when in ("2026-10-01T03:00", "2030-01-01T03:00"):
        assert main([*cfg, "run-due", "--now", when]) == 0
    os.rename(data / "f", tmp_path / "f")                        # gone for a night
    assert main([*cfg, "run-due", "--now", "2026-10-02T03:00"]) == 0
    os.rename(tmp_path / "f", data / "f")                        # back, unchanged
    assert main([*cfg, "run-due", "--now", "2026-10-03T03:00"]) == 0
    capsys.readouterr()
    assert main([*cfg, "find", str(data / "f"), "--json"]) == 0     # "/f" matches a temporary path /x/f...
    held = [name for v in json.loads(capsys.readouterr().out) for loc in v["locations"] for name in loc["backups"]]
    on_medium = [name for name, path, _ in medium_layout.list_backups(lab.media[0][1], "web")
                 if (medium_layout.backup_data_path(path, str(data)) / "f").exists()]
    assert sorted(held) == sorted(on_medium) == ["backup-20261001030000", "backup-20261003030000",
                                                 "backup-20300101030000"], held


def test_a_checkpoint_dated_years_ahead_does_not_silence_max_days_for_years(tmp_path, sshd, capsys):
    """Discs written under a clock years ahead (or read back by rebuild-state from another server's)
    date the directories' last checkpoint in the future: their days since it stay negative, and a
    directory that changes little would get no checkpoint again for years. Judged due, the next
    checkpoint dates it right."""
    lab, cfg = _ssh_lab(tmp_path, sshd)
    lab.config_path.write_text(lab.config_path.read_text()
                               + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\nmax_days = 30\n')
    write_files(lab.src / "data", {"a": b"a"})
    assert main([*cfg, "run-due", "--now", "2026-10-01T03:00"]) == 0
    assert main([*cfg, "checkpoint", "burn", "--yes", "--now"]) == 0
    ahead = datetime(2030, 1, 1, 3).timestamp()               # as the clock said when the discs were written
    lab.store().execute("UPDATE dir_state SET last_checkpoint_time=?", (ahead,))
    lab.store().execute("UPDATE checkpoints SET created=?", (ahead,))
    capsys.readouterr()
    assert main([*cfg, "run-due", "--now", "2026-12-01T03:00"]) == 0        # 61 days on, by a right clock
    out = capsys.readouterr().out
    assert "checkpoint due: web:" in out and "in the future" in out, out
    assert main([*cfg, "checkpoint", "burn", "--yes"]) == 0                # the due directory, now
    assert triggers.due(lab.load(), lab.store()) == []


def _three_media(tmp_path, sshd) -> tuple[Lab, list[str]]:
    lab, cfg = _ssh_lab(tmp_path, sshd)
    lab.media.append(("m2", tmp_path / "medium2"))
    lab.media.append(("m3", tmp_path / "medium3"))
    for _, path in lab.media[1:]:
        path.mkdir()
    lab.config_path.write_text(lab.config_path.read_text() + "".join(
        f'\n[[media]]\nid = "{mid}"\npath = "{path}"\n' for mid, path in lab.media[1:]))
    return lab, cfg


def test_the_rotation_goes_on_after_a_medium_was_used_under_a_clock_years_ahead(tmp_path, sshd, capsys):
    """The rotation goes to the medium after the one used last. One used under a clock years ahead
    stayed "used last" for years, and every backup went to the medium after it, the others never."""
    lab, cfg = _three_media(tmp_path, sshd)
    write_files(lab.src / "data", {"a": b"a"})
    used = []
    for day in range(1, 7):
        assert main([*cfg, "run-due", "--now", f"2026-10-{day:02}T03:00"]) == 0
        used.append(lab.store().one("SELECT medium FROM backups ORDER BY id DESC LIMIT 1")["medium"])
        if day == 3:        # that night the clock was years ahead: the medium's use is dated so
            lab.store().execute("UPDATE media SET last_used=? WHERE id=?", (datetime(2030, 1, 1, 3).timestamp(), used[-1]))
    assert used == ["m1", "m2", "m3"] * 2, capsys.readouterr().out


def test_backups_made_under_a_clock_years_behind_are_kept_as_long_as_the_one_made_before_them(tmp_path, sshd,
                                                                                               capsys):
    """After a power cut the RTC said 2000 for three nights: their backups are dated 26 years back,
    but were made after the backup of the night before (whose age the retention periods keep). Once
    the clock is right, they are not "past the retention periods" while that one is kept."""
    lab, cfg = _ssh_lab(tmp_path, sshd)
    nights = ["2026-10-01T03:00", "2026-10-02T03:00", "2026-10-03T03:00",
              "2000-01-01T03:00", "2000-01-02T03:00", "2000-01-03T03:00", "2026-10-07T03:00", "2026-10-08T03:00"]
    for night, when in enumerate(nights):
        write_files(lab.src / "data", {"doc": b"night %d" % night})
        assert main([*cfg, "run-due", "--now", when]) == 0
    kept = [r["name"] for r in lab.store().all("SELECT name FROM backups WHERE status='completed' ORDER BY id")]
    assert len(kept) == 8, (kept, capsys.readouterr().out)
    for day in range(27, 31):     # weeks on, four nights of backups (before, retention judges a week after Oct 8)
        assert main([*cfg, "run-due", "--now", f"2026-12-{day}T03:00"]) == 0    # one a week is kept
    kept = [r["name"] for r in lab.store().all("SELECT name FROM backups WHERE status='completed' ORDER BY id")]
    assert kept[:4] == ["backup-20261003030000", "backup-20000101030000", "backup-20000102030000",
                        "backup-20000103030000"], (kept, capsys.readouterr().out)


def test_check_under_a_clock_years_behind_says_so_not_never_backed_up(tmp_path, sshd, capsys):
    lab, cfg = _ssh_lab(tmp_path, sshd)
    write_files(lab.src / "data", {"a": b"a"})
    assert main([*cfg, "run-due", "--now", "2026-10-01T03:00"]) == 0
    capsys.readouterr()
    prom = tmp_path / "rabtui.prom"
    assert main([*cfg, "check", "--now", "2000-01-01T03:00", "--prometheus", str(prom)]) == 2   # the RTC lost its time
    said = capsys.readouterr().out
    assert "is the clock behind now" in said and "never backed up" not in said, said
    assert 'rabtui_check_status{check="stale:web"}' not in prom.read_text()      # no RabtuiNeverBackedUp



def test_now_with_a_utc_offset_is_that_instant_in_local_time(tmp_path, sshd, capsys):
    """`--now` with an offset (as `date --iso-8601=minutes` prints it) names an instant: run-due,
    check and cleanup take it in local time, as every time rabtui keeps, not a traceback."""
    lab, cfg = _ssh_lab(tmp_path, sshd)
    write_files(lab.src / "data", {"a": b"a"})
    when = "2026-10-01T03:00+05:30"
    local = datetime.fromisoformat(when).astimezone().replace(tzinfo=None)
    assert main([*cfg, "run-due", "--now", when]) == 0
    assert lab.store().one("SELECT name FROM backups")["name"] == medium_layout.backup_name(local)
    capsys.readouterr()
    main([*cfg, "check", "--now", "2026-10-01T09:00+05:30"])      # its exit: the worst problem, whichever
    assert "checkpoint due for web:" in capsys.readouterr().out
    assert main([*cfg, "cleanup", "--now", "2026-10-01T09:00+05:30"]) == 0


def test_a_killed_run_made_after_a_backup_dated_ahead_is_undone_when_its_medium_is_back(tmp_path, sshd):
    """A run killed in step 7 (archive links written) whose medium is away at the next run (of an
    earlier rabtui, which marked it abandoned) is undone once that medium is back, when no complete backup was made after it there. Dated before the
    medium's newest backup by a clock that was ahead for that one, it was left, its links in the
    union showing files the catalog does not know."""
    from tests.test_kill_anywhere import _check_after, _copy, _files, _killed_then_away, rabtui

    lab = Lab(tmp_path, media_count=2)
    for rel in ("data", "arch"):
        (lab.src / rel).mkdir()
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{lab.src / "data"}"\n'
                    f'[[sources.directories]]\npath = "{lab.src / "arch"}"\nkind = "archive"\n')
    lab.trust(sshd)
    _files(lab.src / "data", {"a": b"a1"})
    _files(lab.src / "arch", {"x": b"x1"})
    assert rabtui(lab, "backup", "web", "--medium", "m1").returncode == 0
    store = lab.store()
    b1 = store.one("SELECT * FROM backups")                     # as the clock, years ahead, dated it:
    ahead = Path(b1["path"]).with_name("backup-20300101030000")
    os.rename(b1["path"], ahead)
    info = json.loads((ahead / "backup.json").read_text())
    (ahead / "backup.json").write_text(json.dumps({**info, "name": ahead.name, "started": "2030-01-01T03:00:00"}))
    store.execute("UPDATE backups SET name=?, path=?, started=? WHERE id=?",
                  (ahead.name, str(ahead), datetime(2030, 1, 1, 3).timestamp(), b1["id"]))
    copies = {b1["id"]: _copy(lab, cfg)}
    _files(lab.src / "arch", {"x": b"x2" * 10, "y": b"y2"})
    killed = _killed_then_away(lab, cfg, "web", copies, earlier=True)
    os.unlink(lab.src / "arch" / "x")           # gone from the source: the union shows the one saved before
    back = rabtui(lab, "backup", "web", "--medium", "m1")
    out = back.stdout + back.stderr
    assert back.returncode == 0, out
    assert f"found the interrupted backup {killed['name']} on medium m1, now mounted: 2 archive link(s) undone" in out
    copies[store.one("SELECT id FROM backups ORDER BY id DESC LIMIT 1")["id"]] = _copy(lab, cfg)
    _check_after(lab, cfg, copies, killed)


def test_after_rebuild_state_the_backup_made_last_is_still_the_newest(three_nights, tmp_path, capsys):
    """rebuild-state gives ids in the order the backups were made, as their records tell (each names
    its link base), not in the order of their names: numbered by name, the backup dated ahead became
    the one made last, and restore read it, the next backup linked from it and the size cap deleted
    the backup that holds the source's newest state."""
    lab, cfg = three_nights
    lab.lose_database()
    assert main([*cfg, "rebuild-state"]) in (0, 3), capsys.readouterr().out
    made = [r["name"] for r in lab.store().all("SELECT name FROM backups ORDER BY id")]
    assert made == ["backup-20261001030000", "backup-20300101030000", "backup-20261002030000"], made
    out = tmp_path / "out"
    assert main([*cfg, "restore", "web", str(lab.src / "data" / "doc"), "--to", str(out)]) == 0
    assert (out / str(lab.src / "data" / "doc").lstrip("/")).read_bytes() == b"night 2;" * 3
    lab.config_path.write_text(lab.config_path.read_text() + "\n[retention]\nmax_size_mb = 0\n")
    assert main([*cfg, "cleanup", "--now", "2026-10-02T04:00"]) == 0
    kept = [r["name"] for r in lab.store().all("SELECT name FROM backups WHERE status='completed'")]
    assert "backup-20261002030000" in kept, (kept, capsys.readouterr().out)


def test_the_size_cap_deletes_the_backups_made_first_when_later_ones_are_dated_years_behind(tmp_path, sshd, capsys):
    """After a power cut the RTC said 2000 for two nights. Over its cap, a source loses its oldest
    backups first: those made first, not the two just made, which its dates put first."""
    lab, cfg = _ssh_lab(tmp_path, sshd)
    nights = ["2026-10-01T03:00", "2026-10-02T03:00", "2026-10-03T03:00", "2000-01-01T03:00", "2000-01-02T03:00"]
    for when in nights:
        write_files(lab.src / "data", {"doc": 1024 * 1024})          # 1 MiB of its own each night
        assert main([*cfg, "run-due", "--now", when]) == 0
    lab.config_path.write_text(lab.config_path.read_text() + "\n[retention]\nmax_size_mb = 3\n")
    assert main([*cfg, "cleanup", "--now", "2026-10-03T04:00"]) == 0
    kept = [r["name"] for r in lab.store().all("SELECT name FROM backups WHERE status='completed' ORDER BY id")]
    assert kept == ["backup-20261003030000", "backup-20000101030000", "backup-20000102030000"], \
        (kept, capsys.readouterr().out)


def test_restore_takes_the_backup_made_last_on_another_medium_than_the_one_dated_ahead(tmp_path, sshd, capsys):
    """The night the clock was years ahead, the backup went to m2, which then went away (offsite)
    while the next backups went to m1. Back, m2's backup is still the newest by its date, and the
    last on m2: the restore took the source as it was that night for its newest state."""
    lab, cfg = _ssh_lab(tmp_path, sshd)
    lab.media.append(("m2", tmp_path / "medium2"))
    lab.media[1][1].mkdir()
    lab.config_path.write_text(lab.config_path.read_text() + f'\n[[media]]\nid = "m2"\npath = "{lab.media[1][1]}"\n')
    for night, when in enumerate(["2026-10-01T03:00", "2030-01-01T03:00"]):
        write_files(lab.src / "data", {"doc": b"night %d;" % night})
        assert main([*cfg, "run-due", "--now", when]) == 0, capsys.readouterr()
    away = tmp_path / "offsite"
    os.rename(lab.media[1][1], away)
    write_files(lab.src / "data", {"doc": b"made last"})
    assert main([*cfg, "backup", "web", "--medium", "m1"]) == 0           # the clock right again
    os.rename(away, lab.media[1][1])
    media = [r["medium"] for r in lab.store().all("SELECT medium FROM backups ORDER BY id")]
    assert media == ["m1", "m2", "m1"], media
    out = tmp_path / "out"
    assert main([*cfg, "restore", "web", str(lab.src / "data" / "doc"), "--to", str(out)]) == 0
    assert (out / str(lab.src / "data" / "doc").lstrip("/")).read_bytes() == b"made last", capsys.readouterr()


def _status(cfg: list[str], capsys) -> dict:
    capsys.readouterr()
    assert main([*cfg, "status", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["sources"][0]


def test_status_and_check_show_the_run_made_last_not_the_one_dated_ahead(tmp_path, sshd, capsys):
    """The last backup `status`, the dashboard and `check` show is the one made last: the one dated
    ahead stayed "the last backup" for years, and a run that failed after it went unseen."""
    lab, cfg = _ssh_lab(tmp_path, sshd)
    for night, when in enumerate(["2026-10-01T03:00", "2099-01-01T03:00", "2026-10-02T03:00"]):
        write_files(lab.src / "data", {"doc": b"night %d" % night})
        assert main([*cfg, "run-due", "--now", when]) == 0
    src = _status(cfg, capsys)
    assert src["last"]["name"] == src["last_complete"]["name"] == "backup-20261002030000", src
    os.rename(lab.src / "data", tmp_path / "data-away")         # the next run fails: its directory is missing
    assert main([*cfg, "run-due", "--now", "2026-10-03T03:00"]) != 0
    src = _status(cfg, capsys)
    assert (src["last"]["name"], src["last"]["status"]) == ("backup-20261003030000", "failed"), src
    assert src["last_complete"]["name"] == "backup-20261002030000", src
    prom = tmp_path / "rabtui.prom"
    main([*cfg, "check", "--now", "2026-10-03T04:00", "--prometheus", str(prom)])
    said, text = capsys.readouterr().out, prom.read_text()
    assert "source web: last run backup-20261003030000 failed" in said, said
    assert "backup backup-20990101030000 is dated" in said, said     # and the clock is said
    assert 'rabtui_check_status{check="failed:web"} 1' in text, text
    newest = datetime(2026, 10, 2, 3).timestamp()
    assert f'rabtui_last_backup_timestamp_seconds{{source="web"}} {newest:.0f}' in text, text


def test_status_says_the_backup_made_last_is_dated_ahead(tmp_path, sshd, capsys):
    """Last night's clock was years ahead, and is right again: the last backup is that night's,
    dated ahead, not "0 s ago"."""
    lab, cfg = _ssh_lab(tmp_path, sshd)
    write_files(lab.src / "data", {"doc": b"doc"})
    for when in ("2026-10-01T03:00", "2099-01-01T03:00"):
        assert main([*cfg, "run-due", "--now", when]) == 0
    src = _status(cfg, capsys)
    assert src["last"]["name"] == "backup-20990101030000" and src["last"]["age"].startswith("dated "), src
    assert src["last"]["age"].endswith(" d ahead"), src
    assert main([*cfg, "status"]) == 0
    assert "completed dated " in capsys.readouterr().out


def test_a_directory_emptied_after_a_backup_dated_ahead_is_judged_by_the_backup_made_last(tmp_path, sshd, capsys):
    """The first backup, made under a clock years ahead, found the directory empty (its file system
    not there yet). Once the directory held files, emptied again (a file system not mounted) the
    backup fails as it should: judged by the backup dated ahead, "its last backup held 0 files"."""
    lab, cfg = _ssh_lab(tmp_path, sshd)
    assert main([*cfg, "run-due", "--now", "2099-01-01T03:00"]) == 0
    write_files(lab.src / "data", {"doc": b"doc"})
    assert main([*cfg, "run-due", "--now", "2026-10-02T03:00"]) == 0
    os.unlink(lab.src / "data" / "doc")
    capsys.readouterr()
    assert main([*cfg, "run-due", "--now", "2026-10-03T03:00"]) == 1
    assert "but its last backup held 1 file" in capsys.readouterr().out


def test_after_rebuild_state_the_rotation_goes_on_after_the_medium_used_last_not_the_one_dated_ahead(
        tmp_path, sshd, capsys):
    """rebuild-state dates each medium's last use by the backup made last on it, as made: by its
    dates, the medium of the backup dated ahead was the one used last, and the next backup went to
    the medium after it, not to the one after the medium used last."""
    lab, cfg = _three_media(tmp_path, sshd)
    write_files(lab.src / "data", {"a": b"a"})
    for when in ("2026-10-01T03:00", "2099-01-01T03:00", "2026-10-02T03:00", "2026-10-03T03:00"):
        assert main([*cfg, "run-due", "--now", when]) == 0
    assert [r["medium"] for r in lab.store().all("SELECT medium FROM backups ORDER BY id")] == ["m1", "m2", "m3", "m1"]
    assert main([*cfg, "rebuild-state"]) in (0, 3), capsys.readouterr().out
    assert main([*cfg, "run-due", "--now", "2026-10-04T03:00"]) == 0
    assert lab.store().one("SELECT medium FROM backups ORDER BY id DESC LIMIT 1")["medium"] == "m2"


def test_after_rebuild_state_the_schedule_goes_on_from_the_newest_backup_not_dated_ahead(tmp_path, sshd, capsys):
    """rebuild-state marks a scheduled source as run for the slot of its newest backup not dated
    ahead: marked for the slot of one dated years ahead (a mark that does not count), run-due after
    the rebuild backed it up at once, though that night's backup was made."""
    lab, cfg = _ssh_lab(tmp_path, sshd)
    write_files(lab.src / "data", {"a": b"a"})
    for when in ("2026-10-01T03:00", "2099-01-01T03:00", "2026-10-02T03:00"):
        assert main([*cfg, "run-due", "--now", when]) == 0
    assert main([*cfg, "rebuild-state"]) in (0, 3), capsys.readouterr().out
    assert main([*cfg, "run-due", "--now", "2026-10-02T05:00"]) == 0      # that night's backup is made
    assert lab.store().one("SELECT COUNT(*) AS n FROM backups")["n"] == 3, capsys.readouterr().out


def test_a_checkpoint_of_the_backup_made_last_covers_the_changes_of_the_one_dated_ahead(tmp_path, sshd, capsys):
    """A checkpoint taken from the backup made last covers what every backup made before it wrote,
    the one dated ahead included: judged by their dates, that one's changes stayed "since the last
    checkpoint", and the changed-files trigger counted them for years."""
    lab, cfg = _ssh_lab(tmp_path, sshd)
    lab.config_path.write_text(lab.config_path.read_text()
                               + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n')
    for night, when in enumerate(["2026-10-01T03:00", "2099-01-01T03:00", "2026-10-02T03:00"]):
        write_files(lab.src / "data", {"doc": b"night %d;" % night * (night + 1)})    # a version each night
        assert main([*cfg, "run-due", "--now", when]) == 0
    assert main([*cfg, "checkpoint", "burn", "--yes", "--now"]) == 0, capsys.readouterr().out
    capsys.readouterr()
    assert main([*cfg, "status", "--json"]) == 0
    counters = json.loads(capsys.readouterr().out)["checkpoint_counters"]
    assert [c["changed_since_checkpoint"] for c in counters] == [0], counters


def test_a_backup_dated_behind_the_last_checkpoint_counts_its_changes(tmp_path, sshd, capsys):
    """After a power cut the RTC said 2000: the backup made after the last checkpoint, dated before
    its content backup, wrote new versions. They are changes since that checkpoint: judged by the
    dates, that backup was taken for one the checkpoint covers, and the trigger never counted them."""
    lab, cfg = _ssh_lab(tmp_path, sshd)
    lab.config_path.write_text(lab.config_path.read_text()
                               + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n')
    write_files(lab.src / "data", {"doc": b"before"})
    assert main([*cfg, "run-due", "--now", "2026-10-01T03:00"]) == 0
    assert main([*cfg, "checkpoint", "burn", "--yes", "--now"]) == 0, capsys.readouterr().out
    write_files(lab.src / "data", {"doc": b"after the checkpoint", "new": b"new"})
    assert main([*cfg, "run-due", "--now", "2000-01-01T03:00"]) == 0
    capsys.readouterr()
    assert main([*cfg, "status", "--json"]) == 0
    counters = json.loads(capsys.readouterr().out)["checkpoint_counters"]
    assert [c["changed_since_checkpoint"] for c in counters] == [2], counters
