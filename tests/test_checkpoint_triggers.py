"""Checkpoint triggers: each of the four reasons, per-directory overrides, only with a backup."""

from __future__ import annotations

import time

from rabtui import config as configmod
from rabtui.checkpoint import triggers
from rabtui.state.store import Store

DAY = 86400


def _setup(tmp_path):
    media = tmp_path / "m"
    media.mkdir()
    path = tmp_path / "rabtui.toml"
    path.write_text(f'''
[rabtui]
state_dir = "{tmp_path / 'state'}"
[checkpoint]
max_changed_files = 100
max_days = 30
[[media]]
id = "m1"
path = "{media}"
[[sources]]
id = "web"
[[sources.directories]]
path = "/etc"
[[sources.directories]]
path = "/srv/photos"
kind = "archive"
max_changed_files = 5
max_days = 7
[[sources.directories]]
path = "/var/empty"
''')
    cfg = configmod.load(path, check_media=False)
    store = Store(cfg.state_dir)
    cur = store.execute("INSERT INTO backups(source, medium, name, path, status, started) VALUES"
                        " ('web', 'm1', 'backup-1', '/x', 'completed', ?)", (time.time(),))
    for p, kind in (("/etc", "standard"), ("/srv/photos", "archive")):
        store.execute("INSERT INTO backup_dirs(backup_id, path, kind, state) VALUES (?,?,?, 'ok')",
                      (cur.lastrowid, p, kind))
    return cfg, store


def _state(store, path, changed=0, days_ago=None, number=1, did_not_fit=None):
    store.execute("INSERT OR REPLACE INTO dir_state(source, path, changed_since_checkpoint, last_checkpoint,"
                  " last_checkpoint_time, did_not_fit) VALUES ('web',?,?,?,?,?)",
                  (path, changed, number if days_ago is not None else None,
                   time.time() - days_ago * DAY if days_ago is not None else None, did_not_fit))


def _by_path(cfg, store, **kw):
    return {s.path: s for s in triggers.statuses(cfg, store, **kw)}


def test_never_checkpointed_is_due_once_it_has_a_backup(tmp_path):
    cfg, store = _setup(tmp_path)
    st = _by_path(cfg, store)
    assert st["/etc"].due and st["/etc"].reasons == ["never checkpointed"]
    assert not st["/var/empty"].due and st["/var/empty"].reasons == ["no complete backup yet"]
    assert st["/srv/photos"].max_changed_files == 5 and st["/srv/photos"].max_days == 7


def test_each_trigger_and_the_overrides(tmp_path):
    cfg, store = _setup(tmp_path)
    _state(store, "/etc", changed=100, days_ago=30 - 0.5)
    _state(store, "/srv/photos", changed=5, days_ago=6)
    st = _by_path(cfg, store)
    assert not st["/etc"].due and not st["/srv/photos"].due     # at the limits, not over them
    assert st["/etc"].reasons[0].startswith("not due: 100/100 changed files, 29/30 days")

    _state(store, "/etc", changed=101, days_ago=1)
    _state(store, "/srv/photos", changed=0, days_ago=8)         # the per-directory max_days = 7
    st = _by_path(cfg, store)
    assert st["/etc"].due and st["/etc"].reasons == ["101 changed files > max_changed_files 100"]
    assert st["/srv/photos"].due and st["/srv/photos"].reasons == ["8 days since checkpoint 1 > max_days 7"]

    _state(store, "/etc", changed=0, days_ago=1, did_not_fit=time.time())
    assert _by_path(cfg, store)["/etc"].reasons == ["a backup did not fit on its medium"]

    _state(store, "/etc", changed=0, days_ago=1)
    assert not _by_path(cfg, store)["/etc"].due
    assert _by_path(cfg, store, asked={"web:/etc"})["/etc"].reasons == ["asked by the operator"]
    triggers.request(store, ["web:/etc"])
    assert _by_path(cfg, store)["/etc"].due
    triggers.clear_requests(store, ["web:/etc"])
    assert not _by_path(cfg, store)["/etc"].due
    assert [s.path for s in triggers.due(cfg, store)] == ["/srv/photos"]
