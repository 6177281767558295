"""What rabtui makes is private to the user it runs as: tried as `nobody` after a real backup over the
loopback sshd and a checkpoint onto an `images:` drive; `check` and `check-config` find what is open,
and a backup closes the directories of a medium made by an earlier version."""

from __future__ import annotations

import errno
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from rabtui import privacy, proc_table
from rabtui.state import jobs
from rabtui.media import medium as media, medium_layout
from rabtui.checkpoint import prepare, run
from rabtui.cli import main as cli_main
from rabtui.events import READY, ScriptedPrompter
from rabtui.actions import status
from tests.trees import Lab, ssh_source_lines, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to own the files and to try them as nobody")


@pytest.fixture
def open_base():
    """A directory whose parents everyone can cross (pytest's own are 0700): only rabtui's modes
    stand between `nobody` and the files."""
    base = Path(tempfile.mkdtemp(prefix="rabtui-privacy-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base)


def as_nobody(action) -> str:
    """Run `action` in a child that has become `nobody`: "ok", or the errno name it failed with."""
    user = pwd.getpwnam("nobody")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            try:
                action()
                out = "ok"
            except OSError as exc:
                out = errno.errorcode.get(exc.errno, str(exc.errno))
            os.write(w, out.encode())
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return out


def _read(path):
    return lambda: open(path, "rb").close()


def _rewrite(path):
    def action():
        with open(path, "r+b") as f:
            f.write(b"changed by nobody")
    return action


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _local_lab(base: Path) -> tuple[Lab, object]:
    lab = Lab(base, media_count=1)
    write_files(lab.src / "data", {"a": b"a"})
    write_files(lab.src / "photos", {"p": b"p"})
    return _lab_with(lab, f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{lab.src / "data"}"\n'
                          f'[[sources.directories]]\npath = "{lab.src / "photos"}"\nkind = "archive"\n')


def _lab_with(lab: Lab, sources: str):
    cfg = lab.write(sources + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{lab.tmp / "iso"}"\n')
    return lab, cfg


def _checkpoint(cfg, store, emit=lambda e: None) -> None:
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    res = run.burn_checkpoint(cfg, store, number, emit=emit, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message


def _wait_job(store, job_id: int) -> dict:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        row = store.one("SELECT * FROM jobs WHERE id=?", (job_id,))
        if row["status"] not in ("queued", "running") and not (row["pid"] and proc_table.pid_alive(row["pid"])):
            return dict(row)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_nobody_reads_and_rewrites_nothing_after_a_backup_and_a_checkpoint(open_base, sshd, isolated_home):
    (isolated_home / ".ssh").mkdir()
    (isolated_home / ".ssh" / "known_hosts").write_text(sshd.known_hosts_line())
    lab = Lab(open_base, media_count=1)
    data, photos = lab.src / "data", lab.src / "photos"
    write_files(data, {"shadow": b"root:secret\n", "sub/readme": b"hello\n"})
    (data / "shadow").chmod(0o600)
    owned = data / "owned-by-nobody"
    owned.write_bytes(b"original\n")
    nobody = pwd.getpwnam("nobody")
    os.chown(owned, nobody.pw_uid, nobody.pw_gid)
    write_files(photos, {"p1.jpg": 3000})
    lab, cfg = _lab_with(lab, ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{data}"\n'
                                                     f'[[sources.directories]]\npath = "{photos}"\nkind = "archive"\n')
    # the setting is fair: nobody can reach the tree and rewrite its own file on the source
    assert as_nobody(lambda: os.listdir(open_base)) == "ok"
    assert as_nobody(_rewrite(owned)) == "ok"
    owned.write_bytes(b"original\n")

    result = lab.backup(cfg, "web", medium_id="m1")
    assert result.status == "completed", result.reason
    store = lab.store()
    _checkpoint(cfg, store)
    job_id = jobs.start_detached(store, lab.config_path, "backup", "web", "backup web", ["backup", "web"])
    assert _wait_job(store, job_id)["status"] == "completed"

    medium = lab.media[0][1]
    source_dir = medium_layout.source_root(medium, "web")
    copy = medium_layout.backup_data_path(result.path, str(data)) / "owned-by-nobody"
    assert os.stat(copy).st_uid == nobody.pw_uid and _mode(copy) == 0o644   # rsync kept the source's
    images = sorted((open_base / "iso").glob("*.iso"))
    assert images
    logs = sorted((lab.state / "logs").iterdir())
    assert logs

    assert as_nobody(lambda: os.listdir(source_dir)) == "EACCES"
    assert as_nobody(lambda: os.listdir(result.path)) == "EACCES"
    assert as_nobody(_rewrite(copy)) == "EACCES"
    assert as_nobody(_read(medium_layout.backup_data_path(result.path, str(data)) / "shadow")) == "EACCES"
    assert as_nobody(_read(result.path / "backup.log")) == "EACCES"
    for image in images:
        assert as_nobody(_read(image)) == "EACCES"
    assert as_nobody(_read(lab.state / "rabtui.db")) == "EACCES"
    for log in logs:
        assert as_nobody(_read(log)) == "EACCES"
    assert copy.read_bytes() == b"original\n"

    # and each mode itself, so that one closed parent does not hide an open child
    assert _mode(source_dir) == 0o700 and _mode(source_dir / ".archive") == 0o700
    assert _mode(open_base / "iso") == 0o700
    assert {_mode(i) for i in images} == {0o600}
    assert _mode(lab.state) == 0o700
    db_files = [p for p in lab.state.iterdir() if p.name.startswith("rabtui.db")]
    assert {_mode(p) for p in db_files} == {0o600}, db_files
    assert _mode(lab.state / "logs") == 0o700 and {_mode(p) for p in logs} == {0o600}
    assert _mode(lab.state / "locks") == 0o700
    assert {_mode(p) for p in (lab.state / "locks").iterdir()} == {0o600}
    assert _mode(medium) == 0o755          # the medium's root is the operator's
    assert _mode(medium / media.LABEL) == 0o644


def _check(lab: Lab, capsys) -> tuple[int, str]:
    code = cli_main(["--config", str(lab.config_path), "check"])
    return code, capsys.readouterr().out


def _fix_of(out: str, check_word: str) -> str:
    line = next(line for line in out.splitlines() if check_word in line)
    return line.split("; fix: ", 1)[1]


def test_check_reports_what_was_opened_by_hand_with_the_chmod_that_closes_it(open_base, capsys):
    lab, cfg = _local_lab(open_base)
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    store = lab.store()
    _checkpoint(cfg, store)
    code, out = _check(lab, capsys)
    assert "open to other users" not in out

    source_dir = medium_layout.source_root(lab.media[0][1], "loc")
    source_dir.chmod(0o755)
    (open_base / "iso").chmod(0o755)
    writing = open_base / "iso" / "RAB2D01.iso.writing"     # what a killed burn was writing
    writing.write_bytes(b"half a disc")
    writing.chmod(0o644)
    lab.state.chmod(0o755)
    (lab.state / "rabtui.db").chmod(0o644)
    code, out = _check(lab, capsys)
    assert code == 2
    assert f"CRITICAL: medium m1: backups open to other users: {source_dir} (0755); fix: chmod go-rwx {source_dir}" in out
    assert f"CRITICAL: checkpoint images in {open_base / 'iso'}: open to other users: {open_base / 'iso'} (0755)" in out
    assert f"{writing} (0644)" in out
    assert f"CRITICAL: state directory {lab.state}: open to other users: {lab.state} (0755)" in out
    assert f"{lab.state / 'rabtui.db'} (0644)" in out
    assert f"chmod -R go-rwx {lab.state}" in out
    # the dashboard shows the same problems
    shown = [p.message for p in status.problems(cfg, store)]
    assert any(m.startswith("medium m1: backups open to other users") for m in shown)

    for word in ("medium m1:", "checkpoint images", "state directory"):
        subprocess.run(_fix_of(out, word), shell=True, check=True)
    code, out = _check(lab, capsys)
    assert "open to other users" not in out
    assert _mode(source_dir) == 0o700 and _mode(lab.state) == 0o700


def test_a_medium_of_an_earlier_version_is_closed_by_the_next_backup(open_base, capsys):
    lab, cfg = _local_lab(open_base)
    first = lab.backup(cfg, medium_id="m1")
    assert first.status == "completed"
    source_dir = medium_layout.source_root(lab.media[0][1], "loc")
    archive = source_dir / medium_layout.ARCHIVE
    for d in (source_dir, archive):          # as earlier versions left them
        d.chmod(0o755)
    assert as_nobody(lambda: os.listdir(first.path)) == "ok"

    second = lab.backup(cfg, medium_id="m1")
    assert second.status == "completed"
    assert _mode(source_dir) == 0o700 and _mode(archive) == 0o700
    log = (second.path / "backup.log").read_text()
    assert re.search(rf"warning +medium m1: closed to other users .*: {re.escape(str(source_dir))}, "
                     rf"{re.escape(str(archive))}\n", log), log
    assert as_nobody(lambda: os.listdir(first.path)) == "EACCES"
    # once closed, the next backup has nothing to say
    third = lab.backup(cfg, medium_id="m1")
    assert "closed to other users" not in (third.path / "backup.log").read_text()


def test_the_program_sets_a_private_umask(open_base):
    lab, cfg = _local_lab(open_base)
    done = subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                          capture_output=True, text=True, preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 0, done.stderr
    (backup,) = [p for p in medium_layout.source_root(lab.media[0][1], "loc").iterdir() if p.name.startswith("backup-")]
    # backup.json and backup.log are written with the default modes: only the umask closes them
    assert _mode(backup / "backup.json") == 0o600
    assert _mode(backup / "backup.log") == 0o600
    assert _mode(backup) == 0o700


APPRISE_SECRET = "mailto://alerts:hunter2@mail.example.com"


def _notify_lab(open_base, notify: str) -> Lab:
    lab, _ = _local_lab(open_base)
    text = lab.config_path.read_text().replace("[[media]]", f"[notify]\n{notify}\n\n[[media]]", 1)
    lab.config_path.write_text(text)
    return lab


def test_check_config_refuses_credentials_readable_by_others(open_base, capsys):
    lab = _notify_lab(open_base, f'apprise_urls = ["{APPRISE_SECRET}"]')
    lab.config_path.chmod(0o644)
    code = cli_main(["--config", str(lab.config_path), "check-config"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"rabtui: {lab.config_path} holds credentials (notify.apprise_urls) and is readable"
                          f" by other users (mode 0644): chmod 600 {lab.config_path}")
    code, out = _check(lab, capsys)
    assert code == 2 and f"CRITICAL: {lab.config_path} holds credentials" in out

    lab.config_path.chmod(0o600)
    cli_main(["--config", str(lab.config_path), "check-config"])
    assert "holds credentials" not in capsys.readouterr().err


def test_a_notify_command_is_no_secret(open_base, capsys):
    lab = _notify_lab(open_base, 'command = "/usr/local/bin/backup-alert --token-file /root/token"')
    lab.config_path.chmod(0o644)
    assert cli_main(["--config", str(lab.config_path), "check-config"]) == 0


def test_a_webhook_token_in_the_notify_command_is_a_secret(open_base, capsys):
    lab = _notify_lab(open_base, "command = \"curl -sS -d @- https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/"
                                 "TIiajkdnlazkcOXrIdevi7F\"")
    lab.config_path.chmod(0o644)
    code = cli_main(["--config", str(lab.config_path), "check-config"])
    assert code == 2
    assert f"{lab.config_path} holds credentials (a URL in notify.command)" in capsys.readouterr().err


def test_credentials_in_a_config_no_other_user_can_read_are_not_refused(open_base, tmp_path, capsys):
    """A config 0640 whose group is root's alone, or 0644 in a folder closed to others (root's
    ~/.config under /root 0700, the mode an editor gives it under umask 022): no other user reads
    it. check-config refused it and check said it critical, as credentials readable by others."""
    lab = _notify_lab(open_base, f'apprise_urls = ["{APPRISE_SECRET}"]')
    os.chown(lab.config_path, 0, 0)
    lab.config_path.chmod(0o640)
    assert cli_main(["--config", str(lab.config_path), "check-config"]) == 0, capsys.readouterr().err
    closed = tmp_path / "home"
    closed.mkdir(mode=0o700)
    shutil.copy(lab.config_path, closed / "rabtui.toml")
    (closed / "rabtui.toml").chmod(0o644)
    assert cli_main(["--config", str(closed / "rabtui.toml"), "check-config"]) == 0, capsys.readouterr().err
    assert "holds credentials" not in capsys.readouterr().err

    lab.config_path.chmod(0o604)    # others read it where they reach it
    assert cli_main(["--config", str(lab.config_path), "check-config"]) == 2
    assert "holds credentials" in capsys.readouterr().err


@pytest.mark.parametrize("url, secret", [
    (APPRISE_SECRET, True),
    ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/12345", True),
    ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F", True),
    ("json://hooks.example.com/notify?token=abc", True),
    ("pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@avhmF2hfRn6nKQpXt6hZxTLufGdbGH", True),
    ("pbul://o.gn5kj6nfhv736I7jC3cj3QLRiyhgl98b", True),
    ("hassio://localhost/eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiIxMjM0In0.abcDEF123_-x", True),
    ("gotify://example.com/AKf0b6qf.9a3_yX", True),
    ("mailto://alerts@mail.example.com", False),
    ("json://localhost:8080/path", False),
    ("ntfy://ntfy.sh/backups", False),
])
def test_apprise_urls_with_credentials(url, secret):
    assert privacy.url_has_secret(url) is secret


def test_an_apprise_url_of_the_wrong_type_is_not_copied_into_the_error(tmp_path):
    """The error went to a terminal, cron's mail or the journal with the token in it."""
    from rabtui import config as configmod
    from rabtui.errors import ConfigError

    token = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    path = tmp_path / "rabtui.toml"
    path.write_text(f'[notify]\napprise_urls = "tgram://123456789:{token}/12345"\n')
    with pytest.raises(ConfigError) as exc:
        configmod.load(path)
    assert str(exc.value) == f"{path}:2: notify.apprise_urls: must be a list, not a string"


def test_a_config_written_by_init_is_private_and_one_edited_keeps_the_operators_mode(tmp_path):
    from rabtui.config import edit as config_edit

    lab = Lab(tmp_path, media_count=1)
    lab.local()
    lab.config_path.chmod(0o640)       # the operator's: a group of theirs reads it
    snap = config_edit.read(lab.config_path)
    values = snap.source_values("loc")
    values["schedule"] = "0 3 * * *"
    config_edit.save(snap, snap.put_source(values, "loc"))
    assert _mode(lab.config_path) == 0o640
    # `init --force` over a file others could read: a new starter file
    lab.config_path.chmod(0o644)
    assert cli_main(["--config", str(lab.config_path), "init", "--force"]) == 0
    assert _mode(lab.config_path) == 0o600


def test_what_is_meant_for_others_stays_readable_under_the_umask(open_base):
    """node_exporter reads the textfile as its own user, systemd units are the system's."""
    lab, _ = _local_lab(open_base)
    rabtui = [sys.executable, "-m", "rabtui", "--config", str(lab.config_path)]
    prom, units = open_base / "rabtui.prom", open_base / "units"
    subprocess.run(rabtui + ["check", "--prometheus", str(prom)], capture_output=True, check=False)
    done = subprocess.run(rabtui + ["schedule", "install", "--write", "--unit-dir", str(units)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _mode(prom) == 0o644
    assert {_mode(p) for p in units.iterdir()} == {0o644}
    assert as_nobody(_read(prom)) == "ok"


def test_a_directory_that_cannot_be_closed_is_said_and_the_backup_goes_on(open_base):
    lab, cfg = _local_lab(open_base)
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    source_dir = medium_layout.source_root(lab.media[0][1], "loc")
    archive = source_dir / medium_layout.ARCHIVE
    source_dir.chmod(0o755)
    archive.chmod(0o755)
    if subprocess.run(["chattr", "+i", str(archive)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (it makes chmod fail even for root)")
    try:
        second = lab.backup(cfg, medium_id="m1")
    finally:
        subprocess.run(["chattr", "-i", str(archive)], check=True)
    assert second.status == "completed", second.reason
    assert _mode(source_dir) == 0o700 and _mode(archive) == 0o755
    log = (second.path / "backup.log").read_text()
    assert f"medium m1: cannot close to other users {archive}: Operation not permitted" in log


def test_images_of_an_earlier_version_are_closed_by_the_next_burn(open_base):
    lab, cfg = _local_lab(open_base)
    iso = open_base / "iso"
    iso.mkdir(mode=0o755)
    old = iso / "RAB0D01.iso"
    old.write_bytes(b"an image written by an earlier version")
    old.chmod(0o644)
    assert as_nobody(_read(old)) == "ok"
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    events = []
    _checkpoint(cfg, lab.store(), events.append)
    assert _mode(iso) == 0o700 and _mode(old) == 0o600
    assert {_mode(p) for p in iso.glob("*.iso")} == {0o600}
    assert f"closed to other users (chmod go-rwx, they could read the images): {iso}, {old}" in [
        e.message for e in events]


def _disc_modes(image: Path) -> dict[str, str]:
    """The mode string (drwx------) of each entry at the image's root and below data/, as xorriso lists them."""
    done = subprocess.run(["xorriso", "-indev", str(image), "-find", "/", "-maxdepth", "2", "-exec", "lsdl", "--"],
                          capture_output=True, text=True, check=True)
    return {line.split("'")[1]: line.split()[0] for line in done.stdout.splitlines() if "'" in line}


def test_a_disc_mounted_as_its_readme_says_shows_no_other_user_the_backups(open_base):
    """The README of each disc says `mount -o ro /dev/sr0 /mnt`: its data/ folder (and the
    filler's add/) is closed as a medium's source directories are, what is below as backed up."""
    lab, cfg = _local_lab(open_base)
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    _checkpoint(cfg, lab.store())
    (image,) = sorted((open_base / "iso").glob("*.iso"))
    modes = _disc_modes(image)
    assert modes["/data"] == "drwx------", modes
    assert modes["/data/loc"] == "drwxr-xr-x"     # below it, left as -mkdir makes it
    assert modes["/rabtui"] == "drwx------"       # the state database, under any umask (the test's is 022)
    # a filler's add/ is closed alike, and a folder a tree of the disc's own maps (rabtui/) is not chmod-ed
    from rabtui.checkpoint import xorriso
    lines = xorriso.command_file("RAB1D01", [xorriso.Entry("tree", b"/st/rabtui", b"/rabtui"),
                                             xorriso.Entry("dir", b"/m/d", b"/data/s/d"),
                                             xorriso.Entry("dir", b"/m/e", b"/add/1/s/e")]).splitlines()
    assert lines[-3:] == ["-iso_rr_pattern off", '-chmod go-rwx "/add" --', '-chmod go-rwx "/data" --']
