"""An archive directory whose entries changed shape (a file made a directory, a directory made a
file, deleted and made again): a restore of a single path or a narrow prefix, Browse's listing of a
directory below the top, and `find` give what each backup shows (tests/invariants _view), never an
older shape of that place. Real backups (rsync)."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta

import pytest

from rabtui.errors import RabtuiError
from rabtui.state import catalog
from tests import invariants
from tests.test_checkpoint_kind_changed import DAY
from tests.trees import Lab, write_files

def _steps(x: bytes, d: bytes) -> list:
    """Each step: the paths to remove (trees), then the files to write; `x` and `d` the places
    whose shape changes."""
    return [
        ((), {x: b"x file", d + b"/y": b"y in d", b"e/f": b"f", b"keep": b"k"}),
        ((x, d), {x + b"/z": b"z below x", d: b"d, a file now"}),
        ((x, d), {x: b"x a file again", d + b"/w": b"w in d again"}),
        ((b"e", x), {b"e": b"e a file", x + b"/q/r": b"r"}),
    ]


def _history(lab: Lab, steps: list, unrecorded: bool = False) -> Lab:
    """The steps backed up day by day (a replaced entry is said: status warnings; a content of
    ("symlink", target): a symlink); `unrecorded`: the first backup recorded no kinds (made by an
    older version)."""
    from tests.test_kinds_unrecorded import _forget_kinds

    photos = os.fsencode(lab.src / "photos")
    cfg = lab.local([("photos", "archive")])
    for n, (gone, files) in enumerate(steps):
        for name in gone:
            p = os.path.join(photos, name)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            elif os.path.lexists(p):
                os.unlink(p)
        write_files(photos, {k: v for k, v in files.items() if not isinstance(v, tuple)})
        for name, (_kind, target) in ((k, v) for k, v in files.items() if isinstance(v, tuple)):
            os.makedirs(os.path.dirname(os.path.join(photos, name)), exist_ok=True)
            os.symlink(target, os.path.join(photos, name))
        assert lab.backup(cfg, now=DAY + timedelta(days=n)).status in ("completed", "warnings")
        if unrecorded and n == 0:
            store = lab.store()
            _forget_kinds(lab, store, store.one("SELECT * FROM backups"))
    return lab


@pytest.fixture(scope="module", params=["plain", "odd names, the first backup unrecorded"])
def shapes(tmp_path_factory, request):
    """The history on one medium: plain names; or a name not UTF-8 with an escape sequence and one
    of 255 bytes, the first backup recording no kinds."""
    tmp = tmp_path_factory.mktemp("shapes")
    lab = Lab(tmp, media_count=1)
    (tmp / "iso").mkdir()
    odd = request.param != "plain"
    _history(lab, _steps(b"\xff\xfe\x1b[31mx" if odd else b"x", b"D" * 255 if odd else b"d"), odd)
    return lab


def _places(views) -> set[bytes]:
    """Every path any view holds and every directory on the way to one."""
    out = set()
    for view in views:
        for p in view:
            parts = p.split(b"/")
            out |= {b"/".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return out


def _views(lab: Lab):
    """The config, the store, the completed backups, what each shows of the archive directory (by
    id: invariants._view) and every place any of them holds in it (sorted)."""
    cfg, store = lab.load(), lab.store()
    d = cfg.source("loc").directories[0]
    top = d.path.strip("/").encode()
    rows = store.all("SELECT * FROM backups WHERE status IN ('completed', 'warnings') ORDER BY id")
    views = {r["id"]: invariants._view(cfg, store, r, d) for r in rows}
    places = sorted(p for p in _places(views.values()) if p == top or p.startswith(top + b"/"))
    return cfg, store, rows, views, places


def test_a_single_path_restores_as_each_backup_shows_it(shapes, tmp_path):
    from rabtui.restore import run as restore_run

    cfg, store, rows, views, places = _views(shapes)
    wrong = []
    for r in rows:
        view = views[r["id"]]
        for n, place in enumerate(places):
            want = {p: v for p, v in view.items() if p == place or p.startswith(place + b"/")}
            into = os.path.join(os.fsencode(tmp_path), b"%d-%d" % (r["id"], n))
            try:
                restore_run.restore(cfg, store, "loc", b"/" + place, backup=r["name"], to=into)
            except RabtuiError as exc:
                if want:
                    wrong.append((r["id"], place, f"refused: {exc}", want))
                continue
            got = {path: (kind, size, mtime) for kind, path, size, mtime in invariants._walk(into, b"")}
            if got != want:
                wrong.append((r["id"], place, got, want))
    assert not wrong, "\n".join(map(str, wrong))


def test_browse_lists_each_directory_as_each_backup_shows_it(shapes):
    cfg, store, rows, views, places = _views(shapes)
    source = cfg.source("loc")
    wrong = []
    for r in rows:
        view = views[r["id"]]
        dirs = {p.rsplit(b"/", 1)[0] for p in view}
        for place in places:
            listed = catalog.archive_listing(store, "loc", r, source.directories, place)
            got = {n: v[0] for n, v in listed[2].items()} if listed is not None else {}
            want = {}
            for p, v in view.items():
                if p.startswith(place + b"/"):
                    name, below, _ = p[len(place) + 1:].partition(b"/")
                    if v[0] == "file" or below:
                        want[name] = bool(below)
            if place not in dirs and not any(p.startswith(place + b"/") for p in view):
                want = {}
            if got != want:
                wrong.append((r["id"], place, got, want))
    assert not wrong, "\n".join(map(str, wrong))


def test_diff_restores_find_and_discs_agree_with_what_each_backup_shows(shapes, tmp_path):
    """What a backup shows (diff, Browse at the top: catalog.contents) gives back what the older
    directory held once the place is a directory again, as the restores and the discs do."""
    from tests.trees import burn_due

    lab = shapes
    lab.write(lab._local_source([("photos", "archive")], "", "loc")
              + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{lab.tmp / "iso"}"\n')
    cfg, store = lab.load(), lab.store()
    invariants.check_views_are_media(cfg, store, all_pairs=True)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "media")
    invariants.check_found_restores(cfg, store, tmp_path / "found")
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "discs")


def _entries_history(tmp_path, steps: list) -> Lab:
    """`steps` as _steps' (a content of ("symlink", target): a symlink), backed up day by day."""
    return _history(Lab(tmp_path, media_count=1), steps)


def test_files_below_a_place_a_symlink_took_are_gone_from_what_a_backup_shows_and_come_back_with_the_directory(tmp_path):
    """a/x saved, `a` made a symlink, then a directory again: the backup of the symlink shows no
    a/x (diff says it removed, Browse at the top and what it holds leave it out), the next shows
    a/x again beside a/y, as restores from each give them."""
    from rabtui.state import backup_diff

    lab = _entries_history(tmp_path, [((), {b"a/x": b"x", b"k": b"k"}), ((b"a",), {b"a": ("symlink", "k")}),
                                      ((b"a",), {b"a/y": b"y"})])
    cfg, store = lab.load(), lab.store()
    one, two, three = store.all("SELECT * FROM backups ORDER BY id")
    top = os.fsencode(lab.src / "photos").lstrip(b"/")
    arc = (str(lab.src / "photos"),)
    assert set(catalog.contents(store, two, arc)) == {top + b"/k"}
    assert set(catalog.contents(store, three, arc)) == {top + b"/k", top + b"/a/x", top + b"/a/y"}
    assert [e.path for e in backup_diff.diff(store, one, two, arc).removed] == [top + b"/a/x"]
    d = cfg.source("loc").directories[0]
    for row in (one, two, three):
        view = invariants._view(cfg, store, row, d)
        assert catalog.contents(store, row, arc) == {p: v[1:] for p, v in view.items() if v[0] == "file"}
    invariants.check_restores_are_views(cfg, store, tmp_path / "restored")


_ODD = b"\xff\xfe\x1b[31m" + b"A" * 248


@pytest.mark.parametrize("steps", [
    [((), {b"a": ("symlink", "k"), b"k": b"k"}), ((b"a",), {b"a/y": b"y"}), ((), {b"k": b"kk"})],
    [((), {b"a": ("symlink", "k"), b"k": b"k"}), ((b"a",), {b"a/l": ("symlink", "k")}), ((b"a",), {b"a": ("symlink", "j")})],
    [((), {b"a/l": ("symlink", "k"), b"k": b"k"}), ((b"a",), {b"a": ("symlink", "k")})],
    [((), {b"a/b/l": ("symlink", "k"), b"k": b"k"}), ((b"a",), {b"a": b"a file"}), ((b"a",), {b"a/y": b"y"})],
    [((), {_ODD: ("symlink", "k"), b"k": b"k"}), ((_ODD,), {_ODD + b"/y": b"y"})],
], ids=["symlink made a directory", "and back", "directory made a symlink", "directory made a file and back",
        "255 bytes, not UTF-8"])
def test_a_symlink_another_shape_took_the_place_of_is_said_removed(tmp_path, steps):
    lab = _entries_history(tmp_path, steps)
    invariants.check_views_are_media(lab.load(), lab.store(), all_pairs=True)
    invariants.check_catalog_is_media(lab.load(), lab.store())


@pytest.mark.parametrize("f", [b"f", b"\xff\xfe\x1b[31m" + b"F" * 248], ids=["plain", "255 bytes, not UTF-8"])
def test_a_file_an_older_backup_saved_restores_from_a_newer_backup_once_the_place_is_a_directory(tmp_path, f):
    from rabtui.restore import run as restore_run

    lab = _entries_history(tmp_path, [((), {f: b"f1", b"z": b"1"}), ((), {b"z": b"22"}), ((f,), {f + b"/c": b"c"})])
    cfg, store = lab.load(), lab.store()
    two = store.all("SELECT * FROM backups ORDER BY id")[1]
    into = os.fsencode(tmp_path / "restored")
    path = os.path.join(os.fsencode(lab.src / "photos"), f)
    restore_run.restore(cfg, store, "loc", path, backup=two["name"], to=into)
    assert [p for _k, p, *_v in invariants._walk(into, b"")] == [path.lstrip(b"/")]
    with open(os.path.join(into, path.lstrip(b"/")), "rb") as got:
        assert got.read() == b"f1"


def _marked_archive(lab: Lab) -> set[bytes]:
    """The paths (below photos/) of the versions `find "*"` marks `+ archive`."""
    from rabtui.actions.find import find

    cfg, store = lab.load(), lab.store()
    return {v.path.rpartition(b"/photos/")[2] for v in find(cfg, store, "*").versions
            if any(loc.archive for loc in v.locations)}


def test_find_names_the_archive_view_only_for_what_it_holds(tmp_path):
    lab = _entries_history(tmp_path, [((), {b"a/x": b"x"}), ((b"a",), {b"a": b"a file"})])
    assert _marked_archive(lab) == {b"a"}


def test_find_names_the_archive_view_not_for_a_file_a_newer_backup_made_a_directory(tmp_path):
    lab = _entries_history(tmp_path, [((), {b"f": b"f", b"g": b"g", b"s/t": b"t"}), ((b"f",), {b"f/c": b"c"}),
                                      ((b"g",), {b"g/l": ("symlink", "k")})])
    assert _marked_archive(lab) == {b"f/c", b"g/l", b"s/t"}


@pytest.mark.parametrize("odd", [b"", _ODD], ids=["plain", "255 bytes, not UTF-8"])
def test_find_names_the_archive_view_for_the_entry_it_holds_at_each_path(tmp_path, odd, monkeypatch):
    """f a file made a symlink, then a file again; s a symlink made a file; g changed; a/b/l a
    symlink below a place made a file: `find` marks `+ archive` the one entry the view holds at
    each path, as the medium shows it, never an older one a newer entry took the place of."""
    from rabtui.actions.find import find

    f, s = b"f" + odd[:254], b"s" + odd[:254]
    lab = _entries_history(tmp_path, [((), {f: b"f1", b"g": b"g1", s: ("symlink", "k"), b"a/b/l": ("symlink", "k")}),
                                      ((f, s, b"a"), {f: ("symlink", "k"), b"g": b"g22", s: b"s file", b"a": b"a"}),
                                      ((f,), {f: b"f again"})])
    cfg, store = lab.load(), lab.store()
    from rabtui.state import union_shapes

    for few in (union_shapes._FEW, 0):      # the paths looked up one by one, or those saved as both read whole
        monkeypatch.setattr(union_shapes, "_FEW", few)
        in_view = {(v.kind, v.path.rpartition(b"/photos/")[2], v.size) for v in find(cfg, store, "*").versions
                   if any(loc.archive for loc in v.locations)}
        assert in_view == {("file", f, 7), ("file", b"g", 3), ("file", s, 6), ("file", b"a", 1)}
        invariants.check_catalog_is_media(cfg, store)


def test_a_directory_holding_a_symlink_alone_restores_by_its_path_once_its_parent_is_a_file(tmp_path):
    from rabtui.restore import run as restore_run

    lab = _entries_history(tmp_path, [((), {b"a/b/c": ("symlink", "k"), b"a/x": b"x"}), ((b"a",), {b"a": b"a file"})])
    cfg, store = lab.load(), lab.store()
    one = store.all("SELECT * FROM backups ORDER BY id")[0]
    into = tmp_path / "restored"
    restore_run.restore(cfg, store, "loc", os.fsencode(lab.src / "photos" / "a" / "b"), backup=one["name"], to=into)
    assert os.readlink(into / str(lab.src / "photos" / "a" / "b" / "c").lstrip("/")) == "k"


def test_a_file_an_older_backup_saved_restores_from_a_newer_backup_once_its_parent_is_a_symlink(tmp_path):
    from rabtui.restore import run as restore_run

    lab = _entries_history(tmp_path, [((), {b"a/x": b"x", b"z": b"1"}), ((), {b"z": b"22"}),
                                      ((b"a",), {b"a": ("symlink", "z")})])
    cfg, store = lab.load(), lab.store()
    two = store.all("SELECT * FROM backups ORDER BY id")[1]
    into = tmp_path / "restored"
    restore_run.restore(cfg, store, "loc", os.fsencode(lab.src / "photos" / "a" / "x"), backup=two["name"], to=into)
    assert (into / str(lab.src / "photos" / "a" / "x").lstrip("/")).read_bytes() == b"x"


def _planted(lab: Lab, row, where: str, rel: str, target) -> None:
    """`rel` of the archive directory, in the union (`where` "union") or the backup `row`'s own
    tree, made a symlink to `target` outside the medium (a hostile edit of the medium)."""
    from rabtui.media import medium_layout

    d = lab.load().source("loc").directories[0]
    root = medium_layout.archive_root(lab.load().media[0].path, "loc", d.path) if where == "union" \
        else medium_layout.backup_data_path(row["path"], d.path)
    p = root / rel
    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    p.symlink_to(target)


@pytest.mark.parametrize("where", ["union", "own"])
def test_a_restore_of_a_file_a_newer_shape_took_from_the_union_never_follows_a_symlink_planted_there(tmp_path, where):
    """f saved, z changed, f made a directory; f (or, in the union, the directory) made a symlink
    to a directory or file outside the medium: the restore of f from the second gives f as saved,
    or is refused, never what the symlink points to, never an empty directory."""
    from rabtui.restore import run as restore_run

    lab = _entries_history(tmp_path, [((), {b"f": b"f1", b"z": b"1"}), ((), {b"z": b"22"}), ((b"f",), {b"f/c": b"c"})])
    outside = tmp_path / "outside"
    write_files(os.fsencode(outside), {b"c": b"secret", b"f": b"secret!"})
    one, two, _three = lab.store().all("SELECT * FROM backups ORDER BY id")
    _planted(lab, one, where, "f", outside if where == "union" else outside / "f")
    into = tmp_path / "restored"
    try:
        restore_run.restore(lab.load(), lab.store(), "loc", os.fsencode(lab.src / "photos" / "f"),
                            backup=two["name"], to=into)
    except RabtuiError as exc:
        assert where == "own", exc      # the union's symlink is no part of what the second shows
        assert "secret" not in str(exc)
        return
    got = {p: v for _k, p, *v in invariants._walk(os.fsencode(into), b"")}
    assert [p for p in got] == [os.fsencode(lab.src / "photos" / "f").lstrip(b"/")]
    assert (into / str(lab.src / "photos" / "f").lstrip("/")).read_bytes() == b"f1"


def test_a_restore_of_a_file_below_a_symlink_planted_in_the_union_reads_it_where_it_was_saved(tmp_path):
    """a/x saved, z changed; the union's `a` made a symlink to a directory outside the medium
    holding an `x`: the restore of a/x from the second gives the x the first saved."""
    from rabtui.restore import run as restore_run

    lab = _entries_history(tmp_path, [((), {b"a/x": b"x", b"z": b"1"}), ((), {b"z": b"22"})])
    outside = tmp_path / "outside"
    write_files(os.fsencode(outside), {b"x": b"secret"})
    two = lab.store().all("SELECT * FROM backups ORDER BY id")[1]
    _planted(lab, two, "union", "a", outside)
    into = tmp_path / "restored"
    for rel in ("a/x", "a"):
        restore_run.restore(lab.load(), lab.store(), "loc", os.fsencode(lab.src / "photos" / rel),
                            backup=two["name"], to=into / rel)
        assert (into / rel / str(lab.src / "photos" / "a" / "x").lstrip("/")).read_bytes() == b"x"


@pytest.mark.parametrize("name, kind", [(b"a", "archive"), (_ODD, "archive"), (b"a", "standard")],
                         ids=["plain", "255 bytes, not UTF-8", "the first standard"])
def test_diff_of_a_symlink_saved_under_two_directories_as_the_config_changed(tmp_path, name, kind):
    """/data saved (its photos/a a symlink; an archive directory, or a standard one), then
    /data/photos alone configured (a re-pointed), then a made a directory: diff of the first two
    still says a changed (not added, as it read the entries of one directory alone), the last two
    that the symlink went and a/y came."""
    from rabtui.state import backup_diff, others

    lab = Lab(tmp_path, media_count=1)
    data = os.fsencode(lab.src / "data")
    photos = os.path.join(data, b"photos")
    write_files(data, {b"z": b"z"})
    os.mkdir(photos)
    os.symlink(b"k1", os.path.join(photos, name))
    assert lab.backup(lab.local([("data", kind)]), now=DAY).status == "completed"
    os.unlink(os.path.join(photos, name))
    os.symlink(b"k2", os.path.join(photos, name))
    cfg = lab.local([("data/photos", "archive")])
    assert lab.backup(cfg, now=DAY + timedelta(days=1)).status == "completed"
    store = lab.store()
    arc = (os.fsdecode(photos),) + ((os.fsdecode(data),) if kind == "archive" else ())
    path = os.path.join(photos, name).lstrip(b"/")
    one, two = store.all("SELECT * FROM backups ORDER BY id")
    assert others.changes(store, one, two, arc) == [(path, "symlink", "symlink")]
    os.unlink(os.path.join(photos, name))
    write_files(photos, {name + b"/y": b"y"})
    assert lab.backup(cfg, now=DAY + timedelta(days=2)).status == "warnings"
    one, two, three = store.all("SELECT * FROM backups ORDER BY id")
    assert others.changes(store, one, two, arc) == [(path, "symlink", "symlink")]
    assert others.changes(store, two, three, arc) == [(path, "symlink", None)]
    diff = backup_diff.diff(store, two, three, arc)
    assert ([e.path for e in diff.removed], [e.path for e in diff.added]) == ([path], [path + b"/y"])


def test_diff_between_any_two_backups_of_a_place_cycling_through_shapes_and_after_a_cleanup(tmp_path):
    """A 255-byte name that is not UTF-8 a symlink, a directory, a file, a symlink again, a
    directory holding a symlink, with backups that changed nothing between: diff of any two
    backups either way says what the media show, also once a cleanup deleted those between."""
    from rabtui.backup import deletion, retention

    a = _ODD
    lab = _entries_history(tmp_path, [((), {a: ("symlink", "k"), b"k": b"k", b"n": b"1"}), ((a,), {a + b"/y": b"y"}),
                                      ((), {}), ((a,), {a: b"a file"}), ((a,), {a: ("symlink", "j")}), ((), {}),
                                      ((a,), {a + b"/z": ("symlink", "k")})])
    invariants.check_views_are_media(lab.load(), lab.store(), all_pairs=True)
    invariants.check_catalog_is_media(lab.load(), lab.store())
    lab.keep_a_day()
    cfg, store = lab.load(), lab.store()
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=30))
    assert {r["id"] for r in store.all("SELECT id FROM backups ORDER BY id")} & {c.id for c in plan.delete} >= {3, 6}
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    invariants.check_views_are_media(cfg, store, all_pairs=True)
    invariants.check_catalog_is_media(cfg, store)
