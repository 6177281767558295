"""Paths rsync could not read on the source (a file it could not open, a directory it could not
list: its exit 23) are not in that backup, yet were not deleted there: the backup records them
(backup.json and the database), `diff` lists them as unreadable, not removed, and `find` says the
version before was not deleted at that backup; rebuild-state has them back from backup.json. Real
rsync over the test sshd, whose rsync on the source runs without root's right to read everything
(its rsync_path drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so that mode 0 closes a file to it."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta

import pytest

from rabtui.cli import main
from rabtui.state import backup_diff, unread_paths
from rabtui.tui import tree
from tests.trees import Lab, ssh_source_lines, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="needs root and setpriv to close files to the source's rsync")

T0 = datetime(2026, 7, 1, 3, 0)
BLIND = "setpriv --bounding-set=-dac_override,-dac_read_search rsync"


@pytest.fixture(scope="module")
def history(tmp_path_factory, sshd):
    """Three backups of one directory: all read; `secret` changed and closed, `closed/` closed,
    `fresh` new and closed; all open again. Yields the lab, the data path and the backups."""
    base = tmp_path_factory.mktemp("unread")
    lab = Lab(base, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    write_files(data, {"keep": b"k", "secret": b"s1", "closed/in": b"inside", "closed/deep/x": b"x"})
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{BLIND}"\n'
                    f'[[sources.directories]]\npath = "{data}"\n')
    first = lab.backup(cfg, "web", now=T0)
    assert first.status == "completed"
    write_files(data, {"secret": b"s2 longer", "fresh": b"new"})
    for name in ("secret", "fresh", "closed"):
        os.chmod(data / name, 0)
    second = lab.backup(cfg, "web", now=T0 + timedelta(days=1))
    for name in ("secret", "fresh"):
        os.chmod(data / name, 0o644)
    os.chmod(data / "closed", 0o755)
    assert second.status == "warnings", second.reason
    third = lab.backup(cfg, "web", now=T0 + timedelta(days=2))
    assert third.status == "completed", third.reason
    yield lab, data, (first, second, third)


def _cli(lab, capsys, *args, code=0) -> str:
    assert main(["--config", str(lab.config_path), *args]) == code
    return capsys.readouterr().out


def test_the_backup_records_what_it_could_not_read(history):
    lab, data, (_, second, _) = history
    info = json.loads((second.path / "backup.json").read_text())
    [d] = info["directories"]
    assert sorted(d["unreadable"]) == ["closed/.", "fresh", "secret"] and d["unreadable_unnamed"] == 0
    rel = str(data).lstrip("/").encode()
    rows = lab.store().all("SELECT path FROM unreadable WHERE backup_id=?", (second.backup_id,))
    assert sorted(bytes(r["path"]) for r in rows) == [rel + b"/closed", rel + b"/fresh", rel + b"/secret"]
    assert lab.store().one("SELECT unreadable FROM backup_dirs WHERE backup_id=?", (second.backup_id,))[0] == 3


def _diff_says(lab, data, capsys, a, b) -> tuple[list[str], dict]:
    text = _cli(lab, capsys, "diff", "web", a.path.name, b.path.name).splitlines()
    as_json = json.loads(_cli(lab, capsys, "diff", "web", a.path.name, b.path.name, "--json"))
    return [line.replace(str(data), "D") for line in text[1:]], as_json


def test_diff_says_unreadable_not_removed(history, capsys):
    lab, data, (first, second, third) = history
    lines, as_json = _diff_says(lab, data, capsys, first, second)
    assert lines == ["! D/closed/deep/x  unreadable (1 B before)", "! D/closed/in  unreadable (6 B before)",
                     "! D/fresh  unreadable", "! D/secret  unreadable (2 B before)",
                     "0 added (0 B), 0 removed (0 B), 0 changed, 4 unreadable"]
    assert as_json["removed"] == [] and as_json["added"] == []
    assert as_json["unreadable"] == [{"path": f"{data}/closed/deep/x", "size": 1}, {"path": f"{data}/closed/in", "size": 6},
                                     {"path": f"{data}/fresh", "size": None}, {"path": f"{data}/secret", "size": 2}]
    # read again, the files come back as they are then (the backup before could not read them)
    lines, as_json = _diff_says(lab, data, capsys, second, third)
    assert lines == ["* D/closed/deep/x  readable again (1 B)", "* D/closed/in  readable again (6 B)",
                     "* D/fresh  readable again (3 B)", "* D/secret  readable again (9 B)",
                     "0 added (0 B), 0 removed (0 B), 0 changed, 4 readable again"]
    assert as_json["added"] == [] and as_json["unreadable"] == []
    assert as_json["readable_again"] == [{"path": f"{data}/closed/deep/x", "size": 1}, {"path": f"{data}/closed/in", "size": 6},
                                         {"path": f"{data}/fresh", "size": 3}, {"path": f"{data}/secret", "size": 9}]


def test_find_says_the_version_before_was_not_deleted(history, capsys):
    lab, data, (first, second, _) = history
    [v] = [v for v in json.loads(_cli(lab, capsys, "find", "in", "--json")) if v["path"].endswith("/closed/in")]
    held = [loc for loc in v["locations"] if loc["kind"] == "backup"]
    assert held[0]["backups"] == [first.path.name] and held[0]["unreadable"] == second.path.name
    assert "unreadable_more" not in held[0]
    text = _cli(lab, capsys, "find", "secret")
    assert f"m1: {first.path.name}; then unreadable on the source in {second.path.name} (not deleted)" in text


def _later_unread_before(store, path_ids):
    """unread_paths.later_unread as it was first written: every path joined with every row of
    `unreadable` of its source's backups, by prefix. The answer the index's look-ups must give."""
    out = {}
    for i in range(0, len(path_ids), 500):
        chunk = path_ids[i:i + 500]
        marks = ",".join("?" * len(chunk))
        for r in store.all(
            "SELECT p.id AS path_id, b.medium, b.id, b.name FROM paths p JOIN backups b ON b.source=p.source"
            " AND b.status IN ('completed', 'warnings', 'kept') JOIN unreadable u ON u.backup_id=b.id"
            " AND (u.path=X'' OR substr(CAST(p.path AS BLOB), 1, length(u.path))=CAST(u.path AS BLOB)"
            "      AND substr(CAST(p.path AS BLOB), length(u.path) + 1, 1) IN (X'', X'2F'))"
            f" WHERE p.id IN ({marks}) ORDER BY b.id", chunk):
            out.setdefault((r["path_id"], r["medium"]), []).append((r["id"], r["name"]))
    return out


def test_later_unread_answers_as_before(history):
    lab, _, (_, second, _) = history
    store = lab.store()
    ids = [r[0] for r in store.all("SELECT id FROM paths")]
    found = unread_paths.later_unread(store, ids)
    assert found == _later_unread_before(store, ids)
    # closed/in, closed/deep/x, secret and fresh (which the third backup read), on the one medium
    assert sorted(found.values()) == [[(second.backup_id, second.path.name)]] * 4


def test_rebuild_state_has_them_back_from_backup_json(history, capsys, tmp_path):
    lab, data, (first, second, _) = history
    before = _diff_says(lab, data, capsys, first, second)
    assert len(before[1]["unreadable"]) == 4
    shutil.copytree(lab.state, tmp_path / "state-kept")      # the module's other tests read the state as made
    try:
        _cli(lab, capsys, "rebuild-state")
        assert _diff_says(lab, data, capsys, first, second) == before
    finally:
        shutil.rmtree(lab.state)
        shutil.copytree(tmp_path / "state-kept", lab.state)


def test_a_database_made_before_gets_the_table_and_column(tmp_path):
    from rabtui.state.store import Store, connect

    Store(tmp_path / "state").close()
    conn = connect(tmp_path / "state" / "rabtui.db")
    conn.execute("DROP TABLE unreadable")
    conn.execute("ALTER TABLE backup_dirs DROP COLUMN unreadable")
    conn.close()
    store = Store(tmp_path / "state")
    assert store.all("SELECT * FROM unreadable") == []
    assert "unreadable" in {r[1] for r in store.all("PRAGMA table_info(backup_dirs)")}


@pytest.fixture(scope="module")
def replaced(tmp_path_factory, sshd):
    """Two backups: `x/` a directory holding `gone`, `kept/` holding `deep`, a file `was-file`;
    then `x/` deleted on the source and a file `x` made in its place that the source's rsync cannot
    open, `kept/` closed, `was-file` deleted and a directory of its name made that cannot be listed.
    Yields the lab, the data path and the backups."""
    base = tmp_path_factory.mktemp("replaced")
    lab = Lab(base, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    write_files(data, {"keep": b"k", "x/gone": b"deleted", "kept/deep": b"d", "was-file": b"file"})
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{BLIND}"\n'
                    f'[[sources.directories]]\npath = "{data}"\n')
    first = lab.backup(cfg, "web", now=T0)
    shutil.rmtree(data / "x")
    (data / "x").write_bytes(b"a file now")
    os.chmod(data / "x", 0)
    (data / "was-file").unlink()
    write_files(data, {"was-file/in": b"i"})
    os.chmod(data / "was-file", 0)
    os.chmod(data / "kept", 0)
    # a path whose error line holds what rsync says of a directory it cannot enter: this one's
    lookalike = data / f'change_dir "{data}" failed: No such file or directory (2)'
    # and one whose error line holds what rsync says of a medium that is full
    full = data / "No space left on device (28)"
    write_files(data, {str(lookalike.relative_to(data)): b"?", full.name: b"?"})
    os.chmod(lookalike, 0)
    os.chmod(full, 0)
    try:
        second = lab.backup(cfg, "web", now=T0 + timedelta(days=1))
    finally:
        os.chmod(data / "kept", 0o755)
        os.chmod(data / "was-file", 0o755)
    assert second.status == "warnings", second.reason
    yield lab, data, (first, second)


def test_a_file_not_read_hides_no_deletion_below_its_name(replaced, capsys, tmp_path):
    """The file `x` rsync could not open stands for itself only: what the directory `x` held before
    was deleted on the source, and diff and find say so; what the closed directory holds is unreadable.
    The directory `was-file` it could not list stands for what it holds only: the file of its name
    was deleted.
    A file whose path holds what rsync says of a directory it cannot enter is one more it could not
    read, not the directory gone (the backup failed as if its file system were not mounted); one
    named as rsync says a medium is full is not the medium full (the backup failed: did not fit)."""
    lab, data, (first, second) = replaced
    info = json.loads((second.path / "backup.json").read_text())
    lookalike = f'change_dir "{data}" failed: No such file or directory (2)'
    assert sorted(info["directories"][0]["unreadable"]) == ["No space left on device (28)", lookalike, "kept/.",
                                                            "was-file/.", "x"]
    lines, as_json = _diff_says(lab, data, capsys, first, second)
    assert [line for line in lines if "change_dir" not in line and "No space" not in line] == [
        "- D/was-file  4 B", "- D/x/gone  7 B", "! D/kept/deep  unreadable (1 B before)", "! D/was-file  unreadable",
        "! D/x  unreadable", "0 added (0 B), 2 removed (11 B), 0 changed, 5 unreadable"]
    assert [e["path"] for e in as_json["removed"]] == [f"{data}/was-file", f"{data}/x/gone"]
    assert f"{data}/{lookalike}" in [u["path"] for u in as_json["unreadable"]]
    for name in ("x/gone", "was-file"):
        [v] = [v for v in json.loads(_cli(lab, capsys, "find", name, "--json")) if v["path"].endswith("/" + name)]
        assert all("unreadable" not in loc for loc in v["locations"]), name
    [v] = [v for v in json.loads(_cli(lab, capsys, "find", "deep", "--json")) if v["path"].endswith("/kept/deep")]
    assert [loc.get("unreadable") for loc in v["locations"] if loc["kind"] == "backup"] == [second.path.name]
    # rebuild-state has the same back from backup.json
    shutil.copytree(lab.state, tmp_path / "state-kept")
    try:
        _cli(lab, capsys, "rebuild-state")
        assert _diff_says(lab, data, capsys, first, second) == (lines, as_json)
    finally:
        shutil.rmtree(lab.state)
        shutil.copytree(tmp_path / "state-kept", lab.state)


def test_browse_diff_below_a_directory_that_could_not_be_listed_says_so(history):
    """Browse compares below the open directory: there, a directory above it (or it) that the later
    backup could not list is said ("." unreadable), also where nothing was there to remove."""
    lab, data, (first, second, _) = history
    store = lab.store()
    rows = {r["id"]: dict(r) for r in store.all("SELECT * FROM backups")}
    top = os.fsencode(str(data)).lstrip(b"/")
    said = {}
    for a, sub in ((first, b"/closed"), (first, b"/closed/deep"), (second, b"/closed/deep")):
        d = backup_diff.diff(store, rows[a.backup_id], rows[second.backup_id], prefix=top + sub)
        said[a.backup_id, sub] = [(c.path, c.what) for c in tree.changes_below(d, top + sub)[0]]
    assert said[first.backup_id, b"/closed"] == [(b".", "unreadable"), (b"deep/x", "unreadable"), (b"in", "unreadable")]
    assert said[first.backup_id, b"/closed/deep"] == [(b".", "unreadable"), (b"x", "unreadable")]
    assert said[second.backup_id, b"/closed/deep"] == [(b".", "unreadable")]


def test_browse_says_the_directory_it_compares_could_not_be_listed(history):
    """Browse opens closed/ in the backup that could not list it: the line above the table says so,
    and so does its diff (the table lists it as ".")."""
    from tests.tui.conftest import browse_backups, run, texts, wait_for
    from rabtui.tui.app import make_app

    lab, data, (_, second, _) = history
    rel = os.fsencode(str(data)).lstrip(b"/") + b"/closed"

    async def go():
        app = make_app(lab.config_path, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await browse_backups(app, pilot, "web")
            [row] = [b for b in screen.keys if b["name"] == second.path.name]
            screen.open_backup(row, rel)
            # (an empty directory in that backup: rsync could not list it)
            await wait_for(pilot, lambda: screen.rel == rel and not screen.loading and "0 entries" in texts(app, "#browse-where"))
            assert "; could not be listed on the source)" in texts(app, "#browse-where")
            await pilot.press("d")
            await wait_for(pilot, lambda: screen.level == "diff" and "changes" in texts(app, "#browse-where"))
            assert [(c.path, c.what) for c in screen.keys] == [(b".", "unreadable"), (b"deep/x", "unreadable"),
                                                               (b"in", "unreadable")]
            assert "(this directory could not be listed on the source)" in texts(app, "#browse-where")

    run(go())
