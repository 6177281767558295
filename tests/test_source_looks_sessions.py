"""The looks for a symlinked source directory made in the transfers' own SSH sessions
(source_top.Looks): what the session runs stays within what rsync and rabtui wait for (io_timeout),
as each look apart does. Real rsync over the test sshd."""

from __future__ import annotations

from rabtui.backup import source_top
from tests.test_source_dir_symlinked import _counting_rsync, _dirs, _saved_names, _tree
from tests.trees import Lab, ssh_source_lines, write_files


def test_a_path_repeating_a_name_is_not_looked_at_in_one_silence_of_its_session(tmp_path, sshd):
    """/src/a/a is listed name by name (an rsync each): on a source whose listings take more than
    half of io_timeout, both before the transfer, in its session, overran it without a word to
    rsync, and the directory failed as stalled. Each is a look apart now, with its own io_timeout."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    deep = lab.src / "a" / "a"
    write_files(deep, {"f": b"x"})
    rsync_path, log = _counting_rsync(lab, fail_listing="sleep 0.6; false")     # a slow source's listing
    result = lab.backup(lab.write(ssh_source_lines(sshd) + f'rsync_path = "{rsync_path}"\nio_timeout = 1\n'
                                  + _dirs(deep)), "web")
    assert result.status == "completed", result.reason
    assert "f" in _saved_names(lab)


def test_the_look_after_needing_more_than_one_listing_is_made_apart(tmp_path, sshd):
    """Three directories named alike (/src/p/www, /src/q/www, /src/r/www) are listed by three rsyncs
    after the last transfer; on a source whose listings take half of io_timeout, all three in the
    last transfer's session overran it and failed the directory as stalled. The look after is made
    apart then, each listing with io_timeout of its own."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    dirs = [lab.src / name / "www" for name in "pqr"]
    for d in dirs:
        write_files(d, {"f": b"f"})
    # a slow source's listings, once the last directory's server started (the looks after it)
    starts = lab.tmp / "rsync-starts"       # where _counting_rsync writes each start
    rsync_path, log = _counting_rsync(lab, fail_listing=f'[ "$(grep -c -- --server "{starts}")" -ge 3 ] && sleep 0.5; false')
    result = lab.backup(lab.write(ssh_source_lines(sshd) + f'rsync_path = "{rsync_path}"\nio_timeout = 1\n'
                                  + _dirs(*dirs)), "web")
    assert result.status == "completed", result.reason
    starts = log.read_text().splitlines()
    assert len([s for s in starts if "--list-only" in s]) == 3, starts       # each directory's own, before it


def test_a_session_without_the_look_after_leaves_it_to_the_look_apart():
    """The last transfer's session makes no look after when that needs more than one listing: its
    exit status says nothing of links, and the look apart after the transfers is made."""
    asked = []
    looks = source_top.Looks(["rsync"], ["/src/p/www", "/src/q/www"], lambda after: asked.append(after) or {})
    looks.begin()
    assert asked == [] and looks.words is not None
    last = looks.rsync_path("/src/q/www", True)
    assert last is not None and f"exit {source_top.SAW_AFTER}" not in last, last
    looks.ended(0)
    assert looks.after() == {} and asked == [True]
    alike = source_top.Looks(["rsync"], ["/srv/p/www", "/srv/q/web"], lambda after: asked.append(after) or {})
    assert f"exit {source_top.SAW_AFTER}" in alike.rsync_path("/srv/q/web", True)
    assert source_top.Looks(["rsync"], ["/srv/www/www"], lambda after: {}).words is None
    many = [f"/srv/www/site{i}" for i in range(4000)]       # the look after would pass 32 KiB: apart
    asked.clear()
    looks = source_top.Looks(["rsync"], many, lambda after: asked.append(after) or {})
    assert f"exit {source_top.SAW_BEFORE}" in looks.rsync_path(many[0], False)
    assert f"exit {source_top.SAW_AFTER}" not in looks.rsync_path(many[-1], True)
    looks.ended(0)
    assert looks.after() == {} and asked == [True]


def test_a_session_closed_before_its_exit_status_came_falls_back_to_the_looks_apart(tmp_path, sshd):
    """The source's side of the connection ends while the first directory's session lists (its
    exit status never reaches rsync, nor does rsync wait for ssh's): that transfer is made again
    with the looks apart, which refuse the link of the second directory, and the first is saved."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    pub, alice, secret = _tree(lab)
    killed = lab.tmp / "killed"
    rsync_path, log = _counting_rsync(lab, fail_listing=(       # the sshd process of the session, killed once
        f'[ ! -e "{killed}" ] && touch "{killed}" && p=$PPID && while [ "$p" -gt 1 ]; do'
        ' case "$(cat /proc/$p/comm)" in sshd*) kill -9 "$p"; break;; esac;'
        ' p=$(cut -d")" -f2 /proc/$p/stat | cut -d" " -f3); done; false'))
    result = lab.backup(lab.write(ssh_source_lines(sshd) + f'rsync_path = "{rsync_path}"\n' + _dirs(pub, alice)), "web")
    assert killed.exists()
    assert result.status == "failed", result.reason
    assert result.reason.startswith(f"{alice}: {alice} is a symlink on the source (to {secret})"), result.reason
    assert "readme" in _saved_names(lab) and "shadow" not in _saved_names(lab)
