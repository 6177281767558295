"""A medium whose `<source>` directory or archive union another user made (their directory, or a
disk prepared elsewhere whose uid is a local user here): no backup of the source goes there, since
that user's `.archive` tree would receive a hard link of every new archive file, readable by them
where the source's closed parents kept it out; `check` says so."""

from __future__ import annotations

import os
import pwd
import subprocess

import pytest

from rabtui.cli import main as cli_main
from tests.trees import Lab, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.mark.parametrize("theirs", ["source", "union"])
def test_no_backup_goes_into_a_source_directory_of_another_user(open_base, capsys, theirs):
    nobody = pwd.getpwnam("nobody")
    lab = Lab(open_base, media_count=1)
    private = lab.src / "private"                 # like /root: closed on the source
    photos = private / "photos"
    write_files(photos, {"letter.txt": b"THE-SECRET-LETTER\n"})   # 0644, kept out by its 0700 parent
    private.chmod(0o700)
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{photos}"\nkind = "archive"\n')
    medium = lab.media[0][1]
    assert cli_main(["--config", str(lab.config_path), "media", "label", "m1"]) == 0
    top = medium / "loc"
    union = top / ".archive" / str(photos).lstrip("/")
    union.mkdir(parents=True, mode=0o700)
    for p in ([top, top / ".archive"] if theirs == "source" else []) + [union]:
        os.chown(p, nobody.pw_uid, nobody.pw_gid)

    res = lab.backup(cfg, medium_id="m1")
    got = subprocess.run(["cat", str(union / "letter.txt")], capture_output=True,
                         user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[]).stdout
    assert got != b"THE-SECRET-LETTER\n"
    assert res.status == "failed" and "belongs to user nobody" in res.reason, res.reason
    assert not [p for p in top.iterdir() if p.name.startswith("backup-")]
    capsys.readouterr()
    cli_main(["--config", str(lab.config_path), "check"])
    out = capsys.readouterr().out
    assert "CRITICAL" in out and "belongs to user nobody" in out and "backups of loc" in out, out
