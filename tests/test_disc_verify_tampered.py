"""A disc that differs from its catalog in one way only fails its verification, naming the entry:
each kind of change (an entry missing or extra, an extra directory, a directory become a file and
a file a directory, a mode, an owner, a symlink's target, a time, hard links broken, a file's
content, an empty directory filled or gone, at the top of the disc too), in a directory whose name
needs quoting, verified extracted as root, extracted as another user, and read back as a stream by each.
Real xorriso, a real checkpoint onto an `images:` drive."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests import fidelity
from tests.test_checkpoint_deep import no_room_to_extract
from tests.test_disc_verify_metadata import _as_nobody, _verify, alter, burnt_fixtures
from tests.trees import Lab, write_files

Q = "q'\"\n\\ dir -lsl \udcff"        # its byte 0xff not UTF-8
QB = os.fsencode(Q)


def _lab(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    data = lab.src / "data"
    write_files(data, {QB + b"/" + n: c for n, c in [(b"f", b"content f"), (b"g", b"content g"),
                                                      (b"h1", b"hard"), (b"mode", b"m"), (b"owned", b"o"),
                                                      (b"sub/x", b"x")]} | {b"top": b"top"})
    d = os.path.join(os.fsencode(data), QB)
    os.link(os.path.join(d, b"h1"), os.path.join(d, b"h2"))
    os.symlink(b"t\narget'", os.path.join(d, b"link"))
    os.mkdir(os.path.join(d, b"empty"))
    os.mkdir(os.path.join(os.fsencode(data), b"topdir"))
    os.chmod(os.path.join(d, b"mode"), 0o640)
    if fidelity.is_root():
        os.chown(os.path.join(d, b"owned"), 12, 34)
    return lab, cfg


_sandbox_made, burnt = burnt_fixtures(_lab)

# name of the change -> (xorriso commands on the disc's directory Q, given its path, and the file
# `other` of 9 bytes; what the failure names, below the source's data)
CHANGES = {
    "missing": (lambda q, o: ["-rm", f"{q}/f", "--"], "f"),
    "extra": (lambda q, o: ["-map", o, f"{q}/new"], "new"),
    "extra directory": (lambda q, o: ["-mkdir", f"{q}/newdir", "--", "-map", o, f"{q}/newdir/in"], "newdir"),
    "directory become a file": (lambda q, o: ["-rm_r", f"{q}/sub", "--", "-map", o, f"{q}/sub"], "sub"),
    "directory become a symlink": (lambda q, o: ["-rm_r", f"{q}/sub", "--", "-lns", os.path.dirname(o) + f"/src/data/{Q}/sub", f"{q}/sub"], "sub"),
    "file become a directory": (lambda q, o: ["-rm", f"{q}/g", "--", "-mkdir", f"{q}/g", "--"], "g"),
    "mode": (lambda q, o: ["-chmod", "0600", f"{q}/mode", "--"], "mode"),
    "owner": (lambda q, o: ["-chown", "99", f"{q}/owned", "--"], "owned"),
    "directory's owner": (lambda q, o: ["-chgrp", "99", f"{q}/sub", "--"], "sub"),
    "symlink target": (lambda q, o: ["-rm", f"{q}/link", "--", "-lns", "t\narget\"", f"{q}/link"], "link"),
    "time": (lambda q, o: ["-alter_date", "m", "Jan 01 00:00:00 2011", f"{q}/g", "--"], "g"),
    "hard links broken": (lambda q, o: ["-rm", f"{q}/h2", "--", "-map", o + "-hard", f"{q}/h2"], "h"),
    "content": (lambda q, o: ["-rm", f"{q}/f", "--", "-map", o, f"{q}/f"], "f"),
    "empty directory filled": (lambda q, o: ["-map", o, f"{q}/empty/in"], "empty/in"),
    "empty directory gone": (lambda q, o: ["-rm_r", f"{q}/empty", "--"], "empty"),
    "top entry missing": (lambda q, o: ["-rm", f"{q}/../top", "--"], "../top"),
    "extra at the disc's root": (lambda q, o: ["-map", o, "/stray"], "/stray"),
    "extra directory at the disc's root": (lambda q, o: ["-mkdir", "/straydir", "--"], "/straydir"),
}
WAYS = ["as root", "as another user", "streamed", "streamed as another user"]


@pytest.fixture(scope="module")
def altered_once(tmp_path_factory):
    """altered(change, iso, alter_it): disc 1 changed by `change`; alter_it() is run once for the
    module (each of the ways a change is verified gets a copy of that image, which is made alike
    from a sandbox made alike): the change is the same, its verification each way's own."""
    kept = tmp_path_factory.mktemp("altered")

    def altered(change, iso, alter_it) -> None:
        image = kept / f"{list(CHANGES).index(change)}.iso"
        if not image.exists():
            alter_it()
            shutil.copy2(iso, image)
        else:
            shutil.copy2(image, iso)
    return altered


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("change", list(CHANGES))
def test_a_disc_changed_in_one_way_fails_naming_the_entry(burnt, altered_once, monkeypatch, change, way):
    if way != "streamed" and not fidelity.is_root():
        pytest.skip("needs root to act as another user")
    lab, cfg, store, number, iso, prefix = burnt
    other = lab.tmp / "other"
    other.write_bytes(b"content F")
    (lab.tmp / "other-hard").write_bytes(b"hard")
    if way.startswith("streamed"):
        no_room_to_extract(monkeypatch)
    assert (lab.src / "data" / Q / "sub" / "x").is_file()    # what "directory become a symlink" points to
    commands, named = CHANGES[change]
    altered_once(change, iso, lambda: alter(iso, "-iso_rr_pattern", "off", *commands(f"{prefix}/{Q}", str(other))))
    if way.endswith("another user"):     # the backup its directories are compared with at hand to them
        subprocess.run(["chmod", "-R", "o+rX", lab.tmp / "medium1"], check=True)
    why = _as_nobody(lab.tmp, cfg, store, number) if way.endswith("another user") else _verify(cfg, store, number)
    assert "verification failed" in why, why
    if named.startswith("/"):     # at the disc's root, named as the disc holds it
        assert f" {named[1:]}\n" in why, why
    else:
        where = os.path.normpath(f"/data/{Q}/{named}")
        assert os.fsencode(where).decode("utf-8", "backslashreplace") in why or where in why, why
    if change == "directory become a symlink" and not way.startswith("streamed"):   # not read on this machine
        assert f"/data/{Q}/sub/x" in why, why

