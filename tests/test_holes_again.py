"""backup/holes_again.py punches holes only where the copy reads zeros, whatever ranges it is given:
never data (a copy that is not the base's content after all keeps every byte)."""

from __future__ import annotations

import os
import stat

import pytest

from rabtui.backup import holes_again


def test_punch_leaves_data_and_takes_zeros(tmp_path):
    path = tmp_path / "f"
    content = bytes(2 << 20) + b"data" + bytes((1 << 20) - 4)     # data at 2 MiB, zeros around
    path.write_bytes(content)
    before = os.stat(path).st_blocks
    fd = os.open(path, os.O_RDWR)
    try:
        holes_again.punch(fd, [(0, 3 << 20)])        # "all a hole": the data is read, and kept
        assert holes_again.holes(fd, 3 << 20) == [(0, 2 << 20)]     # the chunk that holds data, whole
    finally:
        os.close(fd)
    assert path.read_bytes() == content
    assert os.stat(path).st_blocks * 512 <= (1 << 20) < before * 512


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_read_only_copies_of_rabtuis_own_user_are_punched_and_keep_their_mode(open_base):
    """rabtui run as its own user owns every file of its backups: a copy it may not write (0444,
    0400) is opened all the same, its mode put back once punched."""
    from tests.other_user import NOBODY, nobody_returns

    content = bytes(4 << 20) + b"data" + bytes((4 << 20) - 4)
    base, dest = open_base / "base", open_base / "dest"
    for top in (base, dest):
        top.mkdir()
        for name, mode in (("ro", 0o444), ("mine", 0o400)):
            with open(top / name, "wb") as f:
                if top == base:
                    f.truncate(len(content))
                    f.seek(4 << 20)
                    f.write(b"data")
                else:
                    f.write(content)
            os.utime(top / name, (1_600_000_000, 1_600_000_000))
            os.chmod(top / name, mode)
            os.chown(top / name, NOBODY.pw_uid, NOBODY.pw_gid)
        os.chown(top, NOBODY.pw_uid, NOBODY.pw_gid)
    os.link(base / "ro", dest / "base's")         # the base's own file is never made writable
    changed = os.stat(base / "ro").st_ctime_ns
    assert nobody_returns(lambda: holes_again.settle(dest, base, [b"ro", b"mine", b"base's"]), open_base) == []
    assert os.stat(base / "ro").st_ctime_ns == changed
    for name, mode in (("ro", 0o444), ("mine", 0o400)):
        st = os.stat(dest / name)
        assert (stat.S_IMODE(st.st_mode), st.st_mtime, st.st_blocks * 512 < 1 << 20) == (mode, 1_600_000_000, True), name
        assert (dest / name).read_bytes() == content
    # setgid to a group not its user's (rsync would not make it so): a chmod of its own would take
    # the bit, so the copy is left as it is
    (base / "ro").replace(base / "group's")
    (dest / "group's").write_bytes(content)
    for top in (base, dest):
        os.chown(top / "group's", NOBODY.pw_uid, 0)
        os.chmod(top / "group's", 0o2555)
    st = os.stat(dest / "group's")
    assert nobody_returns(lambda: holes_again.settle(dest, base, [b"group's"]), open_base) == []
    assert (os.stat(dest / "group's").st_mode, os.stat(dest / "group's").st_ctime_ns) == (st.st_mode, st.st_ctime_ns)


@pytest.mark.skipif(os.geteuid() != 0, reason="a file capability needs root")
def test_killed_with_holes_punched_before_the_attributes_are_back(tmp_path):
    """Killed once a copy is punched, its capability gone with the write: that backup is
    thrown away by the next run, never a base; the next one holds the file whole, sparse, setuid and
    with its capability, and the older backup's file is as it was."""
    from rabtui import faults
    from rabtui.media import medium_layout
    from tests import fidelity, fidelity_more
    from tests.test_kill_anywhere import _killed, rabtui
    from tests.trees import Lab

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    with open(data / "disk.img", "wb") as f:
        f.truncate(8 << 20)
        f.seek(4 << 20)
        f.write(b"data")
    os.setxattr(data / "disk.img", "security.capability", fidelity.CAPABILITY)
    first = lab.backup(cfg, medium_id="m1")
    assert first.status == "completed", first.reason
    was = medium_layout.backup_data_path(first.path, str(data)) / "disk.img"
    held = os.stat(was)
    os.chmod(data / "disk.img", 0o4750)
    _killed(rabtui(lab, "backup", "loc", point=faults.HOLES_AGAIN_POINTS[0]))
    store = lab.store()
    killed = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert killed["status"] == "running"
    punched = medium_layout.backup_data_path(killed["path"], str(data)) / "disk.img"
    assert "security.capability" not in os.listxattr(punched) and fidelity.allocated(punched) < 1 << 20
    after = lab.backup(cfg, medium_id="m1")
    assert (after.status, after.exit_code) == ("completed", 0), after.reason
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "abandoned"
    assert not os.path.exists(killed["path"])
    assert store.one("SELECT link_dest FROM backups ORDER BY id DESC LIMIT 1")["link_dest"] == \
        store.one("SELECT id FROM backups ORDER BY id LIMIT 1")["id"]
    copy = medium_layout.backup_data_path(after.path, str(data))
    assert fidelity_more.differences(data, copy) == []
    assert fidelity.allocated(copy / "disk.img") < 1 << 20
    now = os.stat(was)
    assert (now.st_mode, now.st_mtime_ns, now.st_ctime_ns, now.st_blocks) == \
        (held.st_mode, held.st_mtime_ns, held.st_ctime_ns, held.st_blocks)
    assert os.getxattr(was, "security.capability") == fidelity.CAPABILITY


def test_a_cancel_stops_the_punching_within_a_file_its_attributes_put_back(tmp_path, monkeypatch):
    """A copy of 40 GB is read whole to be punched (minutes on a disk): a cancel stops it within
    the file, which keeps its content and times."""
    import threading

    from rabtui.errors import Cancelled

    content = bytes(4 << 20) + b"data" + bytes((4 << 20) - 4)
    for top in ("base", "dest"):
        (tmp_path / top).mkdir()
        with open(tmp_path / top / "f", "wb") as f:
            if top == "base":
                f.truncate(len(content))
                f.seek(4 << 20)
                f.write(b"data")
            else:
                f.write(content)
        os.utime(tmp_path / top / "f", (1_600_000_000, 1_600_000_000))
    cancel = threading.Event()
    read = os.pread

    def reading(fd, count, offset):     # the operator cancels as the first chunk is read
        cancel.set()
        return read(fd, count, offset)

    monkeypatch.setattr(os, "pread", reading)
    with pytest.raises(Cancelled):
        holes_again.settle(tmp_path / "dest", tmp_path / "base", [b"f"], cancel=cancel)
    monkeypatch.undo()
    st = os.stat(tmp_path / "dest" / "f")
    assert (st.st_mtime, st.st_blocks * 512 > 3 << 20) == (1_600_000_000, True)
    assert (tmp_path / "dest" / "f").read_bytes() == content


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files away")
def test_without_cap_fowner_another_users_copy_is_left_whole_with_its_times_and_setuid(tmp_path):
    """Root without CAP_FOWNER and CAP_FSETID (a container's): a write takes the setuid bit of
    another user's file and sets its time, neither of which it may put back; such a copy is left
    whole, as rsync wrote it."""
    import subprocess
    import sys

    content = bytes(4 << 20) + b"data" + bytes((4 << 20) - 4)
    for top in ("base", "dest"):
        (tmp_path / top).mkdir()
        for name, mode in (("suid", 0o4755), ("plain", 0o644)):
            with open(tmp_path / top / name, "wb") as f:
                if top == "base":
                    f.truncate(len(content))
                    f.seek(4 << 20)
                    f.write(b"data")
                else:
                    f.write(content)
            os.chown(tmp_path / top / name, 65534, 65534)
            os.chmod(tmp_path / top / name, mode)
            os.utime(tmp_path / top / name, (1_600_000_000, 1_600_000_000))
    code = ("import sys\nfrom rabtui.backup import holes_again\n"
            f"sys.exit(repr(holes_again.settle({str(tmp_path / 'dest')!r}, {str(tmp_path / 'base')!r}, [b'suid', b'plain'])))")
    done = subprocess.run(["setpriv", "--bounding-set=-fowner,-fsetid", "--inh-caps=-fowner,-fsetid", sys.executable,
                           "-c", code], capture_output=True, text=True)
    assert done.stderr.strip() == "[]"
    for name, mode in (("suid", 0o4755), ("plain", 0o644)):
        st = os.stat(tmp_path / "dest" / name)
        assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (mode, 1_600_000_000), name
        assert (tmp_path / "dest" / name).read_bytes() == content


def test_a_sparse_file_of_an_archive_directory_whose_mode_alone_changed_keeps_its_holes(tmp_path):
    """rsync --compare-dest (the archive's union) copies the union's file whole too (`cf`): the
    new version, in the backup and in the union, is punched again."""
    from rabtui.media import medium_layout
    from tests import fidelity, fidelity_more
    from tests.trees import Lab

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")])
    src = lab.src / "arch"
    with open(src / "disk.img", "wb") as f:
        f.truncate(8 << 20)
        f.seek(4 << 20)
        f.write(b"data")
    first = lab.backup(cfg, medium_id="m1")
    assert first.status == "completed", first.reason
    was = medium_layout.archive_root(lab.media[0][1], "loc", str(src)) / "disk.img"
    held = os.stat(was)
    os.chmod(src / "disk.img", 0o600)
    second = lab.backup(cfg, medium_id="m1")
    assert (second.status, second.exit_code) == ("completed", 0), second.reason
    copy = medium_layout.backup_data_path(second.path, str(src))
    assert fidelity_more.differences(src, copy) == []
    assert fidelity.allocated(copy / "disk.img") < 1 << 20
    assert os.stat(copy / "disk.img").st_ino == os.stat(was).st_ino != held.st_ino
    older = os.stat(medium_layout.backup_data_path(first.path, str(src)) / "disk.img")
    assert (older.st_ino, stat.S_IMODE(older.st_mode), older.st_mtime_ns) == \
        (held.st_ino, stat.S_IMODE(held.st_mode), held.st_mtime_ns)


@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_a_sparse_file_bigger_than_the_free_room_whose_mode_alone_changed(tmp_path, tmpfs, kind):
    """rsync's whole copy of the base's file (`cf`) does not fit on a medium with less room than the
    file's size: rsync removes it and sends the file instead, written with its holes (--sparse), and
    exits 23 for the copy it gave up. The backup holds every file as the source has it, sparse: it is
    complete, not "medium too small". Names of 255 bytes and not UTF-8 alike."""
    from rabtui.media import medium_layout
    from tests import fidelity, fidelity_more
    from tests.trees import Lab

    lab = Lab(tmp_path, media_count=1)
    tmpfs(lab.media[0][1], "size=4m")
    cfg = lab.local([("data", kind)])
    src = lab.src / "data"
    names = [b"disk.img", b"\xff" * 255, b"d" * 250 + b".img"]
    for i, name in enumerate(names):
        with open(os.path.join(os.fsencode(src), name), "wb") as f:
            f.truncate(8 << 20)
            f.seek((i + 1) << 20)
            f.write(b"data")
    first = lab.backup(cfg, medium_id="m1")
    assert first.status == "completed", first.reason
    for name in names:
        os.chmod(os.path.join(os.fsencode(src), name), 0o600)
    second = lab.backup(cfg, medium_id="m1")
    assert (second.status, second.exit_code) == ("completed", 0), second.reason
    copy = medium_layout.backup_data_path(second.path, str(src))
    assert fidelity_more.differences(src, copy) == []
    assert all(fidelity.allocated(os.path.join(os.fsencode(copy), name)) < 1 << 20 for name in names)
    assert any("rsync sent each instead" in m for m in lab.messages()), lab.messages()


def test_a_sparse_file_whose_data_does_not_fit_either_fails_as_too_small(tmp_path, tmpfs):
    """The copy given up, rsync sends the file, whose data (3 MiB of 8) does not fit beside its
    older version either: the backup failed, the medium too small, as any other."""
    from tests.trees import Lab

    lab = Lab(tmp_path, media_count=1)
    tmpfs(lab.media[0][1], "size=4m")
    cfg = lab.local([("data", "standard")])
    with open(lab.src / "data" / "disk.img", "wb") as f:
        f.truncate(8 << 20)
        f.seek(4 << 20)
        f.write(os.urandom(3 << 20))
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    os.chmod(lab.src / "data" / "disk.img", 0o600)
    second = lab.backup(cfg, medium_id="m1")
    assert (second.status, "medium too small" in (second.reason or "")) == ("failed", True), second.reason
    assert not any("rsync sent each instead" in m for m in lab.messages())


def test_a_whole_copy_that_fits_but_leaves_no_room_for_the_rest_says_what_it_took(tmp_path, tmpfs):
    """rsync's whole copy of a 12 MiB sparse file fits on a 16 MiB medium, the 6 MiB file after it
    then does not, though both would with the copy's holes punched: the backup fails as medium too
    small, and says how much more room the whole copies took while rsync ran."""
    from tests.trees import Lab, write_files

    lab = Lab(tmp_path, media_count=1)
    tmpfs(lab.media[0][1], "size=16m")
    cfg = lab.local([("data", "standard")])
    with open(lab.src / "data" / "a.img", "wb") as f:
        f.truncate(12 << 20)
        f.write(b"data")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    os.chmod(lab.src / "data" / "a.img", 0o600)
    write_files(lab.src / "data", {"b.bin": 6 << 20})
    second = lab.backup(cfg, medium_id="m1")
    assert second.status == "failed" and "medium too small" in second.reason, second.reason
    assert "1 file whose attributes alone changed" in second.reason and "12.0 MiB" in second.reason, second.reason


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run rsync without its right to read everything")
def test_a_copy_given_up_beside_a_file_the_source_could_not_read(tmp_path, tmpfs):
    """rsync's exit 23 says both that a copy of the base's file did not fit (the file sent instead)
    and that a file could not be read on the source: the backup completes with that warning, the
    copy given up is no medium too small."""
    from tests.trees import Lab, write_files

    lab = Lab(tmp_path, media_count=1)
    tmpfs(lab.media[0][1], "size=4m")
    cfg = lab.local([("data", "standard")], extra='rsync_path = "setpriv --bounding-set=-dac_override,-dac_read_search'
                                                  ' --inh-caps=-dac_override,-dac_read_search rsync"')
    data = lab.src / "data"
    with open(data / "disk.img", "wb") as f:
        f.truncate(8 << 20)
        f.write(b"data")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    os.chmod(data / "disk.img", 0o600)
    write_files(data, {"closed": b"secret"})
    os.chmod(data / "closed", 0)
    second = lab.backup(cfg, medium_id="m1")
    assert second.status == "warnings" and "medium too small" not in second.reason, second.reason
    assert "closed" in second.reason, second.reason
