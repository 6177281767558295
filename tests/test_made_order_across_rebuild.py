"""The order backups were made in, on a medium, across `rebuild-state`: a medium of the rotation
away (offsite) while the database is rebuilt holds backups whose ids the new database never saw.
The backups made onto it once it is back still come after them: a killed run there is undone
against the backups made before it, whatever ids the database gave since. Real rsync over the
tests' sshd."""
import json
import os

from rabtui.media import medium_layout
from tests.test_kill_anywhere import _files, _killed, rabtui
from tests.trees import Lab, next_second, ssh_source_lines


def _lab(tmp_path, sshd) -> Lab:
    lab = Lab(tmp_path, media_count=2)
    for rel in ("data", "arch"):
        (lab.src / rel).mkdir()
    lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{lab.src / "data"}"\n'
              f'[[sources.directories]]\npath = "{lab.src / "arch"}"\nkind = "archive"\n')
    lab.trust(sshd)
    return lab


def _ok(lab: Lab, *args: str) -> str:
    done = rabtui(lab, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _ids(medium) -> dict[str, int]:
    return {name: info["backup_id"] for name, _, info in medium_layout.list_backups(medium, "web")}


def test_a_killed_run_on_a_medium_away_during_rebuild_state_is_undone_against_the_backups_made_before_it(
        tmp_path, sshd):
    lab = _lab(tmp_path, sshd)
    (m1, _), (m2, m2_path) = lab.media
    _files(lab.src / "data", {"a": b"a1"})
    _files(lab.src / "arch", {"x": b"x1"})
    _ok(lab, "backup", "web", "--medium", m1)
    for _ in range(3):                                # m2 holds the source's newest backups, ids 2 to 4
        _ok(lab, "backup", "web", "--medium", m2)
    union = medium_layout.archive_root(m2_path, "web", str(lab.src / "arch"))
    assert (union / "x").read_bytes() == b"x1"
    before = _ids(m2_path)

    away = tmp_path / "offsite"
    os.rename(m2_path, away)                          # offsite while the database is rebuilt
    done = rabtui(lab, "rebuild-state")
    assert done.returncode == 3 and f"medium m2: no labelled medium at {m2_path}" in done.stdout, done.stdout
    os.rename(away, m2_path)                          # back in the rotation

    _files(lab.src / "arch", {"x": b"x2" * 10})
    _killed(rabtui(lab, "backup", "web", "--medium", m2, point="backup.archive_linked"))
    killed = [name for name in _ids(m2_path) if name not in before]
    assert len(killed) == 1 and (union / "x").read_bytes() == b"x2" * 10
    # every backup on the medium carries an id above those of the backups made before it there
    ids = _ids(m2_path)
    assert ids[killed[0]] > max(before.values()), (ids, before)

    os.unlink(lab.src / "arch" / "x")                 # gone from the source: the union shows the one saved before
    out = _ok(lab, "backup", "web", "--medium", m2)
    assert f"found an interrupted backup of web ({killed[0]}" in out, out
    assert (union / "x").read_bytes() == b"x1", out
    made = list(_ids(m2_path).values())
    assert made == sorted(made) and len(set(made)) == len(made), _ids(m2_path)
    recorded = json.loads((m2_path / "web" / max(_ids(m2_path), key=_ids(m2_path).get) / "backup.json").read_text())
    assert recorded["status"] == "completed"


def test_ids_after_rebuild_state_go_on_above_those_the_replaced_database_gave(tmp_path, sshd):
    """rebuild-state with a medium offsite numbers the backups after it above every id the database
    it replaces gave, not only above those of the media it read: else a backup onto another medium
    took the id of one offsite, the next rebuild gave the older one its id back and the newer one an
    id above every backup made after it, and a restore took that backup's state for the newest."""
    lab = _lab(tmp_path, sshd)
    (m1, _), (m2, m2_path) = lab.media
    _files(lab.src / "arch", {"x": b"x1"})
    for night, medium in enumerate([m1, m2, m2, m2]):        # ids 1 to 4
        _files(lab.src / "data", {"doc": b"night %d" % night})
        _ok(lab, "backup", "web", "--medium", medium)
    away = tmp_path / "offsite"
    os.rename(m2_path, away)
    assert rabtui(lab, "rebuild-state").returncode == 3
    _files(lab.src / "data", {"doc": b"onto m1 after the rebuild"})
    _ok(lab, "backup", "web", "--medium", m1)
    os.rename(away, m2_path)
    _files(lab.src / "data", {"doc": b"made last"})
    _ok(lab, "backup", "web", "--medium", m2)
    out = _ok(lab, "rebuild-state")
    assert "renumbered" not in out, out
    restored = tmp_path / "out"
    _ok(lab, "restore", "web", str(lab.src / "data" / "doc"), "--to", str(restored))
    assert (restored / str(lab.src / "data" / "doc").lstrip("/")).read_bytes() == b"made last"


def test_a_backup_json_with_an_id_out_of_reach_stops_no_backup(tmp_path):
    """A backup.json edited by hand to an id next to the largest SQLite holds: the backups after it are
    numbered as the database goes on, not above it (there is no id above it)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    (lab.src / "data" / "f").write_bytes(b"f")
    assert lab.backup(cfg).status == "completed"
    (_, path, info), = medium_layout.list_backups(lab.media[0][1], "loc")
    (path / "backup.json").write_text(json.dumps({**info, "backup_id": 2 ** 63 - 2}))
    for _ in range(2):
        res = lab.backup(cfg)
        assert res.status == "completed", res.reason


def test_backups_renumbered_by_rebuild_state_on_two_media_keep_the_order_they_were_made_in(tmp_path):
    """A state database made anew after the old one was lost, a backup onto m2 then one onto m1
    before rebuild-state: both clash with ids of the old database's backups (on m1 and m3) and are
    numbered anew, the one made last above the other, whatever the order of their media. m1's was
    numbered first, below m2's, and a restore brought m2's older version."""
    lab = Lab(tmp_path, media_count=3)
    lab.local()
    doc = lab.src / "data" / "doc"
    for night, medium in enumerate(["m1", "m3", "m3", "m3"]):      # ids 1 to 4
        _files(lab.src / "data", {"doc": b"night %d" % night})
        _ok(lab, "backup", "loc", "--medium", medium)
    for path in lab.state.glob("rabtui.db*"):                       # lost: made anew by the next run
        os.unlink(path)
    _files(lab.src / "data", {"doc": b"onto m2"})
    _ok(lab, "backup", "loc", "--medium", "m2")                      # id 1 again
    next_second()                                                   # started a second later
    _files(lab.src / "data", {"doc": b"onto m1, made last"})
    _ok(lab, "backup", "loc", "--medium", "m1")                      # id 2 (above m1's 1), m3's 2
    assert rabtui(lab, "rebuild-state").returncode == 0
    restored = tmp_path / "out"
    _ok(lab, "restore", "loc", str(doc), "--to", str(restored))
    assert (restored / str(doc).lstrip("/")).read_bytes() == b"onto m1, made last"


def test_a_backup_made_after_one_rebuild_state_numbers_anew_is_numbered_above_it(tmp_path):
    """A state database made anew, a backup onto m2 (id 1 again: it clashes with m1's first) then one
    onto m1 (id 4, above m1's: no clash): the one onto m2 is numbered anew, above every id, and the
    one made after it goes above it too. It kept 4, below m2's 5, and a restore brought m2's older
    version."""
    lab = Lab(tmp_path, media_count=2)
    lab.local()
    doc = lab.src / "data" / "doc"
    for night in range(3):                                          # ids 1 to 3 on m1
        _files(lab.src / "data", {"doc": b"night %d" % night})
        _ok(lab, "backup", "loc", "--medium", "m1")
    for path in lab.state.glob("rabtui.db*"):
        os.unlink(path)
    _files(lab.src / "data", {"doc": b"onto m2"})
    _ok(lab, "backup", "loc", "--medium", "m2")
    next_second()
    _files(lab.src / "data", {"doc": b"onto m1, made last"})
    _ok(lab, "backup", "loc", "--medium", "m1")
    assert rabtui(lab, "rebuild-state").returncode == 0
    restored = tmp_path / "out"
    _ok(lab, "restore", "loc", str(doc), "--to", str(restored))
    assert (restored / str(doc).lstrip("/")).read_bytes() == b"onto m1, made last"


def test_a_killed_run_after_a_backup_rebuild_state_renumbers_gives_the_union_back_its_version(tmp_path, sshd):
    """A state database made anew, a backup onto m1 (id 1 again: it clashes with m2's first), then a
    run onto m1 killed once it linked its new version of x into the union (id 2). rebuild-state
    numbers the complete backup anew, above every id, and the killed run after it too: undoing the
    run gives the union that backup's x back, and a checkpoint from the union holds it. The killed
    run kept 2, was taken for made before the backup, and the union lost x."""
    from tests import invariants
    from tests.trees import burn_due

    lab = _lab(tmp_path, sshd)
    lab.config_path.write_text(lab.config_path.read_text()
                               + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    cfg = lab.load()
    (m1, m1_path), (m2, m2_path) = lab.media
    _files(lab.src / "data", {"a": b"a1"})
    _files(lab.src / "arch", {"x": b"x0"})
    _ok(lab, "backup", "web", "--medium", m2)                      # id 1
    for path in lab.state.glob("rabtui.db*"):                       # lost: made anew by the next run
        os.unlink(path)
    _files(lab.src / "arch", {"x": b"x1" * 10})
    _ok(lab, "backup", "web", "--medium", m1)                      # id 1 again
    _files(lab.src / "arch", {"x": b"x2" * 20})
    _killed(rabtui(lab, "backup", "web", "--medium", m1, point="backup.archive_linked"))     # id 2
    union = medium_layout.archive_root(m1_path, "web", str(lab.src / "arch"))
    assert (union / "x").read_bytes() == b"x2" * 20

    _ok(lab, "rebuild-state")
    ids = _ids(m1_path)
    assert list(ids.values()) == sorted(ids.values()) and ids[min(ids)] > _ids(m2_path)[min(_ids(m2_path))], ids
    assert (union / "x").read_bytes() == b"x1" * 10
    store = lab.store()
    invariants.check_catalog_is_media(cfg, store)
    away = tmp_path / "m2-away"
    os.rename(m2_path, away)                                        # the checkpoint reads m1's union
    number = burn_due(cfg, store, asked={"*"})
    os.rename(away, m2_path)
    burned = {bytes(r["path"]): r["size"] for r in store.all("SELECT path, size FROM disc_files WHERE number=?",
                                                             (number,))}
    assert burned.get(os.fsencode(str(lab.src / "arch" / "x").lstrip("/"))) == 20, burned
