"""Editing the configuration in place keeps the file the operator has: a symlinked file is written
where the link points (the link stays), CRLF line ends stay CRLF, directories written as an inline
array stay one, and an edit that would not be valid TOML is refused with a ConfigError."""

from __future__ import annotations

import fcntl
import os
import pwd
import signal
import stat
import subprocess
import sys
import threading
import time
import tomllib

import pytest

from rabtui import faults, rename_exchange
from rabtui.config import edit as config_edit
from rabtui.errors import ConfigError, UsageError
from tests.test_replace_file_leftovers import ROOT, _leftovers, _stopped

HEAD = '[rabtui]\nstate_dir = "state"\n\n[[media]]\nid = "a"\npath = "media/a"\n\n'
WEB1 = '# the shop\n[[sources]]\nid = "web1"\nhost = "h"\n[[sources.directories]]\npath = "/etc"\n'
DB1 = '\n[[sources]]\nid = "db1"\nhost = "d"\n[[sources.directories]]\npath = "/var"\n'


def _write(path, text: str) -> None:
    path.write_bytes(text.encode())
    path.chmod(0o600)


def _edit(path, source_id: str = "web1", **changes) -> None:
    snap = config_edit.read(path)
    values = snap.source_values(source_id)
    values.update(changes)
    config_edit.save(snap, snap.put_source(values, source_id))


def _linked(tmp_path, relative: bool):
    """rabtui.toml -> repo/rabtui.toml (a config kept in a repository of its own)."""
    (tmp_path / "repo").mkdir()
    real = tmp_path / "repo" / "rabtui.toml"
    _write(real, HEAD + WEB1 + DB1)
    link = tmp_path / "rabtui.toml"
    link.symlink_to("repo/rabtui.toml" if relative else real)
    return link, real


@pytest.mark.parametrize("relative", [False, True], ids=["absolute link", "relative link"])
def test_a_symlinked_config_is_written_where_the_link_points_and_the_link_stays(tmp_path, relative):
    link, real = _linked(tmp_path, relative)
    target = os.readlink(link)
    _edit(link, host="web1.example.com")
    assert link.is_symlink() and os.readlink(link) == target
    assert tomllib.loads(real.read_text())["sources"][0]["host"] == "web1.example.com"
    assert real.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rabtui.toml", "repo"]        # no temporary file
    assert [p.name for p in real.parent.iterdir()] == ["rabtui.toml"]


def test_deleting_a_source_of_a_symlinked_config_keeps_the_link(tmp_path):
    link, real = _linked(tmp_path, relative=False)
    snap = config_edit.read(link)
    config_edit.save(snap, snap.delete_source("db1"))
    assert link.is_symlink()
    assert [s["id"] for s in tomllib.loads(real.read_text())["sources"]] == ["web1"]


def test_a_change_on_disk_behind_a_symlink_is_never_written_over(tmp_path):
    link, real = _linked(tmp_path, relative=False)
    snap = config_edit.read(link)
    values = snap.source_values("web1")
    values["host"] = "h2"
    by_hand = real.read_text() + '\n[[sources]]\nid = "mail"\nhost = "m"\n'
    real.write_text(by_hand)
    with pytest.raises(config_edit.ChangedOnDisk):
        config_edit.save(snap, snap.put_source(values, "web1"))
    assert link.is_symlink() and real.read_text() == by_hand


# one edit of web1's user, saved by a process of its own
_EDIT = """
import sys
from rabtui.config import edit
snap = edit.read(sys.argv[1])
values = snap.source_values("web1")
values["user"] = "from-the-form"
try:
    edit.save(snap, snap.put_source(values, "web1"))
except edit.ChangedOnDisk:
    sys.exit(3)
"""


@pytest.mark.parametrize("meanwhile", ["by hand", "by another edit"])
def test_a_change_saved_while_an_edit_syncs_its_file_is_never_written_over(tmp_path, meanwhile):
    """An edit stops between the fsync of its new file and its rename (a slow disk), after it
    found the file unchanged; the operator's editor, or another edit, saves the file meanwhile: the
    first edit is refused when it goes on, and what was saved meanwhile stays."""
    config = tmp_path / "rabtui.toml"
    _write(config, HEAD + WEB1 + DB1)
    env = {k: v for k, v in os.environ.items() if k != faults.ENV} | {faults.STOP_ENV: "replace.written"}
    first = subprocess.Popen([sys.executable, "-c", _EDIT, str(config)], cwd=ROOT, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _stopped(first.pid):
            assert first.poll() is None and time.monotonic() < deadline, first.stdout.read()
            time.sleep(0.05)
        if meanwhile == "by hand":
            config.write_text(config.read_text().replace('host = "d"', 'host = "d"  # moved\nport = 2222'))
        else:
            _edit(config, "db1", port=2222)
        saved = config.read_text()
    finally:
        first.send_signal(signal.SIGCONT)
        out = first.communicate(timeout=120)[0].decode()
    assert first.returncode == 3, out
    assert config.read_text() == saved and "port = 2222" in saved and "from-the-form" not in saved
    assert _leftovers(config) == []


def test_two_edits_saved_at_once_never_lose_one(tmp_path, monkeypatch):
    """The console's form saves web1 while a second edit (its delete, a second console) saves db1
    from the same reading: the first has found the file unchanged and is about to rename its file;
    the second waits for it, then finds the file changed and is refused. Both checked the file before
    either renamed, and the later rename dropped the first one's edit without a word."""
    config = tmp_path / "rabtui.toml"
    _write(config, HEAD + WEB1 + DB1)
    first, second = config_edit.read(config), config_edit.read(config)
    first_text = first.put_source(first.source_values("web1") | {"user": "from-the-form"}, "web1")
    second_text = second.put_source(second.source_values("db1") | {"port": 2222}, "db1")
    real_exchange, refused = rename_exchange.exchange, []

    def save_second() -> None:
        try:
            config_edit.save(second, second_text)
        except config_edit.ChangedOnDisk:
            refused.append("second")

    other = threading.Thread(target=save_second)

    def first_renames(src, dst) -> bool:     # the first, checked, is slow to rename: the second saves
        monkeypatch.setattr(rename_exchange, "exchange", real_exchange)
        other.start()
        other.join(0.5)
        return real_exchange(src, dst)

    monkeypatch.setattr(rename_exchange, "exchange", first_renames)
    config_edit.save(first, first_text)
    other.join(30)
    text = config.read_text()
    assert "from-the-form" in text and refused == ["second"] and "2222" not in text, (refused, text)
    assert _leftovers(config) == []


def test_a_save_that_another_holds_too_long_is_refused_with_why(tmp_path, monkeypatch):
    config = tmp_path / "rabtui.toml"
    _write(config, HEAD + WEB1 + DB1)
    monkeypatch.setattr(config_edit, "SAVE_WAIT", 0.1)
    with open(config) as held:
        fcntl.flock(held, fcntl.LOCK_EX)      # another save, its rename stuck on a hung disk
        with pytest.raises(UsageError, match="is being saved by another edit: nothing was saved"):
            _edit(config, port=2222)
    assert config.read_text() == HEAD + WEB1 + DB1


def test_crlf_line_ends_stay_crlf(tmp_path):
    path = tmp_path / "rabtui.toml"
    _write(path, (HEAD + WEB1 + DB1).replace("\n", "\r\n"))
    before = path.read_bytes()
    _edit(path, host="h2")
    assert path.read_bytes() == before.replace(b'host = "h"', b'host = "h2"')


def test_lines_added_to_a_crlf_file_end_in_crlf_too(tmp_path):
    path = tmp_path / "rabtui.toml"
    _write(path, (HEAD + WEB1 + DB1).replace("\n", "\r\n"))
    _edit(path, user="backup", directories=[{"path": "/etc"}, {"path": "/srv", "kind": "standard"}])
    snap = config_edit.read(path)
    new = {"id": "new", "host": "n", "directories": [{"path": "/x", "kind": "standard"}]}
    config_edit.save(snap, snap.put_source(new))
    after = path.read_bytes()
    assert b"\n" not in after.replace(b"\r\n", b"")
    data = tomllib.loads(after.decode())
    assert data["sources"][0]["user"] == "backup"
    assert [d["path"] for d in data["sources"][0]["directories"]] == ["/etc", "/srv"]
    assert [s["id"] for s in data["sources"]] == ["web1", "db1", "new"]


def test_a_file_of_lf_line_ends_gets_no_crlf(tmp_path):
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    _edit(path, user="backup", directories=[{"path": "/etc"}, {"path": "/srv", "kind": "standard"}])
    assert b"\r" not in path.read_bytes()


def _inline(tmp_path, directories: str):
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + '[[sources]]\nid = "web1"\nhost = "h"\ndirectories = ' + directories
           + '\nuser = "u"    # after the array\n' + DB1)
    return path


def _source_text(path) -> str:
    text = path.read_text()
    return text[text.index('id = "web1"'):text.index('user = "u"')]


def test_a_directory_added_to_an_inline_array_is_an_inline_table_at_its_end(tmp_path):
    path = _inline(tmp_path, '[{path = "/etc"}]')
    _edit(path, directories=[{"path": "/etc", "kind": "standard"}, {"path": "/srv", "kind": "standard"}])
    assert _source_text(path) == ('id = "web1"\nhost = "h"\n'
                                  'directories = [{path = "/etc"}, {path = "/srv", kind = "standard"}]\n')
    assert path.read_text().endswith('user = "u"    # after the array\n' + DB1)


def test_an_inline_array_over_lines_keeps_its_layout_and_comments(tmp_path):
    path = _inline(tmp_path, '[   # what the shop needs\n  {path = "/etc"},  # configuration\n  {path = "/var/www"},\n]')
    _edit(path, directories=[{"path": "/etc"}, {"path": "/var/www", "kind": "archive"},
                             {"path": "/srv", "kind": "standard"}])
    assert _source_text(path) == ('id = "web1"\nhost = "h"\ndirectories = [   # what the shop needs\n'
                                  '  {path = "/etc"},  # configuration\n'
                                  '  {path = "/var/www", kind = "archive"},\n'
                                  '  {path = "/srv", kind = "standard"},\n]\n')


def test_directories_removed_and_reordered_in_an_inline_array(tmp_path):
    path = _inline(tmp_path, '[{path = "/etc"}, {path = "/var/www", max_days = 3}, {path = "/srv"}]')
    _edit(path, directories=[{"path": "/etc"}, {"path": "/srv"}])
    assert _source_text(path) == 'id = "web1"\nhost = "h"\ndirectories = [{path = "/etc"}, {path = "/srv"}]\n'
    _edit(path, directories=[{"path": "/srv"}, {"path": "/home", "kind": "standard"}, {"path": "/etc"}])
    assert _source_text(path) == ('id = "web1"\nhost = "h"\ndirectories = '
                                  '[{path = "/srv"}, {path = "/home", kind = "standard"}, {path = "/etc"}]\n')
    _edit(path, directories=[])
    assert _source_text(path) == 'id = "web1"\nhost = "h"\n'


def test_reordered_inline_directories_keep_the_comments_on_their_lines(tmp_path):
    path = _inline(tmp_path, '[\n  {path = "/etc"},  # config: keep 90 days\n  {path = "/srv"},  # data\n]')
    _edit(path, directories=[{"path": "/srv"}, {"path": "/home", "kind": "standard"}, {"path": "/etc"}])
    assert _source_text(path) == ('id = "web1"\nhost = "h"\ndirectories = [\n'
                                  '  {path = "/srv"},  # data\n'
                                  '  {path = "/home", kind = "standard"},\n'
                                  '  {path = "/etc"},  # config: keep 90 days\n]\n')


def test_an_edit_that_would_not_be_valid_toml_is_a_config_error_and_nothing_is_written(tmp_path):
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1)
    snap = config_edit.read(path)
    with pytest.raises(ConfigError) as exc:
        config_edit.save(snap, snap.text + "[[sources]\n")
    assert str(path) in str(exc.value) and "not be valid TOML" in str(exc.value)
    assert path.read_text() == HEAD + WEB1


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_a_file_whose_last_line_has_no_line_end_takes_a_new_source_and_directory(tmp_path, eol):
    path = tmp_path / "rabtui.toml"
    text = (HEAD + WEB1 + DB1).replace("\n", eol).removesuffix(eol)     # as some editors save it
    _write(path, text)
    _edit(path, "web1", host="h2")      # nothing written after the last line: it stays as it was
    assert path.read_bytes() == text.replace('host = "h"', 'host = "h2"').encode()
    _edit(path, "db1", directories=[{"path": "/var"}, {"path": "/srv", "kind": "standard"}])
    snap = config_edit.read(path)
    config_edit.save(snap, snap.put_source({"id": "new", "host": "n", "directories": [{"path": "/x"}]}))
    after = path.read_bytes().decode()
    assert after.startswith(text.replace('host = "h"', 'host = "h2"') + eol)
    assert "\n" not in after.replace(eol, "")
    data = tomllib.loads(after)
    assert [d["path"] for d in data["sources"][1]["directories"]] == ["/var", "/srv"]
    assert [s["id"] for s in data["sources"]] == ["web1", "db1", "new"]


def test_a_file_tomlkit_would_rearrange_is_not_edited(tmp_path):
    # tomlkit puts [[sources]] tables that another table separates next to each other, even
    # when nothing is edited: the operator's order would change with any edit
    path = tmp_path / "rabtui.toml"
    text = HEAD + WEB1 + "\n[retention]\nkeep_all_days = 3\n" + DB1
    _write(path, text)
    with pytest.raises(UsageError, match="cannot be edited here without moving parts of it") as exc:
        config_edit.read(path)
    assert "put its [[sources]] tables one after another" in exc.value.hint
    assert path.read_text() == text


DIRS = ('[[sources]]\nid = "web1"\nhost = "h"\n\n# the directories\n[[sources.directories]]\npath = "/etc"\n'
        '# photos next\n\n[[sources.directories]]\npath = "/srv"\nkind = "archive"\n\n# the database\n')
DB = '[[sources]]\nid = "db1"\nhost = "d"\n'


def test_deleting_the_first_source_keeps_the_comment_that_introduced_the_next(tmp_path):
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + DIRS + DB)
    snap = config_edit.read(path)
    config_edit.save(snap, snap.delete_source("web1"))
    assert path.read_text() == HEAD + "\n# the database\n" + DB


def test_deleting_the_only_source_keeps_the_comment_that_introduced_the_next_table(tmp_path):
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + DIRS + "[retention]\nkeep_all_days = 3\n")
    snap = config_edit.read(path)
    config_edit.save(snap, snap.delete_source("web1"))
    assert path.read_text() == HEAD + "\n# the database\n[retention]\nkeep_all_days = 3\n"


def test_reordered_directories_leave_the_comments_between_tables_where_they_were(tmp_path):
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + DIRS + DB)
    _edit(path, directories=[{"path": "/srv", "kind": "archive"}, {"path": "/etc"}])
    assert path.read_text() == HEAD + DIRS.replace('path = "/etc"', "@").replace(
        'path = "/srv"\nkind = "archive"', 'path = "/etc"').replace("@", 'path = "/srv"\nkind = "archive"') + DB


def test_deleting_the_first_directory_keeps_the_comment_before_the_second_above_it(tmp_path):
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + DIRS + DB)
    _edit(path, directories=[{"path": "/srv", "kind": "archive"}])
    assert path.read_text() == HEAD + DIRS.replace('[[sources.directories]]\npath = "/etc"\n', "", 1) + DB


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_an_edit_made_as_root_leaves_the_file_to_its_owner(tmp_path):
    # `sudo rabtui` on an operator's own config: the file stays theirs, readable by them
    nobody = pwd.getpwnam("nobody")
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    _edit(path, host="h2")
    st = path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (nobody.pw_uid, nobody.pw_gid, 0o600)
    assert 'host = "h2"' in path.read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_an_edit_by_another_user_than_the_owner_leaves_the_file_to_its_owner(open_base):
    """A root-owned config that nobody may read but not write, in a folder nobody may write: the
    rename would put nobody's file in its place (root's no is its mode and its owner)."""
    from tests.other_user import NOBODY, nobody_returns

    folder = open_base / "theirs"
    folder.mkdir()
    os.chown(folder, NOBODY.pw_uid, NOBODY.pw_gid)
    path = folder / "rabtui.toml"
    _write(path, HEAD + WEB1)
    path.chmod(0o644)

    def edit():
        with pytest.raises(UsageError, match=f"belongs to uid 0, not to you \\(uid {NOBODY.pw_uid}\\)"):
            _edit(path, user="nobody")

    nobody_returns(edit, folder)
    st = path.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode), path.read_text()) == (0, 0o644, HEAD + WEB1)


def test_a_file_that_begins_with_a_byte_order_mark_is_read_and_keeps_it(tmp_path, capsys):
    # as some Windows editors save UTF-8
    from rabtui.cli import main

    path = tmp_path / "rabtui.toml"
    (tmp_path / "media" / "a").mkdir(parents=True)
    text = "\ufeff" + HEAD + WEB1 + DB1
    _write(path, text)
    assert main(["--config", str(path), "check-config"]) == 0
    _edit(path, host="h2")
    assert path.read_bytes() == text.replace('host = "h"', 'host = "h2"').encode()
    snap = config_edit.read(path)
    config_edit.save(snap, snap.delete_source("db1"))
    assert path.read_bytes() == (text.replace('host = "h"', 'host = "h2"').replace(DB1, "\n")).encode()
    _write(path, text.replace("id = \"db1\"", "id = 1"))
    capsys.readouterr()
    assert main(["--config", str(path), "check-config"]) == 2
    line = (HEAD + WEB1 + DB1).splitlines().index('id = "db1"') + 1
    assert f"{path}:{line}: sources[1].id" in capsys.readouterr().err


def _inline_sources(tmp_path, sources: str):
    path = tmp_path / "rabtui.toml"
    _write(path, "sources = " + sources + "\n\n" + HEAD)
    return path


@pytest.mark.parametrize("sources, added", [
    ('[{id = "web1", host = "h", directories = [{path = "/etc"}]}]',
     'sources = [{id = "web1", host = "h", directories = [{path = "/etc"}]}, {id = "new", host = "n", user = "u",'
     ' directories = [{path = "/x", kind = "standard"}]}]\n'),
    ('[\n  {id = "web1", host = "h", directories = [{path = "/etc"}]},  # the shop\n]',
     'sources = [\n  {id = "web1", host = "h", directories = [{path = "/etc"}]},  # the shop\n'
     '  {id = "new", host = "n", user = "u", directories = [{path = "/x", kind = "standard"}]},\n]\n'),
    ('[]', 'sources = [{id = "new", host = "n", user = "u", directories = [{path = "/x", kind = "standard"}]}]\n'),
], ids=["one line", "over lines", "empty"])
def test_a_source_added_to_sources_written_as_an_inline_array_is_an_inline_table_at_its_end(tmp_path, sources, added):
    path = _inline_sources(tmp_path, sources)
    snap = config_edit.read(path)
    new = {"id": "new", "host": "n", "user": "u", "directories": [{"path": "/x", "kind": "standard"}]}
    config_edit.save(snap, snap.put_source(new))
    assert path.read_text() == added + "\n" + HEAD
    snap = config_edit.read(path)
    config_edit.save(snap, snap.put_source({**snap.source_values("new"), "host": "n2",
                                            "directories": [{"path": "/x"}, {"path": "/y", "kind": "standard"}]}, "new"))
    data = tomllib.loads(path.read_text())
    assert data["sources"][-1]["host"] == "n2"
    assert [d["path"] for d in data["sources"][-1]["directories"]] == ["/x", "/y"]


INDENTED = ('[rabtui]\n  state_dir = "state"\n\n[[media]]\n  id = "a"\n  path = "media/a"\n\n'
            '[[sources]]\n  id = "web1"\n  host = "h"\n  [[sources.directories]]\n    path = "/etc"\n')


def test_new_keys_and_tables_of_a_file_indented_by_hand_are_indented_alike(tmp_path):
    path = tmp_path / "rabtui.toml"
    _write(path, INDENTED)
    _edit(path, user="u", directories=[{"path": "/etc"}, {"path": "/x", "kind": "standard"}])
    assert path.read_text() == INDENTED.replace('  host = "h"\n', '  host = "h"\n  user = "u"\n') + (
        '  [[sources.directories]]\n    path = "/x"\n    kind = "standard"\n')
    snap = config_edit.read(path)
    config_edit.save(snap, snap.put_source({"id": "new", "host": "n", "directories": [{"path": "/y", "kind": "standard"}]}))
    added = path.read_text().split('kind = "standard"\n', 1)[1]
    assert added == ('[[sources]]\n  id = "new"\n  host = "n"\n\n'
                     '  [[sources.directories]]\n    path = "/y"\n    kind = "standard"\n')
    assert [s["id"] for s in tomllib.loads(path.read_text())["sources"]] == ["web1", "new"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_a_config_another_user_can_point_elsewhere_is_not_written_by_root(open_base, monkeypatch):
    """`sudo rabtui` on a config in another user's directory: they may make its name a symlink to
    any file as it is saved (an inotify watch tells them when root has read it), and root would
    write the configuration there (a line of a multi-line command in /etc/cron.d runs as root).
    Nothing is saved, with the reason; a config whose way only root and rabtui's user can change
    is saved as before (the tests above)."""
    from tests.other_user import NOBODY, as_nobody

    theirs = open_base / "home"
    theirs.mkdir()
    path = theirs / "rabtui"
    _write(path, HEAD + WEB1)
    for p in (theirs, path):
        os.chown(p, NOBODY.pw_uid, NOBODY.pw_gid)
    elsewhere = open_base / "cron.d" / "rabtui"          # stands for /etc/cron.d/rabtui
    elsewhere.parent.mkdir()
    snap = config_edit.read(path)
    values = snap.source_values("web1")
    values["host"] = "h2"
    text = snap.put_source(values, "web1")
    real_realpath = os.path.realpath

    def realpath(p, *a, **kw):       # their symlink, put in place once root has read the file
        if os.fspath(p) == str(path) and not os.path.islink(path):
            as_nobody(lambda: (os.rename(path, f"{path}.was"), os.symlink(elsewhere, path)))
        return real_realpath(p, *a, **kw)
    monkeypatch.setattr(os.path, "realpath", realpath)

    with pytest.raises(UsageError, match="belongs to user nobody"):
        config_edit.save(snap, text)
    assert not elsewhere.exists(), "root wrote the configuration where their symlink points"



@pytest.mark.parametrize("name, length", [("r" * 237 + ".toml", 0), (os.fsdecode(b"r\xff.toml"), 4030)])
def test_a_config_whose_name_or_path_leaves_no_room_for_the_saves_files_is_refused_saying_so(tmp_path, name, length):
    """The save's files beside the config (`.<name>.XXXXXXXX.tmp/new.<sha256>`) are 14 bytes longer
    in name, and 83 in path: a name of 242 bytes or more, or a path within 83 bytes of PATH_MAX,
    failed with "File name too long" naming a file the operator never made."""
    folder = tmp_path
    while len(os.fsencode(folder / name)) < length:     # a path of `length` bytes, or a few more
        folder = folder / ("d" * min(200, max(1, length - len(os.fsencode(folder / name)) - 1)))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    _write(path, HEAD + WEB1 + DB1)
    with pytest.raises(UsageError, match="too long") as said:
        _edit(path, host="h2")
    assert str(path) in str(said.value) and "nothing was saved" in str(said.value)
    assert path.read_text() == HEAD + WEB1 + DB1 and os.listdir(folder) == [name]
