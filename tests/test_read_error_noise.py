"""A file read whole on rsync's second try completes its backup only when rsync's error lines say
no more than that (test_read_error_on_source.py). Lines of others on the same stderr: the SSH
server's banner, which ssh prints as it logs in (each rsync logs in itself when no connection is
shared), is not printed at all (ssh's LogLevel ERROR for rsync); what the source's shell or
rsync_path writes there cannot be told from rsync's own lines (the same stream, any words), so it
keeps the warning and is named in it."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime

from rabtui.ops import health
from tests.sshd import start_sshd
from tests import test_read_error_on_source as read_errors
from tests.trees import Lab, ssh_source_lines, write_files

T0 = datetime(2026, 8, 1, 3, 0)
_bytes = read_errors._bytes
read_error_shim = read_errors.read_error_shim     # the fixture, built once here too
# reads as rsync's line for a file it could not open: were it counted, the backup would warn
IMITATION = 'rsync: [sender] send_files failed to open "/etc/shadow": Permission denied (13)'


def _lab(tmp_path, sshd, shim, wrapper: str = "") -> tuple[Lab, object, object]:
    tmp_path.mkdir()
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    write_files(data, {"keep": b"k", "once-flaky": _bytes(5)})
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{wrapper}env LD_PRELOAD={shim} EIO_ONCE=once- rsync"\n'
                    f'[[sources.directories]]\npath = "{data}"\n')
    return lab, cfg, data


def test_the_banner_of_the_source_is_not_taken_for_an_error(tmp_path, read_error_shim, monkeypatch):
    """Each rsync logs in itself (the temporary directory too long for the shared connection's
    socket): the banner ssh printed then, one line imitating rsync's, kept the warning."""
    sshd = start_sshd(tmp_path / "sshd", banner=f"Authorized use only\n{IMITATION}\n")
    try:
        long_tmp = tmp_path / ("t" * 100)
        long_tmp.mkdir(mode=0o700)
        monkeypatch.setattr(tempfile, "tempdir", str(long_tmp))
        lab, cfg, data = _lab(tmp_path / "lab", sshd, read_error_shim)
        done = lab.backup(cfg, "web", now=T0)
    finally:
        sshd.stop()
    said = "\n".join(lab.messages())
    assert "WARNING: once-flaky failed verification -- update discarded (will try again)." in said
    assert done.status == "completed", done.reason
    assert "Authorized use only" not in said and IMITATION not in said
    assert (done.path / "data" / str(data).lstrip("/") / "once-flaky").read_bytes() == _bytes(5)


def test_what_the_source_writes_to_stderr_keeps_the_warning(tmp_path, sshd, read_error_shim):
    """A wrapper in rsync_path (or the source's shell start-up) that writes to stderr: its lines come
    on rsync's stderr as rsync's own do, and may read as they do; the backup warns and names them."""
    wrapper = tmp_path / "noisy"
    wrapper.write_text(f"#!/bin/sh\necho 'motd: welcome' >&2\necho '{IMITATION}' >&2\nexec \"$@\"\n")
    wrapper.chmod(0o755)
    lab, cfg, data = _lab(tmp_path / "lab", sshd, read_error_shim, wrapper=f"{wrapper} ")
    done = lab.backup(cfg, "web", now=T0)
    assert done.status == "warnings", done.reason
    assert "motd: welcome" in done.reason and IMITATION in done.reason, done.reason
    assert (done.path / "data" / str(data).lstrip("/") / "once-flaky").read_bytes() == _bytes(5)
    # and `check` says the run may have left files out: what the lines say is not known
    [d] = json.loads((done.path / "backup.json").read_text())["directories"]
    assert (d["rsync_exit"], d["whole_on_retry"]) == (23, False)
    assert "partial:web" in {p.check_id for p in health.run_checks(cfg, lab.store())}
