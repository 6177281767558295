"""Logging in to a source, over the same loopback sshd, alternately: paramiko's login + `whoami`
(what pre/post commands use) against OpenSSH's `ssh ... whoami` with the options rabtui gives rsync
(`sources test`); step 1 of a backup (that OpenSSH login, kept open, nothing run on the source)
against the same login running `whoami`; then what rsync's own session costs over the kept login
against a login of its own (what bare rsync pays).

Also: a pre-backup command that prints 200,000 lines, through run_commands (every line becomes a
LOG event) against `ssh ... CMD > /dev/null`.

    .venv/bin/python benchmarks/ssh_step.py [ROUNDS]      (writes benchmarks/results/remote.md)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from results_file import write_kept  # noqa: E402

from rabtui import proc  # noqa: E402
from rabtui.ssh import remote
from rabtui.ssh import endpoint as ssh_endpoint
from rabtui.ssh import endpoint as ssh_target
from rabtui.config import Config, Settings, Source  # noqa: E402
from rabtui.ssh.shared import SharedConnection  # noqa: E402
from tests.sshd import start_sshd  # noqa: E402

BIG = "seq 1 200000"


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def timed_login(cfg: Config, src: Source) -> float:
    """Step 1 of a backup: the kept login, opened (closing it overlaps the backup's last steps)."""
    login = SharedConnection(cfg, src)
    try:
        return timed(login.open)
    finally:
        login.close()


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    work = Path(tempfile.mkdtemp(prefix="rabtui-bench-ssh-"))
    os.environ["HOME"] = str(work / "home")
    (work / "home").mkdir()
    server = start_sshd(work / "sshd")
    try:
        cfg = Config(path=None, rabtui=Settings(state_dir=work / "state"))
        (work / "state").mkdir()
        (work / "state" / "known_hosts").write_text(server.known_hosts_line())
        src = Source(id="bench", host=server.host, port=server.port, user=server.user,
                     identity_file=server.identity_file)
        ssh = ssh_endpoint.ssh_argv(cfg, src) + [server.host]
        events = 0

        def count(event) -> None:
            nonlocal events
            events += 1

        names = ("paramiko whoami", "ssh whoami", "step 1", "ssh whoami again", "kept session", "new session",
                 "paramiko big", "ssh big")
        results: dict[str, list[float]] = {k: [] for k in names}
        login = SharedConnection(cfg, src)
        login.open()
        kept = ssh_target.client_argv(cfg, src, control=login.control) + [server.host]
        try:
            for i in range(rounds):
                pairs = [
                    ("paramiko whoami", lambda: timed(lambda: remote.whoami(cfg, src))),
                    ("ssh whoami", lambda: timed(lambda: proc.run(ssh + ["whoami"], capture=True))),
                    ("step 1", lambda: timed_login(cfg, src)),
                    ("ssh whoami again", lambda: timed(lambda: proc.run(ssh + ["whoami"], capture=True))),
                    ("kept session", lambda: timed(lambda: proc.run(kept + ["true"]))),
                    ("new session", lambda: timed(lambda: proc.run(ssh + ["true"]))),
                    ("paramiko big", lambda: timed(lambda: remote.run_commands(cfg, src, [BIG], emit=count))),
                    ("ssh big", lambda: timed(lambda: proc.run(ssh + [BIG], on_stdout=lambda rec: None))),
                ]
                if i % 2:
                    pairs = [p for k in range(0, len(pairs), 2) for p in (pairs[k + 1], pairs[k])]
                for name, measure in pairs:
                    results[name].append(measure())
        finally:
            login.close()
        med = {k: statistics.median(v) for k, v in results.items()}
        lines = [
            "# Logging in to a source; pre/post commands",
            "",
            f"`benchmarks/ssh_step.py {rounds}`: loopback sshd, {rounds} alternating rounds, medians.",
            "",
            "| what | rabtui | OpenSSH `ssh` | ratio |",
            "|---|---|---|---|",
            f"| login + `whoami`: paramiko (pre/post commands) / `ssh` (`sources test`) "
            f"| {med['paramiko whoami'] * 1000:.0f} ms | {med['ssh whoami'] * 1000:.0f} ms "
            f"| {med['paramiko whoami'] / med['ssh whoami']:.2f} |",
            f"| a backup's step 1: `ssh` login kept open, nothing run on the source / `ssh` login + `whoami` "
            f"| {med['step 1'] * 1000:.0f} ms | {med['ssh whoami again'] * 1000:.0f} ms "
            f"| {med['step 1'] / med['ssh whoami again']:.2f} |",
            f"| rsync's session (`true` here): over step 1's kept login / with a login of its own "
            f"| {med['kept session'] * 1000:.0f} ms | {med['new session'] * 1000:.0f} ms "
            f"| {med['kept session'] / med['new session']:.2f} |",
            f"| `{BIG}` as a pre-backup command (paramiko; one LOG event per line) | {med['paramiko big'] * 1000:.0f} ms "
            f"| {med['ssh big'] * 1000:.0f} ms | {med['paramiko big'] / med['ssh big']:.2f} |",
            "",
            f"LOG events per big run: {events // rounds} (the command line, then one per output line). "
            "The machine is shared with other test runs: compare the ratios, not the absolute times.",
            "",
        ]
        out = ROOT / "benchmarks" / "results" / "remote.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_kept(out, "\n".join(lines))
        print("\n".join(lines))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
