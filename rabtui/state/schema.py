"""The tables of the state database (store.py), their version, and the columns added to them since
they were first made.

Catalog model: `paths` holds each file path of a source once (as bytes, relative to `/`);
`versions` holds each version of a file on a medium as a range of backups: the version
(size, mtime) was present in every completed backup of that source on that medium whose id lies
in [first_backup, last_backup]. An unchanged file only moves `last_backup` forward, so the catalog
grows with changes, not with the number of backups.
"""

from __future__ import annotations

import functools
import re
import sqlite3

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);

CREATE TABLE IF NOT EXISTS media(
    id TEXT PRIMARY KEY,
    label TEXT,                 -- contents of .rabtui-medium (JSON)
    last_used REAL,             -- time of the last backup started on it
    last_seen REAL,             -- time it was last found mounted and labelled
    total_bytes INTEGER, free_bytes INTEGER, total_inodes INTEGER, free_inodes INTEGER
);

CREATE TABLE IF NOT EXISTS backups(
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    medium TEXT NOT NULL,
    name TEXT NOT NULL,         -- backup-YYYYmmddHHMMSS[-N]
    path TEXT NOT NULL,         -- absolute path of the backup directory
    status TEXT NOT NULL,       -- running | completed | warnings | kept | failed | abandoned | deleted
    started REAL NOT NULL,
    finished REAL,
    total_bytes INTEGER,        -- what a copy of the backup would take
    new_bytes INTEGER,          -- what this backup added on the medium
    files INTEGER,
    new_files INTEGER,
    reason TEXT,                -- why it failed or warned
    job_id INTEGER,
    link_dest INTEGER,          -- id of the backup used as --link-dest base
    dir_made INTEGER,           -- 0: the run has not made its directory yet (name and path only planned)
    UNIQUE(medium, source, name)
);
CREATE INDEX IF NOT EXISTS backups_source ON backups(source, medium, status, started);
CREATE INDEX IF NOT EXISTS backups_made ON backups(source, id, started);   -- store.as_made

-- the paths a backup could not read on its source (rsync could not open a file, list a directory,
-- stat an entry): not in that backup, yet not deleted there (backup/unreadable.py); a directory's
-- path stands for everything below it too. backup_dirs.unreadable: how many, named here or not
CREATE TABLE IF NOT EXISTS unreadable(
    backup_id INTEGER NOT NULL,
    path BLOB NOT NULL,         -- bytes, relative to /
    file INTEGER,               -- 1: a regular file, itself only; 0: a directory, what it holds only; NULL: both
    unmade INTEGER,             -- 1: read on the source, rsync's receiver could not create it on the medium
    PRIMARY KEY(backup_id, path)
) WITHOUT ROWID;
-- find: the backups that could not read a path or a directory above it (unread_paths.later_unread)
CREATE INDEX IF NOT EXISTS unreadable_path ON unreadable(path);

CREATE TABLE IF NOT EXISTS backup_steps(
    backup_id INTEGER NOT NULL,
    step INTEGER NOT NULL,      -- 1..7
    name TEXT NOT NULL,
    state TEXT NOT NULL,        -- pending | running | ok | warning | failed | skipped
    started REAL, finished REAL,
    message TEXT,
    PRIMARY KEY(backup_id, step)
);

-- the kind a backup that recorded no kinds (made before they were recorded) is taken to have saved
-- a directory as: archive where its medium held the directory's union, lacking no file the backup
-- holds, when first looked at with that backup there (saved_kinds.look), never changed after.
-- Each backup is looked at once: one made after a look (an older version installed again) gets its own
CREATE TABLE IF NOT EXISTS unrecorded_looks(
    backup_id INTEGER NOT NULL,
    path TEXT NOT NULL,         -- directory path on the source
    kind TEXT NOT NULL,         -- archive | standard | unsure (LOOK_UNSURE: read as standard, looked at again)
    PRIMARY KEY(backup_id, path)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS backup_dirs(
    backup_id INTEGER NOT NULL,
    path TEXT NOT NULL,         -- directory path on the source
    kind TEXT NOT NULL,
    state TEXT,                 -- ok | warning | failed
    rsync_exit INTEGER,
    total_bytes INTEGER, new_bytes INTEGER,
    files INTEGER, new_files INTEGER, changed_files INTEGER,
    PRIMARY KEY(backup_id, path)
);

-- per source directory: the checkpoint trigger's inputs
CREATE TABLE IF NOT EXISTS dir_state(
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    changed_since_checkpoint INTEGER NOT NULL DEFAULT 0,
    last_checkpoint INTEGER,    -- checkpoint number
    last_checkpoint_time REAL,
    did_not_fit REAL,           -- time a backup of it did not fit on its medium (cleared by a checkpoint)
    PRIMARY KEY(source, path)
);
-- the file versions written since a directory's last checkpoint, each once whatever medium it went
-- to (rabtui/state/changes.py); dir_state.changed_since_checkpoint counts their distinct paths
CREATE TABLE IF NOT EXISTS changes(
    source TEXT NOT NULL,
    dir TEXT NOT NULL,
    path_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    backup INTEGER NOT NULL,    -- the backup that wrote it first
    PRIMARY KEY(source, dir, path_id, size, mtime)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS jobs(
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,         -- backup | checkpoint | restore | run-due
    target TEXT,                -- source id, or drive
    title TEXT,
    argv TEXT,                  -- JSON list
    pid INTEGER,
    status TEXT NOT NULL,       -- queued | running | waiting | completed | warnings | failed | cancelled | dead
    started REAL, finished REAL, heartbeat REAL,
    exit_code INTEGER,
    summary TEXT,
    progress TEXT,              -- JSON of the newest progress event
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY,
    job_id INTEGER,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    message TEXT,
    data TEXT                   -- JSON
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, id);
CREATE TABLE IF NOT EXISTS prompts(
    id INTEGER PRIMARY KEY,
    job_id INTEGER,
    created REAL NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    choices TEXT NOT NULL,      -- JSON list
    data TEXT,                  -- JSON
    answer TEXT,
    answered REAL
);

CREATE TABLE IF NOT EXISTS paths(
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    dir TEXT NOT NULL,          -- the configured directory it belongs to
    path BLOB NOT NULL,         -- bytes, relative to /, e.g. b'etc/ssh/sshd_config'
    UNIQUE(source, path)
);
CREATE TABLE IF NOT EXISTS versions(
    id INTEGER PRIMARY KEY,
    path_id INTEGER NOT NULL,
    medium TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    first_backup INTEGER NOT NULL,
    last_backup INTEGER NOT NULL
);
-- no index holds first_backup or last_backup: a backup moves last_backup of every unchanged file,
-- and with those columns indexed each move rewrote two index entries (step 7 took 2.4x longer)
DROP INDEX IF EXISTS versions_path;
DROP INDEX IF EXISTS versions_last;
CREATE INDEX IF NOT EXISTS versions_of_path ON versions(path_id, medium);

-- the entries other than regular files and directories (symlinks, device nodes, FIFOs, sockets),
-- kept as `versions` keeps the files (each, with its mtime, in every complete backup of its source
-- on the medium whose id lies in [first_backup, last_backup]; an archive directory's in first_backup
-- and in the union), so that `find` finds them too; apart from `paths`, which names files
CREATE TABLE IF NOT EXISTS others(
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    dir TEXT NOT NULL,          -- the configured directory it belongs to
    path BLOB NOT NULL,         -- bytes, relative to /
    kind INTEGER NOT NULL,      -- rsync's letter for it (its code point): L symlink, D device, S FIFO or socket
    medium TEXT NOT NULL,
    mtime INTEGER NOT NULL,
    first_backup INTEGER NOT NULL,
    last_backup INTEGER NOT NULL,
    target BLOB,                -- a symlink's target as the medium held it (NULL: not known)
    rdev INTEGER                -- a device node's st_rdev (NULL: not known)
);
CREATE INDEX IF NOT EXISTS others_path ON others(source, path, medium);

CREATE TABLE IF NOT EXISTS checkpoints(
    number INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    status TEXT NOT NULL,       -- planned | burning | completed | aborted | failed | abandoned
    disc_type TEXT NOT NULL,
    disc_sectors INTEGER NOT NULL,
    drive TEXT,
    discs INTEGER NOT NULL,
    lower_bound INTEGER,
    plan TEXT,                  -- JSON of the whole plan
    dirs_recorded INTEGER       -- 1: the ACLs and xattrs of its directories are in disc_dir_attrs
);
CREATE TABLE IF NOT EXISTS checkpoint_dirs(
    number INTEGER NOT NULL,
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    role TEXT NOT NULL,         -- data | filler
    backup_id INTEGER,          -- the backup it was taken from
    reason TEXT,                -- why it was due
    PRIMARY KEY(number, source, path)
);
CREATE TABLE IF NOT EXISTS discs(
    number INTEGER NOT NULL,
    disc INTEGER NOT NULL,      -- 1..n
    volid TEXT NOT NULL,        -- RAB<checkpoint>D<nn>
    state TEXT NOT NULL,        -- planned | writing | written | verified | failed | skipped
    written REAL, verified REAL,
    image TEXT,                 -- ISO path for images: drives
    message TEXT,
    PRIMARY KEY(number, disc)
);
CREATE TABLE IF NOT EXISTS disc_files(
    number INTEGER NOT NULL,
    disc INTEGER NOT NULL,
    source TEXT NOT NULL,
    path BLOB NOT NULL,         -- original path, bytes, relative to /
    disc_path BLOB NOT NULL,    -- path on the disc
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    sha256 TEXT,
    part INTEGER, parts INTEGER, -- for files cut into parts
    mode INTEGER,               -- st_mode as backed up (NULL: recorded before rabtui kept it)
    link BLOB,                  -- a symlink's target as backed up
    link_group INTEGER,         -- files hard-linked to each other as backed up share it
    uid INTEGER, gid INTEGER,   -- the owner as backed up
    rdev INTEGER,               -- a device node's st_rdev as backed up (NULL: not known, nothing compared)
    xattr_sum BLOB,             -- its xattrs' digest as backed up (checkpoint/xattr_sum.py; empty: none;
                                -- NULL: not known)
    trusted_sum BLOB            -- its trusted.* xattrs' (xattr_sum.trusted_of), which xattr_sum leaves out:
                                -- recorded by a plan made as root (NULL: not known)
);
CREATE INDEX IF NOT EXISTS disc_files_path ON disc_files(source, path);
-- xattrs of a checkpoint's entries that its discs do not hold, set again on a restore from them:
-- those whose value is empty, which libisofs cannot write beside others (checkpoint/kept_off.py)
CREATE TABLE IF NOT EXISTS disc_xattrs_off(
    number INTEGER NOT NULL,
    source TEXT NOT NULL,
    path BLOB NOT NULL,         -- original path, bytes, relative to / (a directory's too)
    disc_path BLOB NOT NULL,    -- its path on the discs (of a file cut into parts: the whole file's)
    name BLOB NOT NULL,         -- the xattr's name (its value is empty)
    PRIMARY KEY(number, disc_path, name)
);
-- the ACLs and xattrs of a checkpoint's directories as backed up, which its catalog does not hold
-- (checkpoint/dir_attrs.py): its discs are compared with them whether that backup is at hand or not.
-- A checkpoint's directories without a row here had none (checkpoints.dirs_recorded)
CREATE TABLE IF NOT EXISTS disc_dir_attrs(
    number INTEGER NOT NULL,
    source TEXT NOT NULL,
    path BLOB NOT NULL,         -- the directory's original path, bytes, relative to /
    disc_path BLOB NOT NULL,    -- its path on the discs
    mode INTEGER NOT NULL,      -- its st_mode as backed up (the access ACL shown beside a default one)
    name BLOB NOT NULL,         -- an xattr's name, the system.posix_acl_* of its ACLs too
    value BLOB NOT NULL,        -- its value as the kernel gives it (never empty: disc_xattrs_off)
    PRIMARY KEY(number, disc_path, name)
);

CREATE TABLE IF NOT EXISTS health(
    check_id TEXT PRIMARY KEY,  -- e.g. "stale:web1"
    level TEXT NOT NULL,        -- ok | warning | critical
    message TEXT,
    since REAL
);
CREATE TABLE IF NOT EXISTS schedule_runs(
    source TEXT PRIMARY KEY,
    last_due REAL               -- the schedule time last run for
);
CREATE TABLE IF NOT EXISTS schedule_history(
    source TEXT NOT NULL,
    since REAL NOT NULL,        -- when run-due or check first read it (0: as long as this database knows it)
    schedule TEXT NOT NULL,     -- the source's schedule as they read it from then ('' none)
    PRIMARY KEY(source, since)
);
"""


def schema_complete(conn: sqlite3.Connection) -> bool:
    """Every table and index of the schema there, and its version recorded: nothing for the schema
    script to write. Read, no lock taken: the script's write lock, waited for behind a writer that
    stopped, would hold every command's start (`check`, `status`) for the busy timeout and fail it."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    return (set(re.findall(r"CREATE (?:TABLE|INDEX) IF NOT EXISTS (\w+)", SCHEMA)) <= names
            and conn.execute("SELECT 1 FROM meta WHERE key='schema_version'").fetchone() is not None)


@functools.cache
def schema_columns() -> dict[str, frozenset[str]]:
    """Each table of the schema and the columns every database that has it holds: those of a new
    database but the ADDED_COLUMNS (added to an older one as it is opened)."""
    added = {(table, column) for table, column, _ in ADDED_COLUMNS}
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(SCHEMA)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: frozenset(r[1] for r in conn.execute(f"PRAGMA table_info({t})") if (t, r[1]) not in added)
                for t in tables}
    finally:
        conn.close()


def schema_script(insert: str = "") -> str:
    """The tables and the schema version, in one transaction."""
    return (f"BEGIN IMMEDIATE;\n{SCHEMA}\nINSERT {insert} INTO meta(key, value)"
            f" VALUES ('schema_version', '{SCHEMA_VERSION}');\nCOMMIT;")


# columns added to tables since they were first made: NULL in the rows written before
ADDED_COLUMNS = (("disc_files", "mode", "INTEGER"), ("disc_files", "link", "BLOB"),
                 ("disc_files", "link_group", "INTEGER"), ("disc_files", "uid", "INTEGER"),
                 ("disc_files", "gid", "INTEGER"), ("checkpoints", "dirs_recorded", "INTEGER"),
                 ("backups", "dir_made", "INTEGER"),
                 # how many paths of the directory rsync could not read (`unreadable` names them)
                 ("backup_dirs", "unreadable", "INTEGER"),
                 # 1: rsync's exit 23 said only that files read with an error were read whole on its
                 # second try (DirSizes.whole_on_retry): it left nothing out
                 ("backup_dirs", "whole_on_retry", "INTEGER"),
                 # the bytes of the regular files rsync listed in the directory on the source, at
                 # their listed sizes (DirSizes.source_bytes): an archive directory's whole size, where
                 # its backup holds only what it added (history._dir_bytes; NULL: not recorded)
                 ("backup_dirs", "source_bytes", "INTEGER"),
                 # the config's excludes of the directory when it ran (DirSizes.excludes), a JSON list
                 # (NULL: not recorded): its sizes forecast no backup with others (history.expected_bytes)
                 ("backup_dirs", "excludes", "TEXT"),
                 # what that path stands for: 1 itself only (a file), 0 what is below it (a directory)
                 ("unreadable", "file", "INTEGER"),
                 # 1: not a path the source could not read, but a file rsync's receiver could not
                 # create on the medium (a name vfat or exFAT refuses: backup/not_created.py)
                 ("unreadable", "unmade", "INTEGER"),
                 # the entries of a disc of a checkpoint rebuilt from its discs as its catalog lists them
                 # (rows and their directories): what bounds the tree xorriso loads of it (disc_tree.py)
                 ("discs", "entries", "INTEGER"),
                 # proc_table.identity of the job's process (its pid alone may be another's since)
                 ("jobs", "pid_ident", "TEXT"),
                 # the schedule time a backup run-due started was for (ops/schedule.py: counted done
                 # once that backup is recorded complete, whether or not its run-due lived to mark it)
                 ("jobs", "due_slot", "REAL"),
                 # what a symlink the backup saved points to, a device node's numbers (NULL: not known,
                 # as in rows recorded before: nothing is compared)
                 ("others", "target", "BLOB"), ("others", "rdev", "INTEGER"), ("disc_files", "rdev", "INTEGER"),
                 ("disc_files", "xattr_sum", "BLOB"),
                 # the trusted.* xattrs' sum, which a plan made before, or not as root, did not record
                 ("disc_files", "trusted_sum", "BLOB"))


# the looks a database kept before they were kept per backup: one per source, medium and directory,
# which every backup there that recorded no kinds was judged by (moved by looks_per_backup). The
# table stays, emptied: a run of an older version under way reads it (dropped, it failed there)
OLD_LOOKS = "unrecorded_kinds"


def old_looks_kept(conn: sqlite3.Connection) -> bool:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (OLD_LOOKS,)).fetchone() is None:
        return False
    return conn.execute(f"SELECT 1 FROM {OLD_LOOKS} LIMIT 1").fetchone() is not None


# a look moved from OLD_LOOKS that said standard without saying of which backup: read as standard,
# as before, until the backup is looked at on its own (saved_kinds.look), an archive one only where
# it holds files that are the union's own (the union may have been made after the look)
LOOK_UNSURE = "unsure"


def looks_per_backup(conn: sqlite3.Connection) -> None:
    """The looks kept per source, medium and directory (OLD_LOOKS) taken as each such backup's there,
    the table then emptied: every reader judged those backups by them (with the medium away too).
    Not a backup under way: made after them. A standard one is LOOK_UNSURE: the union lacking a
    file of one of them took each for a standard one (an archive one's files then in no view). In
    the caller's transaction."""
    if not old_looks_kept(conn):      # moved by another process meanwhile
        return
    conn.execute(f"INSERT OR IGNORE INTO unrecorded_looks(backup_id, path, kind) SELECT b.id, u.path,"
                 " CASE WHEN u.kind='standard' THEN ? ELSE u.kind END"
                 f" FROM {OLD_LOOKS} u JOIN backups b ON b.source=u.source AND b.medium=u.medium"
                 " WHERE b.status<>'running' AND NOT EXISTS (SELECT 1 FROM backup_dirs d WHERE d.backup_id=b.id)",
                 (LOOK_UNSURE,))
    conn.execute(f"DELETE FROM {OLD_LOOKS}")


# meta key: the first backup id whose symlinks and special files the catalog records (`others`);
# those of the backups before it, which a database made before that table recorded, it lacks
OTHERS_FROM = "others_from"


def others_unrecorded(conn: sqlite3.Connection) -> None:
    """A database made before the `others` table, which now has it, empty: the backups it recorded
    so far are said to have symlinks and special files it does not know (OTHERS_FROM). In the
    caller's transaction."""
    top = conn.execute("SELECT max(id) FROM backups").fetchone()[0]
    if top is not None:
        conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (OTHERS_FROM, str(top + 1)))


# tables of intermediate layouts that nothing reads: dropped where a database has them
UNUSED_TABLES = ("schedule_edits",)     # a source's last schedule edit, before schedule_history


def drop_unused(conn: sqlite3.Connection) -> None:
    """The UNUSED_TABLES a database has, dropped (read first: no write lock taken where none is)."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for table in UNUSED_TABLES:
        if table in names:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def add_columns(conn: sqlite3.Connection) -> None:
    for table, column, kind in ADDED_COLUMNS:
        if column in {r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}:
            continue
        try:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        except sqlite3.OperationalError as exc:   # another process added it meanwhile
            if "duplicate column" not in str(exc):
                raise
