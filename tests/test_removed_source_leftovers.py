"""Killed backups of sources then removed from the config: no backup of them comes to recover
them, and a cleanup skipped sources not in the config, so their rows stayed `running` and their
partial directories on the medium for ever (`check` said a job died, for 2 days, then nothing).
`check` now says what is left and how it goes; a cleanup removes a dead run's partial directory
(never a complete backup of the source), but for a run that began its step 7 (it may have linked
files into the source's archive union): that one stays, said, with the ways to remove it.
Real processes killed (SIGKILL) at fault points, real rsync."""

from __future__ import annotations

import os
import subprocess
import sys

from rabtui import faults
from tests.test_medium_identity import _rabtui
from tests.trees import Lab, write_files
from tests import preloaded


def _killed_at(lab: Lab, point: str, source: str) -> None:
    done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", source],
                         env={**os.environ, faults.ENV: point}, capture_output=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert done.returncode == -9, done


def test_a_removed_sources_killed_runs_are_said_and_cleaned_up(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    keep = lab._local_source([("keep", "standard")], "", "keep")
    gone = lab._local_source([("gone", "standard")], "", "gone")
    arch = lab._local_source([("arch", "archive")], "", "arch")
    lab.write(keep + gone + arch)
    for sid in ("keep", "gone", "arch"):
        write_files(lab.src / sid, {f"{sid}1": sid})
    assert _rabtui(lab, "backup", "--all").returncode == 0
    for sid in ("gone", "arch"):
        write_files(lab.src / sid, {f"{sid}2": sid * 2})
    _killed_at(lab, "backup.rsync_ended", "gone")        # its partial directory holds gone2
    _killed_at(lab, "backup.archive_linked", "arch")     # arch2 linked into arch's union
    medium = lab.media[0][1]
    complete = {sid: sorted(p.name for p in (medium / sid).glob("backup-*")) for sid in ("gone", "arch")}
    assert all(len(names) == 2 for names in complete.values()), complete
    lab.write(keep)                                       # both taken out of the config

    check = _rabtui(lab, "check")
    said = check.stdout + check.stderr
    assert "Traceback" not in said, said
    gone_line = next(line for line in check.stdout.splitlines() if "source gone is no longer in the config" in line)
    assert complete["gone"][1] in gone_line and "`rabtui cleanup` removes" in gone_line, gone_line
    arch_line = next(line for line in check.stdout.splitlines() if "source arch is no longer in the config" in line)
    assert complete["arch"][1] in arch_line and "put arch back in the config for a `rabtui cleanup`" in arch_line, arch_line

    dry = _rabtui(lab, "cleanup", "--dry-run").stdout
    assert f"recover the interrupted backup gone {complete['gone'][1]}" in dry and "backup arch" not in dry, dry
    clean = _rabtui(lab, "cleanup")
    assert clean.returncode == 0 and "Traceback" not in clean.stderr, clean.stdout + clean.stderr
    # the dead run of gone is gone, its complete backup stays; arch's run that linked into its union stays
    assert sorted(p.name for p in (medium / "gone").glob("backup-*")) == complete["gone"][:1]
    assert sorted(p.name for p in (medium / "arch").glob("backup-*")) == complete["arch"]
    assert (medium / "gone" / complete["gone"][0] / "data").is_dir()
    rows = {r["name"]: r["status"] for r in lab.store().all("SELECT name, status FROM backups WHERE source='gone'")}
    assert rows == {complete["gone"][0]: "completed", complete["gone"][1]: "abandoned"}, rows

    again = _rabtui(lab, "check").stdout
    assert "source gone is no longer in the config" not in again, again
    assert "source arch is no longer in the config" in again, again
