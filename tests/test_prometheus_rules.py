"""contrib/prometheus/rabtui-alerts.yml, tested with `promtool test rules` against the metrics that
`rabtui check --prometheus` wrote after real backups, a real checkpoint and a real failed verify.

The medium is a 2 MiB tmpfs (root only), so that "nearly full" is the file system's own answer.
promtool's clock starts at 0: every `*_timestamp_seconds` value is shifted by the check's own time,
so that promtool's time 0 is the moment the check ran.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rabtui import faults
from rabtui.cli import main
from tests.trees import Lab, write_files

RULES = Path(__file__).resolve().parent.parent / "contrib" / "prometheus" / "rabtui-alerts.yml"
ALERTS = ("RabtuiCheckNotRunning", "RabtuiBackupTooOld", "RabtuiNeverBackedUp", "RabtuiBackupFailed",
          "RabtuiMediumNearlyFull", "RabtuiMediumFull", "RabtuiCheckpointOverdue", "RabtuiDiscVerificationFailed",
          "RabtuiHealthWarning", "RabtuiHealthCritical", "RabtuiBackupIncomplete",
          "RabtuiCheckStopped", "RabtuiMetricsGone")
INSTANCE = {"instance": "backup1:9100", "job": "node"}
SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None,
                                reason="promtool is missing (Debian's prometheus package)")


def _series(prom_text: str) -> tuple[list[tuple[str, dict, float]], float]:
    rows = []
    for line in prom_text.splitlines():
        if line.startswith("#") or not line:
            continue
        name, labels, value = SAMPLE.match(line).groups()
        pairs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or ""))
        rows.append((name, pairs, float(value)))
    now = next(v for n, _, v in rows if n == "rabtui_health_check_timestamp_seconds")
    return rows, now


def _yaml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _test_group(name: str, prom_text: str, expected: dict[str, dict[str, list[dict]]], hours: int = 8) -> str:
    """One promtool test group: the file's samples held for `hours`, and the alerts expected at
    each evaluation time (every alert name is listed at every time: an absent one must not fire)."""
    rows, now = _series(prom_text)
    out = [f"  - name: {name}", "    interval: 1m", "    input_series:"]
    for metric, labels, value in rows:
        if metric.endswith("_timestamp_seconds"):
            value -= now
        all_labels = {**labels, **INSTANCE}
        series = metric + "{" + ", ".join(f'{k}="{v}"' for k, v in all_labels.items()) + "}"
        out += [f"      - series: {_yaml_str(series)}", f"        values: '{value:g}+0x{hours * 60}'"]
    out.append("    alert_rule_test:")
    for eval_time, alerts in expected.items():
        for alert in ALERTS:
            out += [f"      - eval_time: {eval_time}", f"        alertname: {alert}", "        exp_alerts:"]
            for exp in alerts.get(alert, []):
                out.append("          - exp_labels:")
                for k, v in {**exp["labels"], **INSTANCE}.items():
                    out.append(f"              {k}: {_yaml_str(v)}")
                out.append("            exp_annotations:")
                for k, v in exp["annotations"].items():
                    out.append(f"              {k}: {_yaml_str(v)}")
    return "\n".join(out) + "\n"


def _duration(seconds: int) -> str:
    """Prometheus's humanizeDuration for whole seconds of a day or more."""
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{d}d {h}h {m}m {s}s"


def _rule_summaries() -> dict[str, tuple[str, str, str | None]]:
    """alert name -> (severity, summary template), read from the rules file as text (no YAML parser needed)."""
    text = RULES.read_text()
    out = {}
    for block in text.split("- alert: ")[1:]:
        name = block.split("\n", 1)[0].strip()
        severity = re.search(r"severity: (\w+)", block).group(1)
        summary = re.search(r'summary: "(.*)"', block).group(1)
        description = re.search(r'description: "(.*)"', block)
        out[name] = (severity, summary, description.group(1) if description else None)
    return out


def _expect(alert: str, **labels: str) -> dict:
    severity, summary, description = _rule_summaries()[alert]
    value = labels.pop("_value", "")
    expanded = summary.replace("{{ $labels.instance }}", INSTANCE["instance"])
    for k, v in labels.items():
        expanded = expanded.replace(f"{{{{ $labels.{k} }}}}", v)
    expanded = expanded.replace("{{ $value | humanizeDuration }}", value)
    annotations = {"summary": expanded}
    if description:
        annotations["description"] = description
    return {"labels": {"severity": severity, **labels}, "annotations": annotations}


def _run_check(lab: Lab, out: Path, now: datetime | None = None) -> tuple[int, str]:
    args = ["--config", str(lab.config_path), "check", "--prometheus", str(out)]
    if now is not None:
        args += ["--now", now.isoformat(timespec="seconds")]
    return main(args), out.read_text()


@pytest.fixture
def tiny_medium(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    medium = lab.media[0][1]
    if os.geteuid() != 0:
        pytest.skip("a tmpfs medium needs root (mount -t tmpfs)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(medium)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield lab
    finally:
        subprocess.run(["umount", "-l", str(medium)], check=False)


def test_promtool_accepts_the_rules():
    done = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 13 rules found" in done.stdout


def test_alerts_fire_on_what_rabtui_reported(tiny_medium, tmp_path, capsys):
    lab = tiny_medium
    checkpoint = f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\nmax_days = 1\n'
    (lab.src / "data").mkdir()
    ok = f'[[sources]]\nid = "ok"\n[[sources.directories]]\npath = "{lab.src / "data"}"\n'
    lab.write(ok + checkpoint)
    write_files(lab.src / "data", {"small.txt": b"hello\n"})
    assert main(["--config", str(lab.config_path), "backup", "ok"]) == 0
    assert main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes"]) == 0

    # a healthy server: nothing fires, until the check itself stops running
    code, healthy = _run_check(lab, tmp_path / "healthy.prom")
    assert code == 0, capsys.readouterr().out
    not_running = _expect("RabtuiCheckNotRunning")

    # then: the medium fills up, the checkpoint's disc fails verification, a new source fails
    write_files(lab.src / "data", {"big.bin": 1_950_000})
    assert main(["--config", str(lab.config_path), "backup", "ok"]) == 0
    iso = next((tmp_path / "iso").glob("RAB*D01.iso"))
    data = bytearray(iso.read_bytes())
    at = data.find(b"hello\n")
    assert at > 0
    data[at] ^= 0xFF
    iso.write_bytes(bytes(data))
    # the backup changed on the medium since the plan too: writing the disc again cannot help, so --yes
    # does not (an image that alone failed would be written again and verified)
    saved = next(Path(lab.media[0][1]).glob("ok/backup-*/data/**/small.txt"))
    with open(saved, "r+b") as f:
        f.write(b"j")
    assert main(["--config", str(lab.config_path), "checkpoint", "verify", "--yes"]) == 1
    (lab.src / "data2").mkdir()
    bad = (f'[[sources]]\nid = "bad"\npre_backup_commands = ["false"]\n'
           f'[[sources.directories]]\npath = "{lab.src / "data2"}"\n')
    lab.write(ok + bad + checkpoint)
    assert main(["--config", str(lab.config_path), "backup", "bad"]) == 1

    later = datetime.now().replace(microsecond=0) + timedelta(days=3)
    code, problems = _run_check(lab, tmp_path / "problems.prom", later)
    assert code == 2
    rows, now = _series(problems)
    checks = {labels["check"]: value for name, labels, value in rows if name == "rabtui_check_status"}
    space = next(k for k in checks if k.startswith("space:"))
    disc = next(k for k in checks if k.startswith("disc:"))
    due = next(k for k in checks if k.startswith("checkpoint:ok:"))
    newest = next(v for name, labels, v in rows
                  if name == "rabtui_last_backup_timestamp_seconds" and labels["source"] == "ok")
    fullness = "RabtuiMediumFull" if checks[space] == 2 else "RabtuiMediumNearlyFull"

    firing = {
        "RabtuiBackupTooOld": [_expect("RabtuiBackupTooOld", source="ok", _value=_duration(int(now - newest)))],
        "RabtuiNeverBackedUp": [_expect("RabtuiNeverBackedUp", check="stale:bad")],
        "RabtuiBackupFailed": [_expect("RabtuiBackupFailed", check="failed:bad")],
        fullness: [_expect(fullness, check=space)],
        "RabtuiCheckpointOverdue": [_expect("RabtuiCheckpointOverdue", check=due)],
        "RabtuiDiscVerificationFailed": [_expect("RabtuiDiscVerificationFailed", check=disc)],
    }
    tests = tmp_path / "rules_test.yml"
    tests.write_text(
        f"rule_files:\n  - {RULES}\nevaluation_interval: 1m\ntests:\n"
        + _test_group("healthy", healthy, {"10m": {}, "7h": {"RabtuiCheckNotRunning": [not_running]}})
        + _test_group("problems", problems, {"10m": firing})
    )
    done = subprocess.run(["promtool", "test", "rules", str(tests)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr + tests.read_text()


def _promtool_test(tmp_path: Path, groups: str) -> None:
    tests = tmp_path / "rules_test.yml"
    tests.write_text(f"rule_files:\n  - {RULES}\nevaluation_interval: 1m\ntests:\n" + groups)
    done = subprocess.run(["promtool", "test", "rules", str(tests)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr + tests.read_text()


def test_a_backup_killed_on_the_way_fires_an_alert(tmp_path, capsys):
    """A critical check that no rule of its own names (here a job whose process died) alerts too."""
    lab = Lab(tmp_path, media_count=1)
    lab.write(f'[checkpoint]\ndrive = "images:{tmp_path / "iso"}"\n\n[[sources]]\nid = "loc"\n'
              f'[[sources.directories]]\npath = "{lab.src / "data"}"\n')
    write_files(lab.src / "data", {"a": b"a"})
    argv = [sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"]
    assert subprocess.run(argv, capture_output=True).returncode == 0
    killed = subprocess.run(argv, capture_output=True, env={**os.environ, faults.ENV: "backup.step5"})
    assert killed.returncode == -signal.SIGKILL
    code, prom = _run_check(lab, tmp_path / "killed.prom")
    rows, _ = _series(prom)
    checks = {labels["check"]: value for name, labels, value in rows if name == "rabtui_check_status"}
    job = next(k for k in checks if k.startswith("job:"))
    assert code == 2 and checks[job] == 2, capsys.readouterr().out
    due = next(k for k in checks if k.startswith("checkpoint:"))
    _promtool_test(tmp_path, _test_group("killed", prom, {"10m": {
        "RabtuiHealthCritical": [_expect("RabtuiHealthCritical", check=job)],
        "RabtuiCheckpointOverdue": [_expect("RabtuiCheckpointOverdue", check=due)],
    }}))


def test_a_backup_dated_in_the_future_does_not_hide_that_the_real_ones_are_old(tmp_path, capsys):
    """One night under a clock years ahead, then no backup for four days: the age the rules judge
    is that of the newest backup not in the future, as `check` judges it."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    cfg = ["--config", str(lab.config_path)]
    assert main([*cfg, "run-due", "--now", "2026-10-01T03:00"]) == 0
    assert main([*cfg, "run-due", "--now", "2030-01-01T03:00"]) == 0
    code, prom = _run_check(lab, tmp_path / "clock.prom", datetime(2026, 10, 5, 3, 0))
    rows, now = _series(prom)
    checks = {labels["check"]: value for name, labels, value in rows if name == "rabtui_check_status"}
    assert code == 2 and checks["stale:loc"] == 2 and checks["clock:loc"] == 2, capsys.readouterr().out
    due = next(k for k in checks if k.startswith("checkpoint:"))
    newest = datetime(2026, 10, 1, 3, 0).timestamp()
    _promtool_test(tmp_path, _test_group("clock", prom, {"10m": {
        "RabtuiBackupTooOld": [_expect("RabtuiBackupTooOld", source="loc", _value=_duration(int(now - newest)))],
        "RabtuiHealthCritical": [_expect("RabtuiHealthCritical", check="clock:loc")],
        "RabtuiCheckpointOverdue": [_expect("RabtuiCheckpointOverdue", check=due)],
    }}))


def _quiet_server(tmp_path) -> str:
    """The textfile of a server with nothing to say: one source backed up, checkpointed."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"a"})
    assert main(["--config", str(lab.config_path), "backup", "loc"]) == 0
    lab.store().execute("UPDATE dir_state SET last_checkpoint=1, last_checkpoint_time=?", (datetime.now().timestamp(),))
    code, prom = _run_check(lab, tmp_path / "quiet.prom")
    assert code == 0
    return prom


def test_a_check_that_stopped_for_days_is_critical(tmp_path):
    """The timer that runs the check runs the backups: a check silent for two days means backups
    that may have stopped with nothing left to say so (the backup ages in the file are frozen)."""
    prom = _quiet_server(tmp_path)
    _promtool_test(tmp_path, _test_group("stopped", prom, {
        "7h": {"RabtuiCheckNotRunning": [_expect("RabtuiCheckNotRunning")]},
        "49h": {"RabtuiCheckNotRunning": [_expect("RabtuiCheckNotRunning")],
                "RabtuiCheckStopped": [_expect("RabtuiCheckStopped")]},
    }, hours=50))


def test_metrics_gone_from_the_textfile_directory_fire_an_alert(tmp_path):
    """The file removed (or node_exporter reading another directory): every series stops, and with
    them every other rule; their absence is what fires."""
    group = _test_group("gone", _quiet_server(tmp_path), {
        "50m": {},
        "1h20m": {},
        "1h40m": {"RabtuiMetricsGone": [_expect("RabtuiMetricsGone")]},
    }, hours=1)
    assert group.count("+0x60'") > 3
    _promtool_test(tmp_path, group.replace("+0x60'", "+0x60 stale'"))
