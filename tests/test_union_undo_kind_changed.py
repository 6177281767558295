"""A run killed after it linked new files into an archive directory's union, the directory made
standard before the run was undone: the undoing looked only at the config's archive directories,
so the run's links stayed in the union, standing for files no backup the catalog knows saved
there. Made an archive directory again, the next backup left those files out (the union had
them); once the standard backups that held them went and the union was released, the files were
gone from the medium. The run is undone in the unions of the directories it ran as archive ones.
Real backups (rsync), the kill a real SIGKILL at the fault point."""

from __future__ import annotations

import json
import os

import pytest

from rabtui.media import medium_layout
from tests.test_kill_anywhere import _files, rabtui
from tests.trees import Lab, closed, made_once


def _killed_linking(tmp_path, media_count: int = 1, medium: str = "m1") -> tuple[Lab, object]:
    lab = Lab(tmp_path, media_count=media_count)
    lab.local([("arch", "archive"), ("data", "standard")])
    _files(lab.src / "arch", {"x": b"x1"})
    _files(lab.src / "data", {"d": b"d"})
    assert lab.backup(lab.load(), medium_id=medium).status == "completed"
    _files(lab.src / "arch", {"y": b"y only here", "z": b"z1"})
    assert rabtui(lab, "backup", "loc", "--medium", medium, point="union.linked").returncode == -9
    union = medium_layout.archive_root(dict(lab.media)[medium], "loc", str(lab.src / "arch"))
    assert len(os.listdir(union)) > 1      # x, and what the run linked before it was killed
    return lab, union


@pytest.fixture(scope="module")
def _killed_linking_made(tmp_path_factory):
    def make(live):
        lab, union = _killed_linking(live)
        closed(lab)
        return union

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def killed_linking(_killed_linking_made):
    """What _killed_linking makes on m1 (lab, the union), anew for each test (made once for the
    module), in lab.tmp."""
    union, made = _killed_linking_made
    return Lab(made.anew(), media_count=1), union


def _archive_again_saves_them(lab: Lab, union, medium: str) -> None:
    assert sorted(os.listdir(union)) == ["x"]
    lab.local([("arch", "archive"), ("data", "standard")])
    result = lab.backup(lab.load(), medium_id=medium)
    assert result.status == "completed"
    newest = lab.store().one("SELECT path FROM backups WHERE status='completed' ORDER BY id DESC")["path"]
    saved = medium_layout.backup_data_path(newest, str(lab.src / "arch"))
    assert sorted(os.listdir(saved)) == ["y", "z"]
    assert (saved / "y").read_bytes() == b"y only here"


def test_a_run_undone_after_its_directory_was_made_standard(killed_linking):
    lab, union = killed_linking
    lab.local([("arch", "standard"), ("data", "standard")])
    assert lab.backup(lab.load()).status == "completed"     # its recovery undoes the killed run
    _archive_again_saves_them(lab, union, "m1")


@pytest.mark.parametrize("kind", ["standard", None])
def test_a_run_undone_once_its_medium_is_back(tmp_path, kind):
    """Its medium taken out of the config (the run marked abandoned, nothing there touched), the
    directory made standard (or taken out of the source) meanwhile: back in the config, the
    medium's next backup undoes the run in that directory's union too."""
    lab, union = _killed_linking(tmp_path, media_count=2, medium="m2")
    both = lab.media
    lab.media = both[:1]
    lab.local([("arch", "archive"), ("data", "standard")])
    assert lab.backup(lab.load(), medium_id="m1").status == "completed"
    lab.media = both
    lab.local([("arch", kind), ("data", "standard")] if kind else [("data", "standard")])
    assert lab.backup(lab.load(), medium_id="m2").status == "completed"
    _archive_again_saves_them(lab, union, "m2")


@pytest.mark.parametrize("kind", ["standard", None])
def test_rebuild_state_undoes_a_run_whose_directory_was_made_standard(killed_linking, kind):
    """The database lost as well: rebuild-state undid the killed run (its backup.json lists no
    directories yet) in the unions of the config's archive directories only, and its links stayed.
    Taken out of the source, the directory is named by the record of the backup before it."""
    lab, union = killed_linking
    lab.lose_database()
    lab.local([("arch", kind), ("data", "standard")] if kind else [("data", "standard")])
    done = rabtui(lab, "rebuild-state")
    assert done.returncode == 0 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    _archive_again_saves_them(lab, union, "m1")


def test_rebuild_state_undoes_nothing_through_a_symlink_planted_as_the_union(killed_linking, tmp_path):
    """The union of the directory made standard replaced by a symlink to a directory elsewhere:
    nothing there is removed through it, and rebuild-state says so."""
    lab, union = killed_linking
    lab.lose_database()
    lab.local([("arch", "standard"), ("data", "standard")])
    aside = tmp_path / "elsewhere"
    os.rename(union, aside)
    os.symlink(aside, union)
    held = sorted(os.listdir(aside))
    done = rabtui(lab, "rebuild-state")
    out = done.stdout + done.stderr
    assert sorted(os.listdir(aside)) == held
    assert "Traceback" not in out and f"{union} is a symlink" in out, out


def test_rebuild_state_leaves_the_union_of_a_directory_the_run_saved_as_standard(tmp_path):
    """The killed run (no directories in its backup.json) saved `arch`, made standard after its
    archive backup, as a standard one: its files there are its base's, none its own links. Undone
    there, the files the standard backups alone saved would have come into that union."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("arch", "archive"), ("data", "archive")])
    _files(lab.src / "arch", {"x": b"x1"})
    _files(lab.src / "data", {"d": b"d"})
    assert lab.backup(lab.load(), medium_id="m1").status == "completed"
    lab.local([("arch", "standard"), ("data", "archive")])
    _files(lab.src / "arch", {"w": b"w standard"})
    assert lab.backup(lab.load(), medium_id="m1").status == "completed"
    _files(lab.src / "data", {"e": b"e new"})
    assert rabtui(lab, "backup", "loc", "--medium", "m1", point="union.linked").returncode == -9
    media = dict(lab.media)
    union = medium_layout.archive_root(media["m1"], "loc", str(lab.src / "arch"))
    lab.lose_database()
    done = rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(os.listdir(union)) == ["x"]
    assert sorted(os.listdir(medium_layout.archive_root(media["m1"], "loc", str(lab.src / "data")))) == ["d"]


def test_rebuild_state_undoes_a_run_whose_record_names_no_kind_it_can_read(killed_linking):
    """The killed run's backup.json edited by hand to name its directories with a kind that is
    none: a directory so named is looked at as if the record named none."""
    lab, union = killed_linking
    lab.lose_database()
    running = [p for _, p, info in medium_layout.list_backups(lab.media[0][1], "loc") if info["status"] == "running"]
    info = json.loads((running[0] / "backup.json").read_text())
    info["directories"] = [{"path": str(lab.src / "arch"), "kind": "archival"},
                           {"path": str(lab.src / "data"), "kind": "standard"}]
    (running[0] / "backup.json").write_text(json.dumps(info))
    lab.local([("arch", "standard"), ("data", "standard")])
    done = rabtui(lab, "rebuild-state")
    assert "Traceback" not in done.stdout + done.stderr and "archival" in done.stdout, done.stdout + done.stderr
    _archive_again_saves_them(lab, union, "m1")


def test_rebuild_state_killed_as_it_undid_the_run_looks_again(tmp_path):
    """rebuild-state killed once it undid the run's only link of its own (its file p gave its
    place to the run's directory p/q): the next rebuild found no file of the run's own in the union
    any more, and left it without p (an empty directory in its place), for good. The directories
    a rebuild undoes a run in are recorded in the run's backup.json before it undoes anything."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("arch", "archive"), ("data", "standard")])
    _files(lab.src / "arch", {"x": b"x1", "p": b"p, a file"})
    _files(lab.src / "data", {"d": b"d"})
    assert lab.backup(lab.load(), medium_id="m1").status == "completed"
    (lab.src / "arch" / "p").unlink()
    _files(lab.src / "arch", {"p/q": b"q"})
    assert rabtui(lab, "backup", "loc", "--medium", "m1", point="union.linked").returncode == -9
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    assert (union / "p" / "q").is_file()
    lab.local([("arch", "standard"), ("data", "standard")])
    lab.lose_database()
    assert rabtui(lab, "rebuild-state", point="union.undoing").returncode == -9
    done = rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(os.listdir(union)) == ["p", "x"] and (union / "p").read_bytes() == b"p, a file"


def test_rebuild_state_undoes_a_run_whose_record_lists_no_directories_it_can_read(killed_linking):
    """The killed run's backup.json edited to hold a number where its directories are: taken as a
    record naming none, never a traceback."""
    lab, union = killed_linking
    lab.lose_database()
    running = [p for _, p, info in medium_layout.list_backups(lab.media[0][1], "loc") if info["status"] == "running"]
    info = json.loads((running[0] / "backup.json").read_text())
    (running[0] / "backup.json").write_text(json.dumps({**info, "directories": 5}))
    lab.local([("arch", "standard"), ("data", "standard")])
    done = rabtui(lab, "rebuild-state")
    out = done.stdout + done.stderr
    assert done.returncode == 3 and "Traceback" not in out and "directories 5 is not a list" in out, out
    _archive_again_saves_them(lab, union, "m1")


@pytest.mark.parametrize("kind", ["standard", None])
def test_a_run_the_database_does_not_know_is_undone_once_its_medium_is_back(tmp_path, kind):
    """The database lost and rebuilt while the killed run's medium was away (it knows no row, and
    no kinds, of the run), the directory made standard (or taken out of the source) meanwhile: back
    in the config, the medium's next backup undid the run only in the config's archive directories,
    and its links stayed. It looks, as rebuild-state does, for the run's own files in each union."""
    lab, union = _killed_linking(tmp_path, media_count=2, medium="m2")
    both = lab.media
    lab.media = both[:1]
    lab.local([("arch", "archive"), ("data", "standard")])
    assert lab.backup(lab.load(), medium_id="m1").status == "completed"
    lab.lose_database()
    done = rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    lab.media = both
    lab.local([("arch", kind), ("data", "standard")] if kind else [("data", "standard")])
    assert lab.backup(lab.load(), medium_id="m2").status == "completed"
    _archive_again_saves_them(lab, union, "m2")


def test_a_run_whose_row_records_no_kinds_is_undone_where_its_own_files_are(killed_linking):
    """The killed run's row names no kinds (a database an older version wrote), the directory made
    standard since: the recovery undid it only in the config's archive directories, its links
    stayed. It looks for the run's own files in each union, as rebuild-state does."""
    lab, union = killed_linking
    store = lab.store()
    store.execute("DELETE FROM backup_dirs WHERE backup_id IN (SELECT id FROM backups WHERE status='running')")
    lab.local([("arch", "standard"), ("data", "standard")])
    assert lab.backup(lab.load()).status == "completed"
    _archive_again_saves_them(lab, union, "m1")
