"""rsync.py: the argv builder, the output scanner and the exit codes (pure), and the scanner against
what the real rsync prints."""

from __future__ import annotations

import calendar
import os

from types import SimpleNamespace

from rabtui import proc, proc_records, rsync, rsync_exit, rsync_stderr
from rabtui.backup import rsync_stream, transfer, unreadable
from rabtui.backup.sizes import DirSizes
from rabtui.events import PROGRESS
from tests.trees import HOSTILE_NAMES, write_files


def test_argv_standard_with_link_dest_and_excludes():
    argv = rsync.build_argv("/etc", "/m/web/backup-1/data/etc", excludes=["*.tmp", "cache/"],
                            link_dest="/m/web/backup-0/data/etc")
    assert argv == [
        "rsync", "-aH", "--numeric-ids", "--info=progress2", "--no-h", "--outbuf=L", "-ii",
        "--out-format=%i|%l|%M|%n", "--stats", "-A", "-X", "--sparse", "--debug=send1", "--exclude=- *.tmp",
        "--exclude=- cache/", "--link-dest=/m/web/backup-0/data/etc", "--", "/etc/", "/m/web/backup-1/data/etc/",
    ]
    assert "-L" not in argv and "--inplace" not in argv


def test_argv_remote_archive():
    argv = rsync.build_argv("backup@web1:/srv/photos/", "/m/web/b/data/srv/photos/", rsh="ssh -p 2222",
                            compare_dest="/m/web/.archive/srv/photos", hard_links=False)
    assert argv[argv.index("-e") + 1] == "ssh -p 2222"
    assert "--compare-dest=/m/web/.archive/srv/photos" in argv
    assert argv[1] == "-a" and "-aH" not in argv and "-H" not in argv
    assert not any(a.startswith("--link-dest") for a in argv)
    assert "--debug=send1" not in argv      # a remote sender is not asked to name its files
    assert argv[-3:] == ["--", "backup@web1:/srv/photos/", "/m/web/b/data/srv/photos/"]


def test_argv_limited_to_listed_paths_recurses_below_them_with_no_basis():
    argv = rsync.build_argv("backup@web1:/srv/", "/m/web/b/data/srv/", files_from="/tmp/list")
    assert argv[-6:] == ["-r", "--from0", "--files-from=/tmp/list", "--", "backup@web1:/srv/", "/m/web/b/data/srv/"]
    assert not any(a.startswith(("--link-dest", "--compare-dest")) for a in argv)


def test_argv_acls_and_xattrs_follow_the_source_keys_and_sparse_is_always_kept():
    def flags(**keys):
        argv = rsync.build_argv("/etc", "/m/d/etc", link_dest="/m/b/etc", **keys)
        return [a for a in argv if a in ("-A", "-X", "--sparse", "-S", "--inplace", "-L")]

    assert flags() == ["-A", "-X", "--sparse"]
    assert flags(acls=False) == ["-X", "--sparse"]
    assert flags(xattrs=False) == ["-A", "--sparse"]
    assert flags(acls=False, xattrs=False) == ["--sparse"]


def test_directory_argv_takes_the_keys_of_the_source():
    from rabtui.config import Directory, Source

    d = Directory("/srv")
    keep = transfer.directory_argv(Source("s", (d,)), d, "/m/x", rsh=None, link_dest=None, compare_dest=None)
    plain = transfer.directory_argv(Source("s", (d,), acls=False, xattrs=False), d, "/m/x", rsh=None,
                                    link_dest=None, compare_dest=None)
    assert "-A" in keep and "-X" in keep
    assert "-A" not in plain and "-X" not in plain and "--sparse" in plain


def test_unescape():
    assert rsync.unescape(b"plain") == b"plain"
    assert rsync.unescape(b"new\\#012line") == b"new\nline"
    assert rsync.unescape(b"bad\\#377\\#376") == b"bad\xff\xfe"
    # a literal backslash before "#ooo" is itself escaped by rsync
    assert rsync.unescape(b"a\\#134#012b") == b"a\\#012b"


def test_unreadable_paths_of_the_sender_error_lines():
    said = rsync_stderr.unreadable_path
    assert said(b'rsync: [sender] send_files failed to open "/d/we"ird: x": Permission denied (13)') == b'/d/we"ird: x'
    assert said(b'rsync: [sender] opendir "/d/closed" failed: Permission denied (13)') == b"/d/closed"
    assert said(b'rsync: [sender] readlink_stat("/d/x") failed: Permission denied (13)') == b"/d/x"
    # an rsync older than 3.2.4 tags no side; names come as rsync escapes them
    assert said(b'rsync: send_files failed to open "/d/ctl\\#001": Input/output error (5)') == b"/d/ctl\x01"
    # not a path the source could not read: a vanished file (gone), a missing argument, the medium's side
    for line in (b'file has vanished: "/d/x"', b'rsync: [sender] link_stat "/d/x" failed: No such file or directory (2)',
                 b'rsync: [receiver] opendir "/m/x" failed: Permission denied (13)',
                 b'rsync error: some files/attrs were not transferred (see previous errors) (code 23)'):
        assert said(line) is None


def test_the_files_discarded_for_a_read_error():
    said = rsync_stderr.discarded
    assert said(b"WARNING: d/a file failed verification -- update discarded (will try again).") == b"d/a file"
    assert said(b"ERROR: d/ctl\\#001 failed verification -- update discarded.\n") == b"d/ctl\x01"
    assert said(b"ERROR: x failed verification -- update discarded. failed verification -- update discarded.") == \
        b"x failed verification -- update discarded."
    for line in (b"WARNING: x failed verification -- update discarded.", b"ERROR: x failed verification -- update"
                 b" discarded (will try again).", b'rsync: [sender] read errors mapping "/d/x": Input/output error (5)',
                 b"WARNING: x failed verification -- update retained (will try again)."):
        assert said(line) is None, line


def test_unreadable_names_below_the_directory_bounded():
    sizes = DirSizes("/srv/data", "standard")
    for line in (b'rsync: [sender] opendir "/srv/data" failed: Permission denied (13)',
                 b'rsync: [sender] opendir "/srv/data/sub" failed: Permission denied (13)',
                 b'rsync: [sender] send_files failed to open "/srv/other/x": Permission denied (13)'):
        unreadable.note(sizes, line)
    assert (sizes.unreadable, sizes.unreadable_unnamed) == ([".", "sub/."], 0)
    for i in range(2000):
        unreadable.note(sizes, b'rsync: [sender] send_files failed to open "/srv/data/f%04d": Permission denied (13)' % i)
    assert sum(len(n) + 8 for n in sizes.unreadable) <= unreadable.NAMES_KEPT
    assert unreadable.count(sizes) == 2002 and sizes.unreadable_unnamed > 0


def _item(record: bytes) -> tuple[bytes, int, int, bytes] | None:
    """What the scanner of step 5 (rsync.items) finds in one record: an item, or nothing."""
    found = list(rsync.items(record, len(record)))
    assert len(found) <= 1, found
    return found[0] if found else None


def _progress(record: bytes) -> rsync.Progress | None:
    """rsync.last_progress of one progress2 record, which rsync begins with a \\r."""
    return rsync.last_progress(b"\r" + record, len(record) + 1)


def _stats(record: bytes) -> list[tuple[str, int]]:
    return rsync.stats_lines(record, 0, len(record))


def test_items_of_one_itemized_line():
    item = _item(b">f+++++++++|1234|2026/11/22-04:23:00|dir/with|pipe")
    assert item == (b">f+++++++++", 1234, calendar.timegm((2026, 11, 22, 4, 23, 0)), b"dir/with|pipe")
    assert item[0][1:2] == b"f"
    assert _item(b"hf         |6|2026/11/22-04:22:13|a")[0] == b"hf         "
    assert _item(b"cd+++++++++|4096|2026/11/22-04:22:13|sub/")[0][1:2] == b"d"
    assert _item(b"created directory /x") is None
    assert _item(b"Number of files: 3") is None


def test_item_times_share_a_minute_and_cross_days():
    lines = [b"hf         |6|2026/11/22-04:22:13|a", b"hf         |6|2026/11/22-04:22:59|b",
             b"hf         |6|2026/12/31-23:59:59|c", b"hf         |6|1969/12/31-23:59:58|d",
             b"hf         |6|2026/11/22-04:2x:13|e"]
    times = [_item(line)[2] if _item(line) else None for line in lines]
    assert times == [calendar.timegm((2026, 11, 22, 4, 22, 13)), calendar.timegm((2026, 11, 22, 4, 22, 59)),
                     calendar.timegm((2026, 12, 31, 23, 59, 59)), -2, None]


def test_records_come_whole_however_the_stream_is_cut():
    data = b"one\rtwo\n\nthree\r\nfour|with|bars\nlast"
    for size in (1, 2, 3, 7, len(data)):
        records: list[bytes] = []
        splitter = proc_records.LineSplitter(records.append)
        for i in range(0, len(data), size):
            splitter.feed(data[i:i + size])
        splitter.close()
        assert records == proc_records.split_records(data) == [b"one", b"two", b"three", b"four|with|bars", b"last"]


def test_progress():
    p = _progress(b"      1048576  25%   10.50MB/s    0:01:02 (xfr#3, to-chk=4/8)")
    assert p.done_bytes == 1048576 and p.percent == 25 and p.eta == 62
    assert p.rate == 10.5 * 1024 * 1024
    assert p.total_bytes == 4194304
    assert (p.files_done, p.files_total, p.files_more) == (4, 8, False)
    growing = _progress(b"      1,048,576  25%   10.50MB/s    0:01:02 (xfr#3, ir-chk=1000/1012)")
    assert (growing.done_bytes, growing.files_done, growing.files_total, growing.files_more) == (1048576, 12, 1012, True)
    assert _progress(b"  0   0%    0.00kB/s    0:00:00").total_bytes is None
    assert _progress(b"  0   0%    0.00kB/s    0:00:00").files_total is None
    assert _progress(b"hf  |1|x|y") is None


def test_stats_lines():
    assert _stats(b"Total file size: 1,234 bytes") == [("Total file size", 1234)]
    assert _stats(b"Number of regular files transferred: 3") == [("Number of regular files transferred", 3)]
    assert _stats(b"sent 3 bytes  received 5 bytes") == []


def test_each_reader_takes_only_its_own_records():
    data = (b"\r   100 100%   1.00kB/s    0:00:00\r>f+++++++++|1|2026/01/01-00:00:00|x\n"
            b"Literal data: 9 bytes\nsent 1 bytes\n")
    assert [name for *_, name in rsync.items(data, len(data))] == [b"x"]
    assert rsync.last_progress(data, len(data)).done_bytes == 100
    assert rsync.stats_lines(data, 0, len(data)) == [("Literal data", 9)]


def test_file_state():
    assert rsync.file_state(b"hf         ") == rsync.SAME
    assert rsync.file_state(b"hf+++++++++") == rsync.LINKED
    assert rsync.file_state(b">f+++++++++") == rsync.NEW
    assert rsync.file_state(b">f.st......") == rsync.CHANGED
    assert rsync.file_state(b"cf...p.....") == rsync.CHANGED
    assert rsync.file_state(b".f         ") == rsync.ABSENT


def test_exit_codes():
    assert rsync_exit.interpret_exit(0, []).state == "ok"
    vanished = rsync_exit.interpret_exit(24, ["file has vanished: \"/x/y\""])
    assert vanished.state == "warning" and "vanished" in vanished.reason
    partial = rsync_exit.interpret_exit(23, [
        'rsync: [sender] send_files failed to open "/x/secret": Permission denied (13)',
        "rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338)",
    ])
    assert partial.state == "warning"
    assert "/x/secret" in partial.reason and "rsync error:" not in partial.reason
    assert "in all" not in rsync_exit.interpret_exit(23, ["rsync: a", "rsync: b"], 2).reason
    counted = rsync_exit.interpret_exit(23, [f"rsync: {n}" for n in range(12)], 3000).reason
    assert counted.count("rsync: ") == 10 and counted.endswith("(3000 errors from rsync in all, 10 named here)")
    full = rsync_exit.interpret_exit(11, ['rsync: [receiver] write failed on "/m/x": No space left on device (28)'])
    assert full.state == "failed" and full.no_space and full.reason.startswith("medium too small")
    ssh = rsync_exit.interpret_exit(255, ["ssh: connect to host 10.0.0.1 port 22: Connection refused"])
    assert ssh.state == "failed" and "ssh connection failed" in ssh.reason and "Connection refused" in ssh.reason
    other = rsync_exit.interpret_exit(5, [])
    assert other.state == "failed" and other.reason == "rsync exit 5: error starting the client-server protocol"


def test_scanner_reads_real_rsync_output(tmp_path):
    """The real rsync, hostile names included: every name comes back byte-exact from %n."""
    src = tmp_path / "src"
    files = {name: b"x" * (i + 1) for i, name in enumerate(HOSTILE_NAMES)}
    write_files(src, files)
    os.link(os.path.join(os.fsencode(src), HOSTILE_NAMES[0]), os.path.join(os.fsencode(src), b"hardlink"))
    dest = tmp_path / "dest"
    result = proc.run(rsync.build_argv(str(src), str(dest)), capture=True, env=rsync.ENV)
    assert result.returncode == 0, result.stderr_tail
    out = result.stdout
    names = {name: (code, size, mtime) for code, size, mtime, name in rsync.items(out, len(out)) if code[1:2] == b"f"}
    assert set(names) == set(files) | {b"hardlink"}
    for name, content in files.items():
        assert names[name][1] == len(content)
        assert names[name][2] == int(os.stat(os.path.join(os.fsencode(src), name)).st_mtime)
    states = sorted(rsync.file_state(names[n][0]) for n in (HOSTILE_NAMES[0], b"hardlink"))
    assert states == [rsync.NEW, rsync.LINKED]
    stats = dict(rsync.stats_lines(out, 0, len(out)))
    assert stats["Number of regular files transferred"] == len(files)
    assert stats["Total file size"] == sum(len(c) for c in files.values()) + 1
    assert rsync.last_progress(out, len(out)).done_bytes == sum(len(c) for c in files.values())


def test_backup_stream_reads_real_rsync_output_however_it_is_cut(tmp_path):
    """Step 5's reader scans whole reads of rsync's stdout: from the real stream (hostile names,
    a hard link, progress2, --stats) cut into reads of any size, it gets the same files, sizes,
    statistics and last progress as from the whole stream in one read."""
    src = tmp_path / "src"
    files = {name: b"x" * (i + 1) for i, name in enumerate(HOSTILE_NAMES)}
    files.update({b"sub/Number of files: 9": b"y" * 5, b"sub/%% 1 \\#015": b"z" * 7})
    write_files(src, files)
    os.link(os.path.join(os.fsencode(src), HOSTILE_NAMES[0]), os.path.join(os.fsencode(src), b"hardlink"))
    result = proc.run(rsync.build_argv(str(src), str(tmp_path / "dest")), capture=True, env=rsync.ENV)
    assert result.returncode == 0, result.stderr_tail
    out = result.stdout
    assert b"\r" in out and b"Number of files: " in out
    files_seen = [i for i in rsync.items(out, len(out)) if i[0][1:2] == b"f"]
    stats = dict(rsync.stats_lines(out, 0, len(out)))
    last = rsync.last_progress(out, len(out))
    assert {name for *_, name in files_seen} == set(files) | {b"hardlink"}
    for size in (1, 2, 3, 7, 64, 1000, len(out)):
        sizes, rows, events = DirSizes("/", "standard"), [], []
        spool = SimpleNamespace(add=lambda dir_path, new, same, others=0: rows.extend(new + same))
        stream = rsync_stream.Stream(sizes, spool, events.append, archive=False, index=0, count=1)
        for i in range(0, len(out), size):
            stream.data(out[i:i + size])
        stream.finish()
        assert [(r[1], r[3], r[4], r[5]) for r in rows] == [
            (name, rsync.file_state(code), fsize, mtime) for code, fsize, mtime, name in files_seen], size
        assert sizes.stats == stats
        assert sizes.files == len(files) + 1 and sizes.new_files == len(files)
        assert sizes.total_bytes == sum(len(c) for c in files.values()) + 1
        shown = [e.data for e in events if e.kind == PROGRESS]
        assert shown[-1]["done_bytes"] == last.done_bytes == sum(len(c) for c in files.values())


def test_items_found_after_either_separator():
    data = (b">f+++++++++|3|2026/11/22-04:22:13|a\r      3  50%    0.00kB/s    0:00:00\r"
            b"hf         |4|2026/11/22-04:22:14|b|c\rNumber of files: 2\n.d..t......|0|2026/11/22-04:22:15|d/\r")
    assert list(rsync.items(data, len(data))) == [
        (b">f+++++++++", 3, calendar.timegm((2026, 11, 22, 4, 22, 13)), b"a"),
        (b"hf         ", 4, calendar.timegm((2026, 11, 22, 4, 22, 14)), b"b|c"),
        (b".d..t......", 0, calendar.timegm((2026, 11, 22, 4, 22, 15)), b"d/")]
    assert list(rsync.items(data, 40)) == [(b">f+++++++++", 3, calendar.timegm((2026, 11, 22, 4, 22, 13)), b"a")]
    assert rsync.last_progress(data, len(data)).done_bytes == 3
    assert rsync.stats_lines(data, 0, len(data)) == [("Number of files", 2)]


def test_items_found_glued_to_a_progress_record():
    # rsync 3.5.0's stdout after a message of its own on stderr took the newline that ends the
    # progress record before it (both kinds of record: a file's last, and one while it is under way)
    data = (b"\r         600001  33%   52.02MB/s    0:00:00 (xfr#1, to-chk=3/5)>f+++++++++|6|2026/11/22-04:22:13|a\n"
            b"\r        1200001  66%   88.03MB/s    0:00:00 (xfr#2, ir-chk=2/5)   hf         |1|2026/11/22-04:22:13|b\n"
            b"\r          65536   0%    1.00MB/s    0:00:09  .d..t......|0|2026/11/22-04:22:13|c/\n"
            # a name that looks like such a record is one name, not another item
            b">f+++++++++|1|2026/11/22-04:22:13|x\\#015 1  2% 1.00kB/s 0:00:00 >f+++++++++|9|2026/11/22-04:22:13|y\n"
            b">f+++++++++|1|2026/11/22-04:22:13|z 1.00kB/s 0:00:00 >f+++++++++|9|2026/11/22-04:22:13|w\n")
    assert [(code, name) for code, _, _, name in rsync.items(data, len(data))] == [
        (b">f+++++++++", b"a"), (b"hf         ", b"b"), (b".d..t......", b"c/"),
        (b">f+++++++++", b"x\r 1  2% 1.00kB/s 0:00:00 >f+++++++++|9|2026/11/22-04:22:13|y"),
        (b">f+++++++++", b"z 1.00kB/s 0:00:00 >f+++++++++|9|2026/11/22-04:22:13|w")]
    assert rsync.last_progress(data, len(data)).done_bytes == 65536
    for record in data.split(b"\n")[:3]:       # each kind of record alone
        assert len(list(rsync.items(record + b"\n", len(record) + 1))) == 1, record
    # a read that ends within the glued record's item finds the items before it only
    cut = data.index(b"hf ")
    assert [name for *_, name in rsync.items(data, cut)] == [b"a"]


def test_items_pass_over_other_lines():
    for line in (b"x|y|z|w", b">f+++++++++|12|not a time here!!!|n", b">f+++++++++|x1|2026/11/22-04:23:00|n",
                 b"total size is 26  speedup is 0.06", b">q+++++++++|1|2026/11/22-04:23:00|n"):
        assert _item(line) is None, line


def test_unreadable_names_bounded_as_backup_json_writes_them():
    """Names that are no UTF-8 (or not ASCII) take up to 12 bytes a character in backup.json
    (\\udcff): the 8 KiB kept for them are bytes of the file, not characters of the names."""
    import json

    sizes = DirSizes("/srv/data", "standard")
    for i in range(100):
        unreadable.note(sizes, b'rsync: [sender] send_files failed to open "/srv/data/%s%d": Permission denied (13)'
                        % (b"\\#377" * 250 + b"\\#360\\#237\\#230\\#200", i))
    assert sizes.unreadable and len(json.dumps(sizes.unreadable, indent=2)) <= unreadable.NAMES_KEPT
    assert unreadable.count(sizes) == 100
