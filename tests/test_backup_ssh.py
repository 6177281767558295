"""Backups over SSH against the real test sshd: hostile names byte-exact, commands on the source,
and step 1's failures (unreachable host, unknown and changed host key)."""

from __future__ import annotations

import json
import os

import pytest

from rabtui import proc
from rabtui.media import medium_layout
from tests.sshd import free_port
from tests.trees import HOSTILE_NAMES, Lab, hostile_tree, snapshot, ssh_source_lines


def _ssh_lab(tmp_path, sshd, *, trusted: bool = True, port: int | None = None, extra: str = "",
             dir_name: str = "my 'data' dir") -> tuple[Lab, object, str]:
    lab = Lab(tmp_path)
    data = lab.src / dir_name
    data.mkdir()
    lines = ssh_source_lines(sshd)
    if port is not None:
        lines = lines.replace(f"port = {sshd.port}", f"port = {port}")
    text = lines + extra + f'\n[[sources.directories]]\npath = "{data}"\n'
    cfg = lab.write(text)
    if trusted:
        lab.trust(sshd)
    return lab, cfg, str(data)


def test_hostile_names_round_trip_over_ssh(tmp_path, sshd):
    lab, cfg, data = _ssh_lab(tmp_path, sshd)
    files = hostile_tree(data)
    first = lab.backup(cfg, "web", medium_id="m1")
    assert first.status == "completed", first.reason
    copy = medium_layout.backup_data_path(first.path, data)
    assert snapshot(copy) == files
    assert first.total_bytes == sum(len(c) for c in files.values())

    second = lab.backup(cfg, "web", medium_id="m1")
    assert second.status == "completed" and second.new_bytes == 0
    copy2 = medium_layout.backup_data_path(second.path, data)
    for name in HOSTILE_NAMES:
        a = os.path.join(os.fsencode(copy), name)
        b = os.path.join(os.fsencode(copy2), name)
        assert os.stat(a).st_ino == os.stat(b).st_ino

    prefix = data.lstrip("/").encode() + b"/"
    rows = lab.store().all("SELECT p.path, v.first_backup, v.last_backup FROM paths p JOIN versions v ON v.path_id=p.id")
    assert {bytes(r["path"]) for r in rows} == {prefix + n for n in files}
    assert {(r["first_backup"], r["last_backup"]) for r in rows} == {(first.backup_id, second.backup_id)}


def test_commands_run_on_the_source_around_rsync(tmp_path, sshd):
    lab = Lab(tmp_path)
    data = lab.src / "data"
    data.mkdir()
    dump = data / "db.sql"
    text = (ssh_source_lines(sshd)
            + f'pre_backup_commands = ["echo dumped > \'{dump}\'"]\n'
            + f'post_backup_commands = ["rm -f \'{dump}\'"]\n'
            + f'[[sources.directories]]\npath = "{data}"\n')
    cfg = lab.write(text)
    lab.trust(sshd)
    result = lab.backup(cfg, "web", medium_id="m1")
    assert result.status == "completed", result.reason
    assert (medium_layout.backup_data_path(result.path, str(data)) / "db.sql").read_text() == "dumped\n"
    assert not dump.exists()     # the post command ran after rsync
    info = json.loads((result.path / "backup.json").read_text())
    assert [s["state"] for s in info["steps"]] == ["ok"] * 7
    assert info["steps"][0]["message"] == f"{sshd.user} on {sshd.host}"


def _step1_failure(lab: Lab, result) -> str:
    assert result.status == "failed" and result.exit_code == 1
    assert result.path is None           # nothing was created on the medium
    steps = lab.store().all("SELECT state, message FROM backup_steps WHERE backup_id=? ORDER BY step",
                            (result.backup_id,))
    assert [s["state"] for s in steps] == ["failed"] + ["skipped"] * 6
    row = lab.store().one("SELECT status, reason FROM backups WHERE id=?", (result.backup_id,))
    assert row["status"] == "failed" and row["reason"] == result.reason
    assert not os.listdir(lab.media[0][1])
    return result.reason


def test_unreachable_host(tmp_path, sshd):
    lab, cfg, _ = _ssh_lab(tmp_path, sshd, port=free_port())
    reason = _step1_failure(lab, lab.backup(cfg, "web", medium_id="m1"))
    assert "refused" in reason.lower() or "unreachable" in reason.lower()


def test_unknown_host_key_stops_with_its_fingerprint(tmp_path, sshd):
    lab, cfg, _ = _ssh_lab(tmp_path, sshd, trusted=False)
    reason = _step1_failure(lab, lab.backup(cfg, "web", medium_id="m1"))
    assert sshd.fingerprint() in reason and "rabtui sources trust web" in reason


def test_changed_host_key_is_refused(tmp_path, sshd):
    lab, cfg, _ = _ssh_lab(tmp_path, sshd, trusted=False)
    key = tmp_path / "other_key"
    proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    lab.state.mkdir(parents=True, exist_ok=True)
    (lab.state / "known_hosts").write_text(f"[{sshd.host}]:{sshd.port} {kind} {blob}\n")
    reason = _step1_failure(lab, lab.backup(cfg, "web", medium_id="m1"))
    assert "HOST KEY CHANGED" in reason


@pytest.mark.parametrize("kind", ["archive"])
def test_archive_over_ssh(tmp_path, sshd, kind):
    lab, cfg, data = _ssh_lab(tmp_path, sshd, dir_name="photos")
    lab.config_path.write_text(lab.config_path.read_text() + f'kind = "{kind}"\n')
    cfg = lab.load()
    files = hostile_tree(data)
    first = lab.backup(cfg, "web", medium_id="m1")
    assert first.status == "completed", first.reason
    union = medium_layout.archive_root(lab.media[0][1], "web", data)
    assert snapshot(union) == files
    second = lab.backup(cfg, "web", medium_id="m1")
    assert second.new_bytes == 0 and snapshot(medium_layout.backup_data_path(second.path, data)) == {}
