"""A backup killed as it linked its new archive files, marked abandoned by a recovery while its
medium was away (as an earlier rabtui did, its backup.json not saying its transfer had ended): its
links stay in the medium's union until a backup onto that medium finishes it (abandoned_left.py).
A checkpoint plan or burn reading that union meanwhile is refused, saying why and what finishes it:
before, the plan counted the killed run's files (exit 0, nothing said) and the burn wrote them onto
the disc, versions no complete backup holds. Real rsync and xorriso, a real `rabtui` killed
(SIGKILL) at a fault point."""

from __future__ import annotations

import json
import os

from tests.test_kill_anywhere import _as_an_earlier_rabtui_left_it, _backed_up_on_m1, _files, _killed, rabtui


def test_a_checkpoint_does_not_read_the_links_of_a_run_marked_abandoned_while_its_medium_was_away(tmp_path):
    lab, cfg, store, _ = _backed_up_on_m1(tmp_path)
    lab.with_discs("cd-700", [("arch", "archive")])
    arch = f"loc:{lab.src / 'arch'}"
    _files(lab.src / "arch", {"x": b"x2" * 10, "y": b"y2"})
    _killed(rabtui(lab, "backup", "loc", "--medium", "m1", point="backup.archive_linked"))
    killed = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    _as_an_earlier_rabtui_left_it(store, killed)
    said = (f"the backup {killed['name']} on medium m1 was interrupted and marked abandoned while its medium was"
            " away: the new files it linked into the archive view a checkpoint reads are still there")
    for argv in (("plan", "--json"), ("burn", "--yes")):
        done = rabtui(lab, "checkpoint", argv[0], "--now", arch, *argv[1:])
        assert done.returncode == 1 and said in done.stderr and "rabtui backup loc --medium m1" in done.stderr \
            and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert not (tmp_path / "iso").exists() or not os.listdir(tmp_path / "iso")
    # the next backup onto m1 finishes the abandoned run: the plan is the complete backups' again
    assert rabtui(lab, "backup", "loc", "--medium", "m1").returncode == 0
    plan = rabtui(lab, "checkpoint", "plan", "--now", arch, "--json")
    assert plan.returncode == 0 and said not in plan.stderr, plan.stdout + plan.stderr
    assert [d["files"] for d in json.loads(plan.stdout)["directories"] if d["kind"] == "archive"] == [2]
