"""A restore from discs where the restoring process lacks a privilege for some entries (a device
node without CAP_MKNOD, a trusted.* xattr without CAP_SYS_ADMIN, a file capability without
CAP_SETFCAP, as in a container): every other entry is restored, a directory whose xattr was refused
with all it holds, and each refused one is named (exit 3), as a restore from a medium does. xorriso
stopped at the first refusal, and the whole restore failed. Real xorriso, an `images:` drive."""

from __future__ import annotations

import os
import stat

import pytest

from tests import fidelity
from tests.trees import Lab, burn_due, restore_without

ODD = b"/odd\n' = 'name\xff"      # a device whose name xorriso's messages quote and escape
LINKED = b"in\n' = 'ner\xff"    # a file with three names, one quoted and escaped in xorriso's messages
CAP = bytes.fromhex("0100000200200000000000000000000000000000")    # cap_net_raw+ep, as setcap writes it


@pytest.fixture(scope="module")
def _refused_made(tmp_path_factory):
    from tests.trees import made_once

    def make(live):
        lab = Lab(live, media_count=1)
        cfg = lab.with_discs("4MiB")
        data = lab.src / "data"
        os.mknod(data / "null-like", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(os.fsencode(data) + ODD, stat.S_IFBLK | 0o600, os.makedev(7, 200))
        (data / "closed/sub").mkdir(parents=True)
        (data / "closed/inner").write_text("inside a directory with a trusted xattr\n")
        os.setxattr(data / "closed/inner", "user.kept", b"an xattr")
        os.link(data / "closed/inner", data / "linked-inner")     # a hard link out of it
        (data / "closed/empty").write_bytes(b"")                  # an empty one: its data on the disc tells nothing
        os.link(data / "closed/empty", data / "linked-empty")
        (data / "other-empty").write_bytes(b"")
        (data / "closed/sub/deep").write_text("deeper\n")
        os.setxattr(data / "closed", "trusted.mark", b"root's")
        os.setxattr(data / "closed", "user.also", b"the user's")
        (data / "capable").write_text("a program with a capability\n")
        os.setxattr(data / "capable", "security.capability", CAP)
        (data / "plain").write_text("nothing special\n")
        (data / "cut").write_bytes(b"\x01" * 5_000_000)     # cut into parts on two discs, each with the capability
        os.setxattr(data / "cut", "security.capability", CAP)
        os.chmod(data / "closed", 0o750)
        os.utime(data / "closed", (1_600_000_000, 1_600_000_000))
        os.utime(data, (1_500_000_000, 1_500_000_000))
        assert lab.backup(cfg).status == "completed"
        burn_due(cfg, lab.store(), asked={"*"})
        return str(data)

    if not fidelity.is_root():
        pytest.skip("only root restores device nodes and trusted xattrs")
    yield from made_once(tmp_path_factory, make)


def test_what_the_process_may_not_restore_is_named_and_the_rest_restored(_refused_made):
    data, made = _refused_made
    live = made.anew()
    out = live / "out"
    got = restore_without("mknod,sys_admin,setfcap", Lab(live, media_count=1), data, out, checkpoint=1)
    assert not got["errors"], got
    restored = out / data.lstrip("/")
    assert (restored / "plain").read_text() == "nothing special\n"
    assert (restored / "capable").read_text() == "a program with a capability\n"
    assert (restored / "closed/inner").read_text() == "inside a directory with a trusted xattr\n"
    assert os.getxattr(restored / "closed/inner", "user.kept") == b"an xattr"
    assert (restored / "closed/sub/deep").read_text() == "deeper\n"
    assert os.getxattr(restored / "closed", "user.also") == b"the user's"
    st = os.stat(restored / "closed")
    assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (0o750, 1_600_000_000), (oct(st.st_mode), st.st_mtime)
    assert os.stat(restored).st_mtime == 1_500_000_000     # what holds what came off again keeps its time
    assert not os.path.lexists(restored / "null-like")
    named = {(n["kind"], os.path.relpath("/" + n["path"], data)): n["why"] for n in got["not_restored"]}
    odd = os.fsdecode(ODD[1:])
    assert set(named) == {("device", "null-like"), ("device", odd), ("attribute", "closed"),
                          ("attribute", "capable"), ("attribute", "cut")}, named
    assert (restored / "cut").read_bytes() == b"\x01" * 5_000_000
    assert "CAP_MKNOD" in named[("device", "null-like")]
    assert "trusted.mark" in named[("attribute", "closed")] and "Operation not permitted" in named[("attribute", "closed")]
    assert "security.capability" in named[("attribute", "capable")]
    # what the directory holds came off in another run than the rest: a hard link out of it, which
    # the disc holds (the two names share their data), is made again
    assert os.stat(restored / "linked-inner").st_ino == os.stat(restored / "closed/inner").st_ino
    assert os.stat(restored / "linked-inner").st_nlink == 2
    assert os.stat(restored / "linked-empty").st_ino == os.stat(restored / "closed/empty").st_ino
    assert os.stat(restored / "linked-empty").st_nlink == 2         # other-empty not linked to them
    # each refusal names the disc the entry came off, whichever of the two it is on
    store = Lab(live, media_count=1).store()
    for name in ("closed", "capable"):
        under = os.path.join(data, name).lstrip("/").encode()
        discs = {r["volid"] for r in store.all(
            "SELECT d.volid FROM disc_files f JOIN discs d ON d.number=f.number AND d.disc=f.disc"
            " WHERE f.path=? OR substr(f.path, 1, ?)=?", (under, len(under) + 1, under + b"/"))}
        assert len(discs) == 1 and f"as it came off {discs.pop()}" in named[("attribute", name)], (discs, named)
    assert {n["why"].split("as it came off ")[1][:7] for n in got["not_restored"] if n["kind"] == "attribute"} \
        == {"RAB1D01", "RAB1D02"}, got["not_restored"]


def test_a_device_node_an_extraction_as_another_user_leaves_out_is_named(_refused_made, monkeypatch):
    """xorriso run as a user other than root makes no device node (`-osirrox on`), without a word:
    the device the catalog holds was left out of the restore in silence (exit 0). It is named, as
    a restore from a medium names one it cannot make. (The extraction is that of such a user, run
    here as root.)"""
    from rabtui.restore import disc_extract, run as R
    from tests.trees import Lab

    data, made = _refused_made
    live = made.anew()
    lab = Lab(live, media_count=1)
    real = disc_extract.xorriso_extract_argv
    monkeypatch.setattr(disc_extract, "xorriso_extract_argv", lambda *a, **k: real(*a, **{**k, "as_root": False}))
    res = R.restore(lab.load(), lab.store(), "loc", data, checkpoint=1, to=live / "out")
    assert (live / "out" / data.lstrip("/") / "closed/sub/deep").read_text() == "deeper\n"
    named = {(kind, os.path.relpath("/" + os.fsdecode(n), data)) for kind, n, _ in res.written.not_restored}
    # and the trusted. xattr of the directory, which only root's extraction reads
    assert named == {("device", "null-like"), ("device", os.fsdecode(ODD[1:])), ("directory", "closed")}, \
        res.written.not_restored
    assert res.incomplete()


def test_hard_links_cut_by_a_second_extraction_are_made_again_at_any_depth(tmp_path):
    """Three names of one file, one in a directory whose trusted. xattr is refused 3,900 bytes
    deep, under a name xorriso's messages quote and escape: linked again, none named (each was
    restored as a separate file)."""
    if not fidelity.is_root():
        pytest.skip("only root sets a trusted. xattr")
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("64MiB")
    data = os.fsencode(lab.src / "data")
    deep = data
    while len(deep) < 3900:
        deep += b"/" + b"d" * min(200, 3900 - len(deep) - 1)
    os.makedirs(deep + b"/closed")
    with open(deep + b"/closed/" + LINKED, "wb") as f:
        f.write(b"linked content\n")
    os.link(deep + b"/closed/" + LINKED, data + b"/linked-" + LINKED)
    os.link(deep + b"/closed/" + LINKED, deep + b"/also")
    os.setxattr(deep + b"/closed", "trusted.mark", b"root's")
    assert lab.backup(cfg).status == "completed"
    burn_due(cfg, lab.store(), asked={"*"})
    out = tmp_path / "out"
    got = restore_without("sys_admin", lab, os.fsdecode(data), out, checkpoint=1)
    r = os.fsencode(out) + data
    rdeep = os.fsencode(out) + deep
    cut = rdeep.rindex(b"/", 0, 2000)
    fd = os.open(rdeep[:cut], os.O_PATH)
    rel = rdeep[cut:].lstrip(b"/")
    a = os.stat(rel + b"/closed/" + LINKED, dir_fd=fd)
    b = os.stat(rel + b"/also", dir_fd=fd)
    c = os.stat(r + b"/linked-" + LINKED)
    os.close(fd)
    assert a.st_ino == b.st_ino == c.st_ino and a.st_nlink == 3
    assert {n["kind"] for n in got["not_restored"]} == {"attribute"}, got


def test_the_staging_directory_goes_without_changing_a_file_restored_or_one_a_symlink_names(tmp_path):
    """Restored without CAP_DAC_OVERRIDE (as any user but root), the staging directory's read-only
    directories are opened to remove it: the files restored (linked from it) keep their modes, and
    the file a symlink there points at, outside the target, is left as it is (each was made 0700)."""
    if not fidelity.is_root():
        pytest.skip("setpriv drops a capability of root's")
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("64MiB")
    data = lab.src / "data"
    victim = tmp_path / "victim"
    victim.write_text("outside the target\n")
    victim.chmod(0o644)
    (data / "shut").mkdir(parents=True)
    (data / "shut/link").symlink_to(victim)     # the only entry: the first one removed there
    (data / "read-only").mkdir()
    (data / "read-only/file").write_text("a file\n")
    os.chmod(data / "read-only/file", 0o644)
    for d in ("shut", "read-only"):
        os.chmod(data / d, 0o555)
    assert lab.backup(cfg).status == "completed"
    burn_due(cfg, lab.store(), asked={"*"})
    got = restore_without("dac_override", lab, str(data), tmp_path / "out", checkpoint=1)
    r = tmp_path / "out" / str(data).lstrip("/")
    assert got["not_restored"] == [] and os.readlink(r / "shut/link") == str(victim)
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert stat.S_IMODE(os.lstat(r / "read-only/file").st_mode) == 0o644
    assert stat.S_IMODE(os.lstat(r / "read-only").st_mode) == 0o555
    assert not [n for n in os.listdir(tmp_path / "out") if n.startswith(".rabtui")]


def test_a_hard_link_cut_by_a_second_extraction_into_a_read_only_directory_is_made_again(tmp_path):
    """The other name of a file that came off again lies in a directory the disc holds read-only,
    restored without CAP_DAC_OVERRIDE (as any user but root): the link is made again there all the
    same, the directory keeping its mode and time (it was named, restored as a separate file)."""
    if not fidelity.is_root():
        pytest.skip("only root sets a trusted. xattr")
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("64MiB")
    data = lab.src / "data"
    (data / "closed").mkdir(parents=True)
    (data / "shut").mkdir()
    (data / "closed/inner").write_text("linked content\n")
    os.link(data / "closed/inner", data / "shut/other")
    os.setxattr(data / "closed", "trusted.mark", b"root's")
    os.chmod(data / "shut", 0o555)
    os.utime(data / "shut", (1_600_000_000, 1_600_000_000))
    assert lab.backup(cfg).status == "completed"
    burn_due(cfg, lab.store(), asked={"*"})
    got = restore_without("sys_admin,dac_override", lab, str(data), tmp_path / "out", checkpoint=1)
    r = tmp_path / "out" / str(data).lstrip("/")
    a, b = os.stat(r / "closed/inner"), os.stat(r / "shut/other")
    assert a.st_ino == b.st_ino and a.st_nlink == 2 and stat.S_IMODE(a.st_mode) == 0o644
    shut = os.stat(r / "shut")
    assert stat.S_IMODE(shut.st_mode) == 0o555 and shut.st_mtime == 1_600_000_000
    assert {n["kind"] for n in got["not_restored"]} == {"attribute"}, got
