"""The commented starter file of `rabtui init` (a new file; edits of an existing one go through
`rabtui.config.edit`, which keeps everything the operator wrote)."""

from __future__ import annotations

from pathlib import Path

import tomli_w

from rabtui.config import default_state_dir

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
