"""Writing the configuration: back to TOML with tomli-w (the TUI's source editor), and the
commented starter file of `rabtui init`."""

from __future__ import annotations

import dataclasses
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from rabtui.config import Config, Source, default_state_dir, parse

def to_dict(config: Config) -> dict:
    """The config as plain TOML data (None and defaults of optional keys left out)."""
    out: dict[str, Any] = {"rabtui": {"state_dir": str(config.rabtui.state_dir)}}
    out["checkpoint"] = dataclasses.asdict(config.checkpoint)
    out["retention"] = dataclasses.asdict(config.retention)
    notify: dict[str, Any] = {}
    if config.notify.command:
        notify["command"] = config.notify.command
    if config.notify.apprise_urls:
        notify["apprise_urls"] = list(config.notify.apprise_urls)
    if notify:
        out["notify"] = notify
    out["media"] = [
        {k: v for k, v in {"id": m.id, "path": str(m.path), "device": m.device}.items() if v is not None}
        for m in config.media
    ]
    out["sources"] = [_source_dict(s) for s in config.sources]
    return out


def _source_dict(s: Source) -> dict:
    d: dict[str, Any] = {"id": s.id}
    for key in ("host", "user", "port", "schedule", "pause_notifications_until"):
        value = getattr(s, key)
        if value is not None:
            d[key] = value
    if s.identity_file is not None:
        d["identity_file"] = str(s.identity_file)
    for key in ("excludes", "pre_backup_commands", "post_backup_commands"):
        if getattr(s, key):
            d[key] = list(getattr(s, key))
    for key in ("acls", "xattrs"):
        if not getattr(s, key):
            d[key] = False
    d["directories"] = []
    for dr in s.directories:
        dd: dict[str, Any] = {"path": dr.path, "kind": dr.kind}
        if dr.excludes:
            dd["excludes"] = list(dr.excludes)
        if dr.max_changed_files is not None:
            dd["max_changed_files"] = dr.max_changed_files
        if dr.max_days is not None:
            dd["max_days"] = dr.max_days
        d["directories"].append(dd)
    return d


def dumps(config: Config) -> str:
    """TOML in the layout of the documentation: [[media]], [[sources]], [[sources.directories]].

    (tomli-w alone would write short arrays of tables inline, which is harder to edit by hand.)
    """
    data = to_dict(config)
    chunks = [tomli_w.dumps({k: v}) for k, v in data.items() if k not in ("media", "sources")]
    for medium in data["media"]:
        chunks.append("[[media]]\n" + tomli_w.dumps(medium))
    for source in data["sources"]:
        dirs = source.pop("directories", [])
        chunks.append("[[sources]]\n" + tomli_w.dumps(source))
        chunks.extend("[[sources.directories]]\n" + tomli_w.dumps(d) for d in dirs)
    return "\n".join(chunks)


def save(config: Config, path: str | os.PathLike | None = None) -> Path:
    """Validate by reading back, then replace the file atomically (keeping its permissions)."""
    path = Path(path or config.path)
    text = dumps(config)
    parse(tomllib.loads(text), path=path, text=text, check_media=False)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
    except FileNotFoundError:
        os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


STARTER = '''\
# rabtui configuration. Check it with: rabtui check-config
# Relative paths are relative to this file.

[rabtui]
state_dir = {state_dir}          # database, logs, locks

[checkpoint]
disc = "dvd+r"                      # cd-650 cd-700 dvd+r dvd-r dvd+r-dl dvd-r-dl dvd-ram bd-r-25 bd-r-50, or "700MiB"
drive = "/dev/sr0"                  # a burner, or "images:/srv/rabtui/iso" for ISO files
max_discs = 64
max_changed_files = 10000           # due when this many files are new or modified since the last checkpoint
max_days = 90                       # due when the last checkpoint is older than this

[retention]                         # per source and medium
keep_all_days = 7
keep_daily_days = 31
keep_weekly_weeks = 8
keep_monthly_months = 4
keep_yearly_years = 2
max_size_mb = 5000                  # oldest deleted first, never the newest

# [notify]
# command = "/usr/local/bin/backup-alert"   # gets one JSON event on stdin per failure or warning
# apprise_urls = ["mailto://ops@example.com"]

# The media, used in turn. Each needs a label: rabtui media label ID
[[media]]
id = "disk-a"
path = "/srv/rabtui/media/a"
# device = "/dev/sdb1"              # mounted at path before use, unmounted after

[[media]]
id = "disk-b"
path = "/srv/rabtui/media/b"

# The hosts to back up. Omit host for the local machine.
[[sources]]
id = "web1"
host = "web1.example.com"
user = "backup"
port = 22
identity_file = "~/.ssh/id_ed25519"
excludes = ["*.tmp", "cache/"]
# pre_backup_commands = ["mysqldump --all-databases > /var/backups/db.sql"]
# post_backup_commands = ["rm -f /var/backups/db.sql"]
schedule = "0 2 * * *"
acls = true                         # keep POSIX ACLs (rsync -A)
xattrs = true                       # keep extended attributes, capabilities included (rsync -X)

[[sources.directories]]
path = "/etc"
kind = "standard"                   # every backup holds the whole tree

[[sources.directories]]
path = "/srv/photos"
kind = "archive"                    # every backup holds only what this medium lacks
max_changed_files = 500
max_days = 14
'''


def starter_text(state_dir: Path | None = None) -> str:
    quoted = tomli_w.dumps({"v": str(state_dir or default_state_dir())})[len("v = "):].strip()
    return STARTER.format(state_dir=quoted)
