"""Files the source's rsync cannot read (rsync 23, real rsync over the test sshd): the backup's
reason names the last of them and says how many rsync refused in all, and backup.log, which keeps
a bounded number of rsync's lines, says how many it left out. Naming ten files of three thousand
without a word of the rest had the operator believe ten were left out."""

from __future__ import annotations

from rabtui.backup import rsync_stream
from tests.trees import Lab, ssh_source_lines, write_files

# root that modes bind as they bind any other user, on the source's side
NO_OVERRIDE = ('rsync_path = "setpriv --inh-caps=-dac_override,-dac_read_search'
               ' --bounding-set=-dac_override,-dac_read_search rsync"\n')


def test_the_reason_and_the_log_count_every_file_left_out(tmp_path, sshd, monkeypatch):
    monkeypatch.setattr(rsync_stream, "STDERR_LOG_LINES", 5)
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    write_files(data, {"readable": b"r", **{f"closed{i:02}": b"c" for i in range(14)}})
    for i in range(14):
        (data / f"closed{i:02}").chmod(0)
    cfg = lab.write(ssh_source_lines(sshd) + NO_OVERRIDE + f'[[sources.directories]]\npath = "{data}"\n')
    result = lab.backup(cfg, "web", medium_id="m1")
    assert (result.status, result.exit_code) == ("warnings", 3)
    assert result.reason.count("Permission denied") == 10
    assert "14 errors from rsync in all" in result.reason, result.reason
    log = (result.path / "backup.log").read_text()
    logged = [line for line in log.splitlines() if " log " in line and "send_files failed to open" in line]
    assert len(logged) == 5
    # the 9 errors not logged, and rsync's closing summary line
    assert "10 more lines of rsync's error output not logged" in log, log
