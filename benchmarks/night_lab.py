"""The set-up the nightly-window benchmarks share: trees of small files on tmpfs, a loopback sshd,
a rabtui configuration with several sources, and rabtui run as its own process whose CPU time
(its Python process only: rsync and ssh are its children, not counted) is read inside it."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_backup import change_files, make_tree  # noqa: E402,F401  (re-exported)
from tests.sshd import SshServer, start_sshd  # noqa: E402,F401

TMPFS = Path("/dev/shm")

# CPU of this process (all its threads) at the start of the interpreter and at the end, peak RSS
RUNNER = """
import json, resource, sys, time
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.time()
profile = sys.argv[2]
if profile:
    import cProfile
    prof = cProfile.Profile(time.process_time)
    prof.enable()
from rabtui.program import main
code = main(sys.argv[3:])
if profile:
    prof.disable()
    prof.dump_stats(profile)
r1 = resource.getrusage(resource.RUSAGE_SELF)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "maxrss_kb": hwm, "began": t0,
               "cpu": (r1.ru_utime + r1.ru_stime), "cpu_at_start": (r0.ru_utime + r0.ru_stime)}, f)
"""


def child_cpu() -> float:
    """CPU seconds of our finished children and their descendants (rsync, ssh, a rabtui process)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


class NightLab:
    """A state directory, media and a configuration of sources pulled over `sshd`."""

    def __init__(self, work: Path, sshd: SshServer, media: int = 1):
        self.work = work
        self.sshd = sshd
        self.state = work / "state"
        self.media = [work / f"medium-{i + 1}" for i in range(media)]
        self.config_path = work / "rabtui.toml"
        self.env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "known_hosts").write_text(sshd.known_hosts_line())
        for m in self.media:
            m.mkdir(parents=True, exist_ok=True)

    def configure(self, sources: dict[str, Path], rabtui: str = "", source_keys: dict[str, str] | None = None) -> None:
        """`sources`: id -> the directory backed up; `source_keys`: more lines of a source's table."""
        text = f'[rabtui]\nstate_dir = "{self.state}"\n{rabtui}\n'
        for i, m in enumerate(self.media):
            text += f'[[media]]\nid = "m{i + 1}"\npath = "{m}"\n'
        s = self.sshd
        for sid, path in sources.items():
            text += (f'[[sources]]\nid = "{sid}"\nhost = "{s.host}"\nport = {s.port}\nuser = "{s.user}"\n'
                     f'identity_file = "{s.identity_file}"\n{(source_keys or {}).get(sid, "")}\n'
                     f'[[sources.directories]]\npath = "{path}"\n')
        self.config_path.write_text(text)
        self.config_path.chmod(0o600)

    def rabtui(self, *args: str, profile: Path | None = None) -> dict:
        """`rabtui --config ... ARGS` as its own process: wall time, its own CPU (minus what the
        interpreter had used before rabtui was imported), peak RSS, the local children's CPU."""
        out = self.work / "runner.json"
        argv = [sys.executable, "-c", RUNNER, str(out), str(profile or ""), "--config", str(self.config_path), *args]
        c0, t0 = child_cpu(), time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=self.env)
        wall = time.perf_counter() - t0
        children = child_cpu() - c0
        info = json.loads(out.read_text())
        if info["code"] not in (0, 3):
            raise SystemExit(f"rabtui {' '.join(args)} exited {info['code']}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        return {"wall": wall, "cpu": info["cpu"], "maxrss_kb": info["maxrss_kb"], "children_cpu": children,
                "code": info["code"]}


def bare_rsync(rsh: str, location: str, dest: Path, link_dest: Path | None = None, options=("-aH", "--numeric-ids"),
               rsync: str = "rsync") -> list[str]:
    argv = [rsync, *options, "-e", rsh]
    if link_dest is not None:
        argv.append(f"--link-dest={link_dest}")
    return argv + [location, f"{dest}/"]


def rsh_and_location(lab: NightLab, sid: str, path: Path) -> tuple[str, str]:
    """The ssh command and `user@host:/path/` that rabtui gives rsync for source `sid`."""
    from rabtui import config as configmod
    from rabtui.ssh import endpoint as ssh_endpoint

    cfg = configmod.load(lab.config_path, check_media=False)
    source = cfg.source(sid)
    return ssh_endpoint.rsync_rsh(cfg, source), ssh_endpoint.rsync_location(source, str(path))
