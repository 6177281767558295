"""An `images:` folder that another user owns or may write in (made before rabtui's first burn):
no disc image is written there, since that user could swap a file of their own in for the fresh
0600 image before xorriso opens it, and `check` says so. With a real racing user (a small inotify
program) where gcc is at hand, and without one."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from rabtui.checkpoint import prepare, run
from rabtui.events import READY, ScriptedPrompter
from rabtui.cli import main as cli_main
from tests.other_user import NOBODY, racer
from tests.trees import Lab, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def test_no_image_is_written_into_a_folder_of_another_user_who_races_for_it(open_base, capsys):
    nobody = NOBODY
    lab = Lab(open_base, media_count=1)
    write_files(lab.src / "data", {"shadow": b"root:THE-SECRET-HASH\n"})
    (lab.src / "data" / "shadow").chmod(0o600)
    iso = open_base / "iso"
    iso.mkdir(mode=0o700)
    os.chown(iso, nobody.pw_uid, nobody.pw_gid)       # theirs, 0700: nothing looks open
    cfg = lab.with_discs("4MiB")
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    store = lab.store()
    # on each new image, a file of their own (0666) renamed onto it before xorriso opens it
    grab = ('size_t l = strlen(name); if (l > 4 && !strcmp(name + l - 4, ".iso") && name[0] != \'.\') {'
            ' char mine[300] = ".mine-"; strncat(mine, name, 250); int f = open(mine, O_WRONLY | O_CREAT | O_TRUNC,'
            ' 0666); fchmod(f, 0666); close(f); rename(mine, name); }')
    with racer(open_base, grab, str(iso)):
        number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
        run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                            prompter=ScriptedPrompter(lambda q: READY))
    read_by_nobody = subprocess.run(["cat", *map(str, iso.glob("*.iso"))], capture_output=True,
                                    user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[]).stdout
    cli_main(["--config", str(lab.config_path), "check"])
    out = capsys.readouterr().out
    assert b"THE-SECRET-HASH" not in read_by_nobody, "nobody read the disc image: " + out
    assert "CRITICAL" in out and "belongs to user nobody" in out, out


@pytest.mark.parametrize("how", ["theirs", "above it open to all"])
def test_a_burn_into_a_folder_others_can_change_stops_and_says_why(open_base, how):
    """A folder of rabtui's own open to others is closed (chmod go-rwx) and used; one that belongs
    to another user, or lies in a directory anyone may write in, is not."""
    nobody = NOBODY
    lab = Lab(open_base, media_count=1)
    write_files(lab.src / "data", {"a": b"a"})
    iso = open_base / "iso"
    iso.mkdir(mode=0o700)
    if how == "theirs":
        os.chown(iso, nobody.pw_uid, nobody.pw_gid)
    else:
        iso = open_base / "shared" / "iso"
        iso.mkdir(parents=True)
        iso.parent.chmod(0o777)
    cfg = lab.write(lab._local_source(None, "", "loc")
                    + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{iso}"\n')
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    events = []
    result = run.burn_checkpoint(cfg, store, number, emit=events.append, cancel=threading.Event(),
                                 prompter=ScriptedPrompter(lambda q: READY))
    assert result.status != "completed" and list(iso.glob("*.iso")) == []
    said = " ".join(e.message for e in events) + " " + str(result.reason if hasattr(result, "reason") else "")
    assert f"checkpoint images folder {iso}" in said and ("belongs to user nobody" in said or "everyone" in said)
