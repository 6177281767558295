"""Editing the configuration in place: only what changed is written; comments, order, relative paths
and hand-written tables stay; never over changes made on disk since it was read; validated; atomic."""

from __future__ import annotations

import difflib
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rabtui import config as configmod
from rabtui.config import edit as config_edit
from rabtui.cli import main
from rabtui.errors import ConfigError, RabtuiError

TEXT = """\
# The backup server's configuration. Written by hand.
[rabtui]
state_dir = "state"                     # relative to this file, on purpose

[[media]]
id = "a"
path = "media/a"

# web servers
[[sources]]
id = "web1"        # the shop
host = "web1.example.com"
identity_file = "keys/web1"   # relative too
excludes = ["*.tmp",   "cache/"]
pause_notifications_until = 2026-12-01

[[sources.directories]]
path = "/etc"      # configuration
[[sources.directories]]
path = "/srv/photos"
kind = "archive"
max_days = 14      # two weeks

# the database, added by hand while the UI was open
[[sources]]
id = "db1"
host = "db1.example.com"
[[sources.directories]]
path = "/var/lib/postgresql/dumps"
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "rabtui.toml"
    path.write_text(TEXT)
    path.chmod(0o600)
    return path


def _changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_one_changed_key_changes_one_line(config_file):
    snap = config_edit.read(config_file)
    values = snap.source_values("web1")
    assert values["identity_file"] == "keys/web1"            # as written, not resolved
    assert values["directories"][0] == {"path": "/etc"}
    values["user"] = "backup"
    values["port"] = 2222
    config_edit.save(snap, snap.put_source(values, "web1"))
    after = config_file.read_text()
    assert _changed_lines(TEXT, after) == ['+user = "backup"', "+port = 2222"]
    assert config_file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in config_file.parent.iterdir()] == ["rabtui.toml"]   # no temporary file left
    cfg = configmod.load(config_file, check_media=False)
    assert cfg.source("web1").port == 2222 and cfg.source("db1").host == "db1.example.com"


def test_an_edited_value_keeps_its_comment_and_an_unchanged_form_writes_nothing(config_file):
    snap = config_edit.read(config_file)
    values = snap.source_values("web1")
    assert snap.put_source(values, "web1") == TEXT
    values["host"] = "web1.example.org"
    values["directories"][1]["max_days"] = 30
    after = snap.put_source(values, "web1")
    assert _changed_lines(TEXT, after) == ['-host = "web1.example.com"', '+host = "web1.example.org"',
                                           "-max_days = 14      # two weeks", "+max_days = 30      # two weeks"]


def test_directories_added_and_removed_in_place(config_file):
    snap = config_edit.read(config_file)
    values = snap.source_values("web1")
    values["directories"] = [{"path": "/etc", "kind": "standard"}, {"path": "/home", "kind": "standard"}]
    after = snap.put_source(values, "web1")
    assert "# configuration" in after and "# the database, added by hand" in after
    assert after.index("/home") < after.index("# the database, added by hand")   # its comment still leads db1
    data = tomllib.loads(after)
    assert data["sources"][0]["directories"] == [{"path": "/etc"}, {"path": "/home", "kind": "standard"}]
    assert data["sources"][1]["directories"] == [{"path": "/var/lib/postgresql/dumps"}]


def test_add_and_delete_a_source_leave_the_rest_as_it_was(config_file):
    snap = config_edit.read(config_file)
    added = snap.put_source({"id": "new", "host": "h", "directories": [{"path": "/x", "kind": "standard"}]})
    assert added.startswith(TEXT.rstrip("\n"))
    assert tomllib.loads(added)["sources"][2] == {"id": "new", "host": "h", "directories": [{"path": "/x", "kind": "standard"}]}
    gone = snap.delete_source("db1")
    assert "db1" not in gone and gone.startswith(TEXT[:TEXT.index("[[sources]]\nid = \"db1\"")].rstrip("\n"))


def test_never_over_a_change_made_on_disk_since_it_was_read(config_file):
    snap = config_edit.read(config_file)
    values = snap.source_values("web1")
    values["port"] = 2222
    by_hand = TEXT + '\n[[sources]]\nid = "mail"\nhost = "mail.example.com"\n'
    config_file.write_text(by_hand)
    with pytest.raises(config_edit.ChangedOnDisk) as exc:
        config_edit.save(snap, snap.put_source(values, "web1"))
    assert '+id = "mail"' in exc.value.diff
    assert config_file.read_text() == by_hand


def test_an_invalid_result_is_refused_with_the_line_and_nothing_is_written(config_file):
    snap = config_edit.read(config_file)
    values = snap.source_values("web1")
    values["schedule"] = "every day"
    with pytest.raises(ConfigError) as exc:
        config_edit.save(snap, snap.put_source(values, "web1"))
    assert "schedule" in str(exc.value) and ":" in str(exc.value)
    assert config_file.read_text() == TEXT


names = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, blacklist_characters='"\\'), min_size=1, max_size=12)


@settings(max_examples=60)
@given(host=st.one_of(st.none(), names), user=st.one_of(st.none(), names), port=st.one_of(st.none(), st.integers(1, 65535)),
       excludes=st.lists(names, max_size=3), dirs=st.lists(st.tuples(names, st.sampled_from(["standard", "archive"])),
                                                          min_size=1, max_size=3, unique_by=lambda d: d[0]))
def test_any_edit_round_trips_and_leaves_the_other_source_byte_for_byte(tmp_path_factory, host, user, port, excludes, dirs):
    path = tmp_path_factory.mktemp("edit") / "rabtui.toml"
    path.write_text(TEXT)
    snap = config_edit.read(path)
    values = snap.source_values("web1")
    values.update(host=host, user=user, port=port, excludes=excludes,
                  directories=[{"path": "/" + p, "kind": k} for p, k in dirs])
    after = snap.put_source(values, "web1")
    db1 = TEXT[TEXT.index("# the database"):]
    assert after.endswith(db1)
    assert after.startswith(TEXT[:TEXT.index("[[sources]]")])
    again = config_edit.Snapshot(path, after).source_values("web1")
    assert again.get("host") == host and again.get("user") == user and again.get("port") == port
    assert again.get("excludes", []) == excludes
    assert [(d["path"], d.get("kind", "standard")) for d in again["directories"]] == [("/" + p, k) for p, k in dirs]


def test_check_config_warns_of_a_local_directory_or_an_identity_file_that_does_not_exist(tmp_path, capsys):
    path = tmp_path / "rabtui.toml"
    (tmp_path / "there").mkdir()
    path.write_text(f'[rabtui]\nstate_dir = "state"\n[[sources]]\nid = "here"\n'
                    f'[[sources.directories]]\npath = "{tmp_path / "there"}"\n'
                    f'[[sources.directories]]\npath = "{tmp_path / "not-there"}"\n'
                    '[[sources]]\nid = "far"\nhost = "h"\nidentity_file = "keys/gone"\n'
                    '[[sources]]\nid = "keyed"\nhost = "h"\nidentity_file = "rabtui.toml"\n')
    path.chmod(0o600)
    assert main(["--config", str(path), "check-config"]) == 0
    err = capsys.readouterr().err
    assert f"directory {tmp_path / 'not-there'} does not exist" in err
    assert f"directory {tmp_path / 'there'} does" not in err
    # a key that is not there (a typo, a mount not made) fails each backup at its login
    assert f"source far: identity_file {tmp_path / 'keys/gone'} is not a file here: its backups fail" in err
    assert "source keyed" not in err


_HEAD = TEXT[:TEXT.index("# web servers")]
_WEB1 = '[[sources]]\nid = "web1"\n'


@pytest.mark.parametrize("by_hand", [
    _HEAD + '[sources]\nid = "web1"\n',
    _HEAD + "sources = 5\n",           # a key of the [[media]] table above it
    "sources = 5\n" + _HEAD,
    "sources = [1, 2]\n" + _HEAD,
    _HEAD + _WEB1 + "directories = 3\n",
    _HEAD + _WEB1 + "directories = [1]\n",
    _HEAD + _WEB1 + '[sources.directories]\npath = "/etc"\n',
    _HEAD + _WEB1 + '[[sources.directories]]\nkind = "archive"\n',
], ids=["sources-a-table", "sources-in-media", "sources-a-number", "sources-numbers", "directories-a-number",
        "directories-numbers", "directories-a-table", "a-directory-without-path"])
def test_a_file_of_another_shape_by_hand_is_refused_as_it_is(config_file, by_hand):
    """Valid TOML in a shape the form cannot edit (written by hand while the UI was open): opening
    the form, adding, editing or deleting a source is refused with the operator's message (shown
    by the UI), never an exception of the editor's own, and the file stays byte for byte."""
    config_file.write_text(by_hand)
    new = {"id": "new", "directories": [{"path": "/x", "kind": "standard"}]}
    edits = [lambda s: s.source_ids(), lambda s: s.source_values("web1"),
             lambda s: config_edit.save(s, s.put_source(new)),
             lambda s: config_edit.save(s, s.put_source(new | {"id": "web1"}, "web1")),
             lambda s: config_edit.save(s, s.delete_source("web1"))]
    for edit in edits:
        try:
            edit(config_edit.read(config_file))
        except RabtuiError as exc:
            assert str(config_file) in str(exc) or "web1" in str(exc), exc
        assert config_file.read_text() == by_hand
