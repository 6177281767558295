"""Which files an archive directory's plan reads from the backups rather than the union
(kept_data._newest_saved): of each file, its newest version saved on the medium up to the backup
the plan reads, where a kept backup saved it, or a complete one and the union does not show it.
Generated catalogs, compared with that rule read off every file's newest version: a directory
configured as `/` (its paths are the names below it), names not UTF-8, a path that is the directory
itself, a file of another directory (inside this one or not)."""

from __future__ import annotations

from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rabtui.checkpoint.kept_data import _newest_saved
from rabtui.state import catalog
from rabtui.state.store import KEPT, Store

NAMES = [b"", b"a", b"a/x", b"a-\xff", b"a-\xff/\xe9t\xe9", b"b/c/d", b"x\x80y"]
BACKUPS = st.lists(st.tuples(st.booleans(), st.sets(st.sampled_from(NAMES))), min_size=1, max_size=4)
_sources, _ids = count(1), count(1)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("state"))
    yield store
    store.close()


@settings(max_examples=60, deadline=None)
@given(dir_path=st.sampled_from(["/", "/srv/a-\xe9"]), backups=BACKUPS, shown=st.sets(st.sampled_from(NAMES)))
def test_the_files_read_from_the_backups_are_those_the_union_does_not_show_or_kept_data_saved(store, dir_path,
                                                                                            backups, shown):
    source = f"s{next(_sources)}"     # each example a source of its own in the one database
    top = catalog.rel_path(dir_path)
    full = {rel: (top + b"/" + rel if rel else top) if top else rel for rel in NAMES if top or rel}
    for rel, path in full.items():
        store.execute("INSERT INTO paths(source, dir, path) VALUES (?, ?, ?)", (source, dir_path, path))
    # a file of another directory of the source: outside this one, none of its rows may bring it in;
    # inside it (the directory is `/`), it is the union's too (a directory configured inside it before)
    store.execute("INSERT INTO paths(source, dir, path) VALUES (?, '/srv/other', ?)", (source, b"srv/other/o"))
    if not top:
        full[b"srv/other/o"] = b"srv/other/o"
    ids = {bytes(r[1]): r[0] for r in store.all("SELECT id, path FROM paths WHERE source=?", (source,))}
    made = []
    for kept, written in backups + [(False, None)]:     # the last: the complete backup the plan reads
        made.append((i := next(_ids), kept))
        store.execute("INSERT INTO backups(id, source, medium, name, path, started, status)"
                      " VALUES (?, ?, 'm1', ?, ?, ?, ?)", (i, source, f"b{i}", f"/x/b{i}", i, KEPT if kept else "completed"))
        saved = [full[b"a"]] if written is None else [full[rel] for rel in written if rel in full] + [b"srv/other/o"]
        for path in saved:
            store.execute("INSERT INTO versions(path_id, medium, size, mtime, first_backup, last_backup)"
                          " VALUES (?, 'm1', ?, ?, ?, ?)", (ids[path], i, 100 + i, i, i))
    backup = store.one("SELECT * FROM backups WHERE id=?", (made[-1][0],))
    kept = [i for i, k in made[:-1] if k]
    linked = [i for i, k in made[:-1] if not k]
    want = []
    for rel, path in full.items():
        newest = store.one("SELECT size, mtime, first_backup FROM versions WHERE path_id=?"
                           " ORDER BY first_backup DESC LIMIT 1", (ids[path],))
        if newest and (newest[2] in kept or (newest[2] in linked and rel not in shown)):
            want.append((path, *newest))
    assert _newest_saved(store, backup, dir_path, top, kept, linked, {rel: n for n, rel in enumerate(shown)}) \
        == sorted(want)
