"""The verification's listing of a disc per directory (verify_listing, disc_listing) equals what
`lstat` says of the tree the disc was written from, and what the listing by path (`-find -exec
lsdl`) read: for trees drawn at random (names of any bytes but `/` and NUL, names that look like
xorriso's lines or the listing's marks, 255-byte names; files, directories, empty ones among them,
symlinks with odd or dangling targets, hard links, FIFOs, device nodes; setuid, sticky; owners;
ACLs). Real xorriso."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rabtui.checkpoint import disc_listing, verify_listing
from tests import fidelity
from tests.fidelity import ACCESS_ACL, DEFAULT_ACL
from tests.test_disc_verify_listing import _listed
from tests.test_restore_disc_listing import LOOKALIKES
from tests.trees import HOSTILE_NAMES

_ODD = st.sampled_from(HOSTILE_NAMES + LOOKALIKES + [b"-", b"'-'", b"\\", b"\\x41", b'"', b"\n", b"\\n",
                                                    disc_listing.MARK + b"\n", b"  ", b"d" * 254 + b"\xff"])
_ANY = st.binary(min_size=1, max_size=255).map(lambda b: b.replace(b"/", b"_").replace(b"\0", b"_"))
NAME = st.one_of(_ODD, _ANY).filter(lambda n: n not in (b".", b".."))
MODE = st.sampled_from([0o644, 0o600, 0o4755, 0o2750, 0o1777, 0o7777, 0o000, 0o111, 0o3770])
OWNER = st.sampled_from([(0, 0), (12, 34), (65534, 65534), (4242, 7), (2 ** 31 - 3, 1)])
KIND = st.sampled_from(["file", "empty", "dir", "link", "dangling", "hardlink", "fifo", "chr", "blk", "acl"])


@st.composite
def trees(draw, depth: int = 0):
    """name -> (kind, mode, owner, target or subtree)."""
    out = {}
    for name in draw(st.lists(NAME, max_size=6 if depth else 9, unique=True)):
        kind = draw(KIND) if depth < 3 else draw(KIND.filter(lambda k: k != "dir"))
        extra = draw(trees(depth + 1)) if kind == "dir" else draw(st.one_of(NAME, _ODD)) if kind == "link" else None
        out[name] = (kind, draw(MODE), draw(OWNER), extra)
    return out


def _write(base: bytes, tree, root: bool, files: list) -> None:
    for name, (kind, mode, owner, extra) in tree.items():
        p = os.path.join(base, name)
        if kind == "dir":
            os.mkdir(p)
            _write(p, extra, root, files)
        elif kind == "link":
            os.symlink(extra, p)
        elif kind == "dangling":
            os.symlink(b"/nowhere/" + name, p)
        elif kind == "hardlink" and files:
            os.link(files[len(name) % len(files)], p)
            continue
        elif kind == "fifo":
            os.mkfifo(p)
        elif kind in ("chr", "blk") and root:
            os.mknod(p, 0o600 | (stat.S_IFCHR if kind == "chr" else stat.S_IFBLK), os.makedev(1 + len(name), 3))
        else:
            with open(p, "wb") as f:
                f.write(b"" if kind == "empty" else name)
            files.append(p)
            if kind == "acl":
                os.setxattr(p, "system.posix_acl_access", ACCESS_ACL)
        if kind == "acl" or (kind == "dir" and mode & 0o2000):
            if kind == "dir":
                os.setxattr(p, "system.posix_acl_default", DEFAULT_ACL)
        elif not stat.S_ISLNK(os.lstat(p).st_mode):
            os.chmod(p, mode)
        if root:
            os.chown(p, *owner, follow_symlinks=False)


def _every_odd_name():
    """A directory of each odd name, each holding a file, a symlink, an empty directory and one of
    the same name holding a file, the odd ones first."""
    inner = {b"f": ("file", 0o644, (0, 0), None), b"l": ("link", 0o777, (12, 34), b"t\narget'"),
             b"e": ("dir", 0o1777, (0, 0), {})}
    names = HOSTILE_NAMES + LOOKALIKES + [b"-", b"'-'", b"\\", b'"', b"\n", disc_listing.MARK + b"\n"]
    return {n: ("dir", 0o755, (4242, 7), inner | {n: ("dir", 0o4755, (0, 0), {b"f": inner[b"f"]})}) for n in names}


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(tree=trees())
@example(tree=_every_odd_name())
def test_the_listing_of_any_tree_is_what_lstat_and_the_listing_by_path_say(tmp_path_factory, tree):
    root = fidelity.is_root()
    with tempfile.TemporaryDirectory(dir=tmp_path_factory.getbasetemp()) as tmp:
        src = os.path.join(os.fsencode(tmp), b"tree")
        os.mkdir(src)
        _write(src, tree, root, [])
        iso = os.path.join(tmp, "RAB1D01.iso")
        subprocess.run(["xorriso", "-no_rc", "-for_backup", "-volid", "RAB1D01", "-outdev", f"stdio:{iso}",
                        "-map", os.fsdecode(src), "/d", "-commit"], check=True, capture_output=True)
        listing, dates, starts = _listed(iso)
        on_disk = {b"d"}
        for d, ds, ns in os.walk(src):
            on_disk |= {os.path.join(b"d", os.path.relpath(os.path.join(d, n), src)) for n in ds + ns}
        assert set(listing) == on_disk, (set(listing) ^ on_disk)
        for path in on_disk:
            st_ = os.lstat(os.path.join(src, path[2:]) if path != b"d" else src)
            mode, target, owner = listing[path]
            assert (mode, owner) == (st_.st_mode, (st_.st_uid, st_.st_gid)), (path, oct(mode), oct(st_.st_mode))
            if stat.S_ISLNK(mode):
                assert target == os.readlink(os.path.join(src, path[2:]))
        real = verify_listing.temp_dirs.private

        def unmade(*a, **k):
            raise OSError(28, "No space left on device")

        verify_listing.temp_dirs.private = unmade     # the listing by path, as before it
        try:
            assert _listed(iso) == (listing, dates, starts)
        finally:
            verify_listing.temp_dirs.private = real
