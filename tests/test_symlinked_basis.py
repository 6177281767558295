"""A directory of the source that was a symlink in the older backup (or in the archive's union) and
is a directory now. rsync looks for the files of the basis (--link-dest, --compare-dest) through
that symlink, which came from the source and may point anywhere on this server, so without care:

- a standard backup hard-links a file of the server that looks the same (size, time, mode, owner)
  into the backup, and a restore hands it to the source;
- an archive backup leaves out a file of the source that a file out there resembles, and the union
  links the new files through the symlink: a file of the source replaces the server's own.

Real rsync, locally and over the test sshd; the server's files are checked byte for byte and by
inode.
"""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import example, given, strategies as st

from rabtui.backup.union_link import link_into_union
from rabtui.errors import WorkFailed
from rabtui.media import medium_layout
from rabtui.restore import run as R
from tests.trees import Lab, snapshot, ssh_source_lines, write_files

OLD = 1_577_836_800      # 2020-01-01: the time the planted look-alike shares with the server's file
ODD = b"odd \xff\nname"    # not UTF-8, a line break (escaped by rsync, NUL-separated for --files-from)


def _server_file(tmp_path, name: str, content: bytes):
    outside = tmp_path / "server"
    outside.mkdir(exist_ok=True)
    path = outside / name
    path.write_bytes(content)
    os.chmod(path, 0o600)
    os.utime(path, (OLD, OLD))
    return outside, path


def _look_alike(path: bytes, content: bytes) -> None:
    """A file of the source with the server file's size, time and mode, and other content."""
    with open(path, "wb") as f:
        f.write(content)
    os.chmod(path, 0o600)
    os.utime(path, (OLD, OLD))


def _flip(src: bytes, rel: bytes, files: dict[bytes, bytes]) -> None:
    """The symlink `rel` under src becomes a directory holding `files` (look-alikes)."""
    os.unlink(os.path.join(src, rel))
    os.makedirs(os.path.join(src, rel))
    for name, content in files.items():
        _look_alike(os.path.join(src, rel, name), content)


def _versions(lab: Lab, backup_id: int) -> dict[bytes, tuple[int, int]]:
    rows = lab.store().all("SELECT p.path, v.size, v.mtime FROM versions v JOIN paths p ON p.id=v.path_id"
                           " WHERE v.first_backup<=? AND v.last_backup>=?", (backup_id, backup_id))
    return {bytes(r[0]): (r[1], r[2]) for r in rows}


def _ssh_lab(tmp_path, sshd, kind: str) -> tuple[Lab, object, bytes, str]:
    lab = Lab(tmp_path)
    data = lab.src / "data"
    data.mkdir()
    text = ssh_source_lines(sshd) + f'\n[[sources.directories]]\npath = "{data}"\nkind = "{kind}"\n'
    cfg = lab.write(text)
    lab.trust(sshd)
    return lab, cfg, os.fsencode(data), "web"


def _local_lab(tmp_path, kind: str) -> tuple[Lab, object, bytes, str]:
    lab = Lab(tmp_path)
    cfg = lab.local([("data", kind)])
    return lab, cfg, os.fsencode(lab.src / "data"), "loc"


@pytest.fixture(params=["local", "ssh"])
def where(request):
    return request.param


def _lab(tmp_path, request_sshd, where: str, kind: str):
    return _local_lab(tmp_path, kind) if where == "local" else _ssh_lab(tmp_path, request_sshd(), kind)


@pytest.fixture
def lazy_sshd(request):
    return lambda: request.getfixturevalue("sshd")


def test_a_standard_backup_never_links_a_server_file_through_an_old_symlink(tmp_path, lazy_sshd, where):
    lab, cfg, src, sid = _lab(tmp_path, lazy_sshd, where, "standard")
    outside, secret = _server_file(tmp_path, "shadow", b"SERVER SECRET")
    write_files(src, {b"keep": b"kept", b"deep/er/x": b"x"})
    os.symlink(outside, os.path.join(src, b"deep/er", ODD))
    first = lab.backup(cfg, sid, medium_id="m1")
    assert first.status == "completed", first.reason
    _flip(src, b"deep/er/" + ODD, {b"shadow": b"the source's", b"more": b"m"})

    second = lab.backup(cfg, sid, medium_id="m1")
    data = os.fsencode(medium_layout.backup_data_path(second.path, os.fsdecode(src)))
    copied = os.path.join(data, b"deep/er", ODD, b"shadow")
    assert open(copied, "rb").read() == b"the source's"
    assert os.stat(copied).st_ino != os.stat(secret).st_ino
    assert secret.read_bytes() == b"SERVER SECRET" and os.stat(secret).st_nlink == 1
    assert snapshot(data) == snapshot(src)
    # the symlink pointed out of the older backup: said, as a warning of the directory
    assert second.status == "warnings" and "1 directory of the source was a symlink out of" in second.reason and "deep/er/odd \\377\\nname" in second.reason
    # counted once each: the first rsync left the directory's items out, the second brought them
    row = lab.store().one("SELECT files, new_files FROM backup_dirs WHERE backup_id=?", (second.backup_id,))
    assert (row["files"], row["new_files"]) == (4, 2)
    assert _versions(lab, second.backup_id) == {
        os.path.relpath(os.path.join(src, p), b"/"): (len(c), int(os.stat(os.path.join(src, p)).st_mtime))
        for p, c in snapshot(src).items()}

    # from then on the directory is linked as any other
    third = lab.backup(cfg, sid, medium_id="m1")
    assert third.status == "completed", third.reason
    again = os.path.join(os.fsencode(medium_layout.backup_data_path(third.path, os.fsdecode(src))), b"deep/er", ODD, b"shadow")
    assert os.stat(again).st_ino == os.stat(copied).st_ino


def test_an_archive_never_writes_through_a_symlink_of_its_union(tmp_path, lazy_sshd, where):
    lab, cfg, src, sid = _lab(tmp_path, lazy_sshd, where, "archive")
    outside, passwd = _server_file(tmp_path, "passwd", b"root:x:0:0")
    _, other = _server_file(tmp_path, "group", b"same size!")
    write_files(src, {b"photo": b"p"})
    os.symlink(outside, os.path.join(src, ODD))
    first = lab.backup(cfg, sid, medium_id="m1")
    assert first.status == "completed", first.reason
    union = os.fsencode(medium_layout.archive_root(lab.media[0][1], sid, os.fsdecode(src)))
    assert os.path.islink(os.path.join(union, ODD))
    # "group" looks like the server's own (--compare-dest would leave it out); "passwd" is new
    _flip(src, ODD, {b"passwd": b"from the source, to overwrite the server's", b"group": b"not same!!"})

    second = lab.backup(cfg, sid, medium_id="m1")
    assert second.status == "warnings" and "1 directory of the source was a symlink out of" in second.reason
    assert passwd.read_bytes() == b"root:x:0:0" and other.read_bytes() == b"same size!"
    assert sorted(os.listdir(outside)) == ["group", "passwd"]
    data = os.fsencode(medium_layout.backup_data_path(second.path, os.fsdecode(src)))
    assert snapshot(data) == {ODD + b"/passwd": b"from the source, to overwrite the server's",
                              ODD + b"/group": b"not same!!"}
    assert not os.path.islink(os.path.join(union, ODD))
    assert snapshot(union) == snapshot(src)


def _archive_with_a_symlink_out(tmp_path):
    """An archive directory backed up once with `e`, a symlink to a directory of the server."""
    lab, cfg, src, sid = _local_lab(tmp_path, "archive")
    outside, _ = _server_file(tmp_path, "passwd", b"root:x:0:0")
    write_files(src, {b"photo": b"p"})
    os.symlink(outside, os.path.join(src, b"e"))
    assert lab.backup(cfg, sid, medium_id="m1").status == "completed"
    return lab, cfg, src, sid


def test_names_of_one_file_copied_again_in_an_archive_are_files_of_their_own(tmp_path):
    lab, cfg, src, sid = _archive_with_a_symlink_out(tmp_path)
    _flip(src, b"e", {b"x": b"XXXX"})
    os.link(os.path.join(src, b"e/x"), os.path.join(src, b"e/y"))
    second = lab.backup(cfg, sid, medium_id="m1")
    assert second.status == "warnings", second.reason
    data = os.fsencode(medium_layout.backup_data_path(second.path, os.fsdecode(src)))
    assert os.stat(os.path.join(data, b"e/x")).st_ino != os.stat(os.path.join(data, b"e/y")).st_ino
    row = lab.store().one("SELECT new_files FROM backup_dirs WHERE backup_id=?", (second.backup_id,))
    assert row["new_files"] == 2 and {p.rsplit(b"/", 1)[1] for p in _versions(lab, second.backup_id)} == {b"x", b"y"}


def test_an_archive_directory_that_was_a_symlink_is_a_directory_in_the_union_even_empty(tmp_path):
    lab, cfg, src, sid = _archive_with_a_symlink_out(tmp_path)
    _flip(src, b"e", {})
    assert lab.backup(cfg, sid, medium_id="m1").status == "warnings"
    union = os.fsencode(medium_layout.archive_root(lab.media[0][1], sid, os.fsdecode(src)))
    assert os.path.isdir(os.path.join(union, b"e")) and not os.path.islink(os.path.join(union, b"e"))
    # so the next backup finds nothing to copy again, and nothing to warn of
    third = lab.backup(cfg, sid, medium_id="m1")
    assert third.status == "completed", third.reason


def test_a_symlink_within_the_tree_is_copied_again_without_a_warning(tmp_path):
    lab, cfg, src, sid = _local_lab(tmp_path, "standard")
    write_files(src, {b"releases/5/app": b"v5"})
    os.symlink(b"releases/5", os.path.join(src, b"current"))
    assert lab.backup(cfg, sid, medium_id="m1").status == "completed"
    os.unlink(os.path.join(src, b"current"))
    write_files(src, {b"current/app": b"v6"})
    second = lab.backup(cfg, sid, medium_id="m1")
    assert second.status == "completed", second.reason
    data = os.fsencode(medium_layout.backup_data_path(second.path, os.fsdecode(src)))
    assert snapshot(data) == {b"releases/5/app": b"v5", b"current/app": b"v6"}
    assert "copying again current" in (second.path / "backup.log").read_text()


def test_the_union_replaces_a_symlink_that_stands_where_a_directory_is_needed(tmp_path):
    data, union, outside = tmp_path / "data", tmp_path / "union", tmp_path / "outside"
    for d in (data / "a" / "b", union, outside):
        d.mkdir(parents=True)
    (data / "a" / "b" / "f").write_bytes(b"new")
    os.symlink(outside, union / "a")
    assert link_into_union(data, union, [b"a/b/f"], staging=tmp_path / "linking") == 1
    assert not (union / "a").is_symlink() and (union / "a" / "b" / "f").read_bytes() == b"new"
    assert os.listdir(outside) == []
    # a file where a directory is needed gives its place too, and is named (its backup keeps it)
    (data / "c").mkdir()
    (data / "c" / "g").write_bytes(b"g")
    (union / "c").write_bytes(b"a file")
    replaced = []
    assert link_into_union(data, union, [b"c/g"], replaced, staging=tmp_path / "linking") == 1
    assert replaced == [b"c"] and (union / "c" / "g").read_bytes() == b"g"


@pytest.mark.parametrize("other", [b"z/g", b"0/g"])
def test_a_hard_link_elsewhere_to_a_re_copied_file_is_copied_again_with_it(tmp_path, lazy_sshd, where, other):
    """rsync -H makes the other names of a file links of what the first pass put below the
    directory: the server's file, found through the symlink. The other name sorts after the
    directory (a link made to what the first pass put there) or before it (rsync sends it first)."""
    lab, cfg, src, sid = _lab(tmp_path, lazy_sshd, where, "standard")
    outside, secret = _server_file(tmp_path, "shadow", b"SERVER SECRET")
    write_files(src, {b"keep": b"kept"})
    os.symlink(outside, os.path.join(src, b"a"))
    assert lab.backup(cfg, sid, medium_id="m1").status == "completed"
    _flip(src, b"a", {b"shadow": b"SOURCE'S OWN!"})
    os.makedirs(os.path.dirname(os.path.join(src, other)))
    os.link(os.path.join(src, b"a/shadow"), os.path.join(src, other))

    second = lab.backup(cfg, sid, medium_id="m1")
    data = os.fsencode(medium_layout.backup_data_path(second.path, os.fsdecode(src)))
    assert secret.read_bytes() == b"SERVER SECRET" and os.stat(secret).st_nlink == 1
    assert snapshot(data) == snapshot(src)
    assert os.stat(os.path.join(data, other)).st_ino == os.stat(os.path.join(data, b"a/shadow")).st_ino
    row = lab.store().one("SELECT files FROM backup_dirs WHERE backup_id=?", (second.backup_id,))
    assert row["files"] == 3 and len(_versions(lab, second.backup_id)) == 3


def test_a_symlink_hard_linked_elsewhere_is_copied_again_with_it(tmp_path):
    """--link-dest links a symlink with the same target and time too: below the directory it finds
    the server's own symlink, and -H makes the other name of the source's symlink its inode."""
    lab, cfg, src, sid = _local_lab(tmp_path, "standard")
    outside, _ = _server_file(tmp_path, "shadow", b"S")
    server_link = os.path.join(os.fsencode(outside), b"lnk")
    os.symlink(b"/etc/hostname", server_link)
    os.utime(server_link, (OLD, OLD), follow_symlinks=False)
    write_files(src, {b"keep": b"kept"})
    os.symlink(outside, os.path.join(src, b"a"))
    assert lab.backup(cfg, sid, medium_id="m1").status == "completed"
    _flip(src, b"a", {})
    mine = os.path.join(src, b"a/lnk")
    os.symlink(b"/etc/hostname", mine)
    os.utime(mine, (OLD, OLD), follow_symlinks=False)
    os.makedirs(os.path.join(src, b"z"))
    os.link(mine, os.path.join(src, b"z/lnk2"), follow_symlinks=False)

    second = lab.backup(cfg, sid, medium_id="m1")
    data = os.fsencode(medium_layout.backup_data_path(second.path, os.fsdecode(src)))
    assert os.lstat(server_link).st_nlink == 1
    assert os.lstat(os.path.join(data, b"z/lnk2")).st_ino == os.lstat(os.path.join(data, b"a/lnk")).st_ino
    assert os.readlink(os.path.join(data, b"z/lnk2")) == b"/etc/hostname"


def test_a_directory_that_became_a_symlink_before_the_second_rsync_waits(tmp_path, monkeypatch):
    """A local source is on this server: a directory on the way to one copied again that the
    source turns into a symlink after the first rsync is not followed by the second (it would
    read wherever the symlink points, as root)."""
    from rabtui.backup import transfer

    lab, cfg, src, sid = _local_lab(tmp_path, "standard")
    outside, _ = _server_file(tmp_path, "shadow", b"SERVER SECRET")
    write_files(src, {b"x/keep": b"kept"})
    os.symlink(b"/nowhere", os.path.join(src, b"x/etc"))
    assert lab.backup(cfg, sid, medium_id="m1").status == "completed"
    _flip(src, b"x/etc", {b"mine": b"mine"})
    real, calls = transfer._rsync, []

    def swapped_after_the_first(argv, stream, source, cancel, **kw):
        result = real(argv, stream, source, cancel, **kw)
        if not calls:
            os.rename(os.path.join(src, b"x"), os.path.join(src, b"x.old"))
            os.symlink(os.fsencode(outside.parent), os.path.join(src, b"x"))
            os.symlink(os.fsencode(outside), os.path.join(os.fsencode(outside.parent), b"etc"))
        calls.append(argv)
        return result

    monkeypatch.setattr(transfer, "_rsync", swapped_after_the_first)
    second = lab.backup(cfg, sid, medium_id="m1")
    assert len(calls) == 2 and second.status == "warnings"
    assert "became symlinks on the source while it was backed up (x/etc)" in second.reason
    data = os.fsencode(medium_layout.backup_data_path(second.path, os.fsdecode(src)))
    assert not os.path.lexists(os.path.join(data, b"x/etc"))

def test_undoing_an_archive_backup_never_links_through_an_older_backups_symlink(tmp_path):
    """Deleting a backup (or undoing a killed one) puts the older backup's version back into the
    union: where the older backup held a symlink, there is none to put back below it; the symlink
    itself is put back."""
    from rabtui.backup import history

    lab, cfg, src, sid = _local_lab(tmp_path, "archive")
    outside, secret = _server_file(tmp_path, "shadow", b"SERVER SECRET")
    os.symlink(outside, os.path.join(src, b"d"))
    assert lab.backup(cfg, sid, medium_id="m1").status == "completed"
    _flip(src, b"d", {b"shadow": b"the source's own shadow"})
    second = lab.backup(cfg, sid, medium_id="m1")
    assert second.status == "warnings", second.reason
    union = os.fsencode(medium_layout.archive_root(lab.media[0][1], sid, os.fsdecode(src)))

    history.unlink_archive(cfg, sid, second.path)
    assert secret.read_bytes() == b"SERVER SECRET" and os.stat(secret).st_nlink == 1
    # the union shows the older backup's symlink again, nothing linked through it
    assert os.readlink(os.path.join(union, b"d")) == os.fsencode(outside)
    assert sorted(os.listdir(outside)) == ["shadow"]


@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_a_restore_takes_nothing_through_a_symlink_of_the_backup(tmp_path, kind):
    lab, cfg, src, sid = _local_lab(tmp_path, kind)
    outside, secret = _server_file(tmp_path, "shadow", b"SERVER SECRET")
    write_files(src, {b"keep": b"k"})
    os.symlink(outside, os.path.join(src, ODD))
    assert lab.backup(cfg, sid, medium_id="m1").status == "completed"
    asked = os.path.join(src, ODD, b"shadow")
    for kwargs in ({"to": tmp_path / "target"}, {"to_source": True}):
        with pytest.raises(WorkFailed, match="is a symlink there"):
            R.restore(cfg, lab.store(), sid, asked, **kwargs)
    assert not (tmp_path / "target").exists() and secret.read_bytes() == b"SERVER SECRET"
    # the symlink itself comes back as a symlink
    R.restore(cfg, lab.store(), sid, os.path.join(src, ODD), to=tmp_path / "target")
    back = os.path.join(os.fsencode(tmp_path / "target"), src.lstrip(b"/"), ODD)
    assert os.readlink(back) == os.fsencode(outside)

# --- the promise over generated histories ----------------------------------------------------------

SLOTS = (b"s", b"deep/t")
SHAPES = ("absent", "link out", "link in", "directory")
SERVER = {b"f1": b"server one", b"f2": b"server two!"}


def _shape(src: bytes, slot: bytes, shape: str, variant: int) -> None:
    path = os.path.join(src, slot)
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
    if shape == "absent":
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if shape == "link out":
        os.symlink(os.path.join(src, b"..", b"..", b"server"), path)
    elif shape == "link in":
        os.symlink(b"/".join([b".."] * slot.count(b"/")) + b"/inside" if b"/" in slot else b"inside", path)
    else:
        os.makedirs(path)
        for name, content in SERVER.items():
            # a look-alike of the server's file (same size, time, mode), or content of its own
            _look_alike(os.path.join(path, name), content.upper() if variant % 2 else content[:-1] + b"#")
        if variant >= 2:
            _look_alike(os.path.join(path, b"own"), b"own %d" % variant)
        if variant == 3:
            # another name of a look-alike, after it in the tree (rsync -H links it to the first)
            other = os.path.join(src, b"zz-" + slot.replace(b"/", b"-"))
            if os.path.lexists(other):
                os.unlink(other)
            os.link(os.path.join(path, b"f1"), other)


@pytest.mark.slow
@example(history=[("link out", "link in", 0, "m1"), ("directory", "directory", 3, "m1"),
                  ("link in", "link out", 1, "m1"), ("directory", "directory", 3, "m1"), ("absent", "directory", 2, "m2")])
@given(history=st.lists(st.tuples(st.sampled_from(SHAPES), st.sampled_from(SHAPES), st.integers(0, 3),
                                  st.sampled_from(["m1", "m2"])), min_size=2, max_size=5))
def test_no_backup_reads_or_writes_through_a_symlink_of_the_source(tmp_path_factory, history):
    tmp_path = tmp_path_factory.mktemp("flips")
    lab = Lab(tmp_path)
    cfg = lab.local([("std", "standard"), ("arch", "archive")])
    server = tmp_path / "server"
    server.mkdir()
    for name, content in SERVER.items():
        _look_alike(os.path.join(os.fsencode(server), name), content)
    inodes = {os.stat(server / os.fsdecode(n)).st_ino for n in SERVER}
    dirs = {kind: os.fsencode(lab.src / kind) for kind in ("std", "arch")}
    for src in dirs.values():
        write_files(src, {b"inside/f1": b"inside one", b"deep/inside/f1": b"deep inside"})
    seen_in_archive: dict[bytes, bytes] = {}
    for shape_s, shape_t, variant, medium in history:
        for src in dirs.values():
            _shape(src, SLOTS[0], shape_s, variant)
            _shape(src, SLOTS[1], shape_t, variant)
        result = lab.backup(cfg, medium_id=medium)
        assert result.status in ("completed", "warnings"), result.reason
        # the server's files: untouched, linked nowhere
        assert {n.encode(): (server / n).read_bytes() for n in os.listdir(server)} == SERVER
        assert all(os.stat(server / os.fsdecode(n)).st_nlink == 1 for n in SERVER)
        # the standard directory's backup is the source, byte for byte
        std = os.fsencode(medium_layout.backup_data_path(result.path, os.fsdecode(dirs["std"])))
        assert snapshot(std) == snapshot(dirs["std"])
        # the archive's union holds every file the source ever had there, none of the server's
        seen_in_archive.update(snapshot(dirs["arch"]))
        union = os.fsencode(medium_layout.archive_root(lab.media[int(medium[1]) - 1][1], "loc", os.fsdecode(dirs["arch"])))
        for rel, content in snapshot(dirs["arch"]).items():
            assert open(os.path.join(union, rel), "rb").read() == content
        for root in (std, union):
            for dirpath, _dirs, names in os.walk(root):
                assert not inodes & {os.lstat(os.path.join(dirpath, n)).st_ino for n in names}
    assert seen_in_archive
