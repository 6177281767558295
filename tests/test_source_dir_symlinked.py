"""A configured directory of a source that is a symlink when it is backed up (a user who owns its
parent put one there, to /etc, /root or another user's home) is not followed: rsync's `dir/`
reads what the link points to, and a backup pulling as root would save those files under the
directory's name. The directory fails, naming the link and its target; the files it points to
are in neither the backup nor the catalog. Also when the link takes the directory's place after
rabtui looked (between that look and rsync's start): the look after the transfer sees it.

Real rsync, locally and over the test sshd."""

from __future__ import annotations

import os
import shutil

import pytest

from rabtui.cli import main
from tests.trees import Lab, ssh_source_lines, write_files


def _tree(lab: Lab):
    """src/pub (a directory), src/alice -> src/secret (a symlink), src/secret/shadow."""
    pub, alice, secret = lab.src / "pub", lab.src / "alice", lab.src / "secret"
    write_files(pub, {"readme": b"r"})
    write_files(secret, {"shadow": b"root:x"})
    os.symlink(secret, alice)
    return pub, alice, secret


def _alice_a_directory(lab: Lab):
    """_tree's, alice a directory of her own (holding "mine") for now: pub, alice, secret."""
    pub, alice, secret = _tree(lab)
    os.unlink(alice)
    write_files(alice, {"mine": b"m"})
    return pub, alice, secret


def _and_bob(lab: Lab):
    """bob's directory of his own beside alice's (holding "mine")."""
    bob = lab.src / "bob"
    write_files(bob, {"mine": b"b"})
    return bob


def _rsync_path(lab: Lab, name: str, cases: str) -> str:
    """The source's rsync_path, a script `name` in lab.tmp: sh runs `cases`, then rsync."""
    script = lab.tmp / name
    script.write_text("#!/bin/sh\n" + cases + 'exec rsync "$@"\n')
    script.chmod(0o755)
    return str(script)


def _made_link(d, target) -> str:
    """What sh runs to put a symlink to `target` in the place of the directory `d` (moved aside)."""
    return f'mv "{d}" "{d}.moved" && ln -s "{target}" "{d}"'


def _links_at_server(lab: Lab, n: int, dirs, secret) -> str:
    """The source's rsync_path: at the `n`th start of rsync's server, each of `dirs` is made a
    symlink to `secret`."""
    count = lab.tmp / "servers"
    links = "; ".join(_made_link(d, secret) for d in dirs)
    return _rsync_path(lab, "swap-then-rsync",
                       'case " $* " in *" --server "*)\n'
                       f'  echo >> "{count}"; if [ "$(wc -l < "{count}")" -eq {n} ]; then\n'
                       f'    {links}; fi;;\n'
                       "esac\n")


def _dirs(*paths) -> str:
    return "".join(f'[[sources.directories]]\npath = "{p}"\n' for p in paths)


def _saved_names(lab: Lab) -> list[str]:
    names = []
    for _, medium in lab.media:
        for _, dirs, files in os.walk(medium):
            names += files + dirs
    return names


def _catalog_paths(lab: Lab) -> list[bytes]:
    return [bytes(r["path"]) for r in lab.store().all("SELECT path FROM paths")]


def test_a_local_directory_that_is_a_symlink_fails_naming_its_target(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    pub, alice, secret = _tree(lab)
    lab.write('[[sources]]\nid = "loc"\n' + _dirs(pub, alice))
    assert main(["--config", str(lab.config_path), "backup", "loc"]) == 1
    capsys.readouterr()
    [row] = lab.store().all("SELECT status, reason FROM backups")
    assert row["status"] == "failed"
    assert f"{alice} is a symlink on the source (to {secret}): not followed" in row["reason"], row["reason"]
    assert "shadow" not in _saved_names(lab)
    assert not [p for p in _catalog_paths(lab) if b"shadow" in p]


def test_an_ssh_directory_that_is_a_symlink_fails_naming_its_target(tmp_path, sshd):
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    pub, alice, secret = _tree(lab)
    cfg = lab.write(ssh_source_lines(sshd) + _dirs(pub, alice))
    result = lab.backup(cfg, "web")
    assert result.status == "failed" and result.exit_code == 1
    assert f"{alice} is a symlink on the source (to {secret}): not followed" in result.reason, result.reason
    assert "shadow" not in _saved_names(lab)
    assert not [p for p in _catalog_paths(lab) if b"shadow" in p]


def _swapper(lab: Lab, alice, secret) -> str:
    """A command that runs rsync, having put a symlink to `secret` in the place of the directory
    `alice` first when it is the transfer (not rabtui's look at the directory)."""
    return _rsync_path(lab, "swap-then-rsync",
                       'case " $* " in *" --list-only "*) ;; *)\n'
                       f'  if [ -d "{alice}" ] && [ ! -L "{alice}" ]; then {_made_link(alice, secret)}; fi;;\n'
                       "esac\n")


@pytest.mark.parametrize("over_ssh", [False, True])
def test_a_symlink_put_in_place_as_rsync_starts_fails_the_directory(tmp_path, request, over_ssh):
    lab = Lab(tmp_path, media_count=1)
    pub, alice, secret = _alice_a_directory(lab)
    swap = _swapper(lab, alice, secret)
    if over_ssh:
        sshd = request.getfixturevalue("sshd")
        lab.trust(sshd)
        cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{swap}"\n' + _dirs(pub, alice))
    else:
        cfg = lab.write(f'[[sources]]\nid = "web"\nrsync_path = "{swap}"\n' + _dirs(pub, alice))
    result = lab.backup(cfg, "web")
    assert os.path.islink(alice)       # the swap happened: rsync read through the link
    assert result.status == "failed", result.reason
    assert f"{alice} is a symlink on the source (to {secret}): not followed" in result.reason, result.reason
    assert "shadow" not in _saved_names(lab)
    assert not [p for p in _catalog_paths(lab) if b"shadow" in p]


@pytest.mark.parametrize("over_ssh", [False, True])
def test_hostile_names_of_the_link_and_its_target_and_a_path_of_4000_bytes(tmp_path, request, over_ssh):
    """A link named with a line break (over SSH too: the paths go over rsync's protocol, not through
    the remote shell's quoting), wildcards, a space, an arrow (" -> ") and a tab, to a target whose
    name is not UTF-8; another at the end of a path of about 4,000 bytes: each refused, named as the
    terminal shows names."""
    lab = Lab(tmp_path, media_count=1)
    secret = lab.src / "secret"
    write_files(secret, {"shadow": b"root:x"})
    odd = lab.src / "a\nb [*?] -> c\td"
    target = os.fsencode(secret) + b"/caf\xe9"
    os.mkdir(target)
    os.symlink(target, odd)
    deep = lab.src
    while len(os.fsencode(deep)) < 3900:     # names unlike: each level is looked at in one listing
        room = 3990 - len(os.fsencode(deep)) - 1     # whatever the test's own directory's length
        deep = deep / f"{len(deep.parts):02}".ljust(min(200, room), "d")
    deep.mkdir(parents=True)
    long_link = deep / "l"
    os.symlink(secret, long_link)
    head = '[[sources]]\nid = "web"\n'
    if over_ssh:
        sshd = request.getfixturevalue("sshd")
        lab.trust(sshd)
        head = ssh_source_lines(sshd)
    escaped = str(odd).replace("\n", "\\n").replace("\t", "\\t")
    for link, said in ((odd, f"{escaped} is a symlink on the source (to {secret}/caf\\351)"),
                       (long_link, f"{long_link} is a symlink on the source (to {secret})")):
        path = str(link).replace("\n", "\\n").replace("\t", "\\t")
        result = lab.backup(lab.write(head + f'[[sources.directories]]\npath = "{path}"\n'), "web")
        assert result.status == "failed" and said in result.reason, result.reason
    assert "shadow" not in _saved_names(lab)


def test_two_links_one_named_as_the_other_and_an_arrow():
    """rsync's listing shows a link as "name -> target": of the directories "a" and "a -> b", both
    links, each gets its own target."""
    from rabtui.backup import source_top
    listing = (b"lrwxrwxrwx              2 2026/12/06 02:27:09 a -> b -> c\n"
               b"lrwxrwxrwx              2 2026/12/06 02:27:09 a -> t\n"
               b"drwxr-xr-x          4,096 2026/12/06 02:27:09 d\n")
    assert source_top.symlink_targets(listing, ["/s/a", "/s/a -> b", "/s/d"]) == {"/s/a -> b": b"c", "/s/a": b"t"}
    # "a", a link to "b -> c", and "a -> b", a directory: the link's entry is the first's
    listing = (b"lrwxrwxrwx              2 2026/12/06 02:27:09 a -> b -> c\n"
               b"drwxr-xr-x          4,096 2026/12/06 02:27:09 a -> b\n")
    assert source_top.symlink_targets(listing, ["/s/a", "/s/a -> b"]) == {"/s/a": b"b -> c"}



@pytest.mark.parametrize("over_ssh", [False, True])
def test_a_parent_of_the_directory_made_a_symlink_fails_naming_it_and_what_to_configure(tmp_path, request, over_ssh):
    """alice owns home/alice and puts a link to root in the place of home/alice/www: rsync reads
    home/alice/www/site/ through it, so the directory fails as if it were the link itself."""
    lab = Lab(tmp_path, media_count=1)
    root, www = lab.src / "root", lab.src / "home" / "alice" / "www"
    write_files(root / "site", {"shadow": b"root:x"})
    www.parent.mkdir(parents=True)
    os.symlink(root, www)
    head = '[[sources]]\nid = "web"\n'
    if over_ssh:
        sshd = request.getfixturevalue("sshd")
        lab.trust(sshd)
        head = ssh_source_lines(sshd)
    result = lab.backup(lab.write(head + _dirs(www / "site")), "web")
    assert result.status == "failed", result.reason
    assert (f"{www}/site: {www} is a symlink on the source (to {root}): not followed;"
            f" configure the directory it points to by its own path ({root}/site)") in result.reason, result.reason
    assert "shadow" not in _saved_names(lab)


def test_a_merged_usr_host_is_backed_up_by_the_paths_the_links_point_to(tmp_path):
    """lib -> usr/lib (relative, as merged /usr has it): lib/mods and lib itself fail, each saying
    the path to configure; configured so, the backup is complete, a link inside it kept as a link."""
    lab = Lab(tmp_path, media_count=1)
    usr_lib = lab.src / "usr" / "lib"
    write_files(usr_lib / "mods", {"m.ko": b"m"})
    os.symlink("mods", usr_lib / "current")          # inside the tree: saved as the link it is
    os.symlink("usr/lib", lab.src / "lib")
    for configured, said in ((lab.src / "lib" / "mods", f"({usr_lib}/mods)"), (lab.src / "lib", f"({usr_lib})")):
        result = lab.backup(lab.write('[[sources]]\nid = "web"\n' + _dirs(configured)), "web")
        assert result.status == "failed" and said in result.reason, result.reason
        assert "usr/lib" in result.reason
    result = lab.backup(lab.write('[[sources]]\nid = "web"\n' + _dirs(usr_lib)), "web")
    assert result.status == "completed", result.reason
    [(_, medium)] = lab.media
    [copy] = medium.glob(f"web/*/data{usr_lib}")
    assert (copy / "mods" / "m.ko").read_bytes() == b"m" and os.readlink(copy / "current") == "mods"


def test_links_put_in_place_of_two_directories_during_a_later_ones_transfer_leave_no_copy(tmp_path):
    """alice and bob are made links to secret while pub, after them, is copied: the second look
    finds both; neither copy stays (nor their files in the catalog), pub's stays, and backup.json
    says what the medium holds."""
    import json
    lab = Lab(tmp_path, media_count=1)
    pub, alice, secret = _alice_a_directory(lab)
    bob = _and_bob(lab)
    script = _rsync_path(lab, "swap-then-rsync",
                         f'case " $* " in *" --list-only "*) ;; *"{pub}"*)\n'
                         f'  for d in "{alice}" "{bob}"; do [ -L "$d" ] || {{ {_made_link("$d", secret)}; }}; done;;\n'
                         "esac\n")
    cfg = lab.write(f'[[sources]]\nid = "web"\nrsync_path = "{script}"\n' + _dirs(alice, bob, pub))
    result = lab.backup(cfg, "web")
    assert os.path.islink(bob), "the swap did not happen"
    assert result.status == "failed", result.reason
    assert "shadow" not in _saved_names(lab) and "mine" not in _saved_names(lab)
    assert f"{alice} is a symlink on the source" in result.reason and f"{bob}: " in result.reason, result.reason
    assert "readme" in _saved_names(lab)
    assert not _catalog_paths(lab)
    [(_, medium)] = lab.media
    [record] = medium.glob("web/*/backup.json")
    dirs = {d["path"]: d for d in json.loads(record.read_text())["directories"]}
    assert dirs[str(alice)]["state"] == dirs[str(bob)]["state"] == "failed"
    assert dirs[str(alice)]["files"] == dirs[str(bob)]["files"] == 0 and dirs[str(pub)]["files"] >= 1


def test_the_look_after_the_transfers_failing_fails_the_backup(tmp_path):
    """The listing after the last transfer breaks (a connection dropped, rsync killed): whether a
    link took a directory's place while rsync read it is not known, so the backup is not complete."""
    lab = Lab(tmp_path, media_count=1)
    pub, _, _ = _tree(lab)
    script = _rsync_path(lab, "second-listing-breaks",
                         'case " $* " in *" --list-only "*)\n'
                         f'  if [ -e "{lab.tmp}/looked" ]; then echo "connection unexpectedly closed" >&2; exit 12; fi\n'
                         f'  touch "{lab.tmp}/looked";;\n'
                         "esac\n")
    result = lab.backup(lab.write(f'[[sources]]\nid = "web"\nrsync_path = "{script}"\n' + _dirs(pub)), "web")
    assert (lab.tmp / "looked").exists()
    assert result.status == "failed", result.reason
    assert "whether a configured directory was made a symlink" in result.reason
    assert "rsync exit 12" in result.reason and "connection unexpectedly closed" in result.reason, result.reason


def test_the_path_to_configure_instead_is_one_the_config_takes():
    from rabtui.backup import source_top
    from rabtui.config.model import directory_path_problem
    for link, target, path, said in (("/home/alice/www", b"/", "/home/alice/www/site", "/site"),
                                     ("/a/www", b"//x/", "/a/www", "/x"),
                                     ("/a/www", b"../../root", "/a/www/site", "/root/site"),
                                     ("/bin", b"usr/bin", "/bin", "/usr/bin")):
        assert f"its own path ({said})" in source_top.message(link, target, path)
        assert directory_path_problem(said) is None


def test_the_copy_dropped_is_never_removed_through_a_symlink_planted_on_the_medium(tmp_path):
    """After the transfers, the backup's data/ is made a link to another tree of this server (which
    holds a directory of the copy's name) and alice a link on the source: the look after finds
    alice, and dropping her copy removes nothing through the medium's link."""
    lab = Lab(tmp_path, media_count=1)
    pub, alice, secret = _alice_a_directory(lab)
    victim = lab.tmp / "elsewhere"
    write_files(victim / str(alice).lstrip("/"), {"precious": b"p"})
    [(_, medium)] = lab.media
    script = _rsync_path(lab, "plant-then-rsync",
                         'case " $* " in *" --list-only "*)\n'
                         f'  if [ -e "{lab.tmp}/looked" ]; then\n'
                         f'    {_made_link(alice, secret)}\n'
                         f'    for d in "{medium}"/web/*/data; do {_made_link("$d", victim)}; done\n'
                         f'  fi; touch "{lab.tmp}/looked";;\n'
                         "esac\n")
    result = lab.backup(lab.write(f'[[sources]]\nid = "web"\nrsync_path = "{script}"\n' + _dirs(alice, pub)), "web")
    assert os.path.islink(alice)
    assert result.status == "failed", result.reason
    assert (victim / str(alice).lstrip("/") / "precious").read_bytes() == b"p"


def test_a_symlink_put_in_place_and_taken_away_during_the_transfer_is_not_seen(tmp_path):
    """What the looks cannot see, shown as it is: a link to secret in alice's place only while
    rsync's transfer of it runs (both looks find the directory). rsync's own output cannot tell
    either: the top directory's item is the directory the path led to (`cd+++++++++ ./`, with
    its target's mode, owner and time), never the link, and rsync reaches each directory below
    by its path again too. The backup completes holding secret's files under alice's name."""
    lab = Lab(tmp_path, media_count=1)
    _, alice, secret = _alice_a_directory(lab)
    script = lab.tmp / "swap-while-rsync-runs"
    script.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" --list-only "*) exec rsync "$@";; esac\n'
        f'{_made_link(alice, secret)} || exit 99\n'
        'rsync "$@"; code=$?\n'
        f'rm "{alice}" && mv "{alice}.moved" "{alice}" && touch "{lab.tmp}/swapped"\n'
        'exit $code\n')
    script.chmod(0o755)
    result = lab.backup(lab.write(f'[[sources]]\nid = "web"\nrsync_path = "{script}"\n' + _dirs(alice)), "web")
    assert (lab.tmp / "swapped").exists() and os.path.isdir(alice) and not os.path.islink(alice)
    assert result.status == "completed", result.reason
    held = result.path / "data" / str(alice).lstrip("/")
    assert sorted(os.listdir(held)) == ["shadow"]


def _counting_rsync(lab: Lab, fail_listing: str = "") -> tuple[str, object]:
    """The source's rsync_path: rsync, each start written in a log (its arguments); `fail_listing`:
    a shell condition under which a local listing (`--list-only`) fails as a sudoers allowing the
    server only would make it."""
    log = lab.tmp / "rsync-starts"
    return _rsync_path(lab, "counting-rsync",
                       f'echo "$*" >> "{log}"\n'
                       f'case " $* " in *" --list-only "*) if {fail_listing or "false"}; then echo "sudo: refused" >&2; exit 1; fi;; esac\n'), log


def test_an_ssh_source_is_looked_at_in_its_transfers_own_sessions(tmp_path, sshd):
    """Each session on the source costs its shell's start-up (~/.bashrc): the looks before the
    first transfer and after the last go into the transfers' own sessions, one a directory."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    pub, _, secret = _tree(lab)
    odd = lab.src / "a b [*?] ~#%&;|<>(){{}}"       # what sh's double quotes take as written
    write_files(odd, {"f": b"f"})
    rsync_path, log = _counting_rsync(lab)
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{rsync_path}"\n' + _dirs(pub, odd))
    result = lab.backup(cfg, "web")
    assert result.status == "completed", result.reason
    starts = log.read_text().splitlines()
    assert len([s for s in starts if "--server" in s]) == 2, starts
    assert len([s for s in starts if "--list-only" in s]) == 3, starts      # each directory's before, the last's after
    os.rename(odd, f"{odd}.moved")
    os.symlink(secret, odd)
    result = lab.backup(cfg, "web")
    assert result.status == "failed", result.reason
    assert f"{odd} is a symlink on the source (to {secret}): not followed" in result.reason, result.reason
    assert "shadow" not in _saved_names(lab)


def test_only_what_the_source_s_shell_takes_as_written_goes_into_the_transfers_sessions():
    from rabtui.backup import source_top
    assert source_top.session_command(["sudo", "-n", "rsync", "--bwlimit=5M"], "/srv/a b/[x]*", ["/srv/a b/[x]*"])
    for path in ("/a'b", '/a"b', "/a$b", "/a`b", "/a\\b", "/a!b", "/a\nb", "/a\tb", "/café", "/a\udcffb"):
        assert source_top.session_command(["rsync"], path, None) is None, path
        assert source_top.session_command(["rsync"], "/srv", ["/srv", path]) is None, path
    for words in (["sudo", "'rsync'"], ["rsync", ""], ["~/bin/rsync"], ["=rsync"], ["rsync;id"], ["a$b"]):
        assert source_top.session_command(words, "/srv", None) is None, words
    assert source_top.session_command(["rsync"], "/" + "d" * 40_000, None) is None
    for words in (["LC_ALL=C"], ["A=1", "./b=c"]):       # no command, or one env would take for an assignment
        assert source_top.session_command(words, "/srv", None) is None, words
    assert source_top.session_command(["A=1", "B=2", "nice", "rsync"], "/srv", None).endswith("' sh env A=1 B=2 nice rsync")


@pytest.mark.parametrize("link", [False, True])
def test_a_source_whose_rsync_lists_nothing_itself_is_looked_at_apart(tmp_path, sshd, link):
    """The source's rsync refuses a listing of its own (sudo allowing the server only): its
    directories are looked at as rsync's server, apart, and a link is refused as ever."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    pub, alice, secret = (_tree if link else _alice_a_directory)(lab)
    rsync_path, log = _counting_rsync(lab, fail_listing="true")
    result = lab.backup(lab.write(ssh_source_lines(sshd) + f'rsync_path = "{rsync_path}"\n' + _dirs(pub, alice)), "web")
    if link:
        assert result.status == "failed", result.reason
        assert f"{alice} is a symlink on the source (to {secret}): not followed" in result.reason, result.reason
        assert "shadow" not in _saved_names(lab)
    else:
        assert result.status == "completed", result.reason
        assert "mine" in _saved_names(lab)


def test_links_put_in_place_of_two_ssh_directories_during_the_last_ones_transfer_leave_no_copy(tmp_path, sshd):
    """As above, over SSH: the look in the last transfer's own session sees the links, the look
    apart after it names them; neither copy stays."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    pub, alice, secret = _alice_a_directory(lab)
    bob = _and_bob(lab)
    script = _links_at_server(lab, 3, (alice, bob), secret)     # pub's transfer (alice's and bob's before it)
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{script}"\n' + _dirs(alice, bob, pub))
    result = lab.backup(cfg, "web")
    assert os.path.islink(bob), "the swap did not happen"
    assert result.status == "failed", result.reason
    assert f"{alice} is a symlink on the source" in result.reason and f"{bob}: " in result.reason, result.reason
    assert "shadow" not in _saved_names(lab) and "mine" not in _saved_names(lab)
    assert "readme" in _saved_names(lab)


def test_the_look_in_the_last_transfers_session_failing_fails_the_backup(tmp_path, sshd):
    """The listing after the last transfer, in its session, fails and the look apart after it finds
    no link: what rsync's own transfer ended with is not known (the look's failure took its exit
    status), so the backup is not complete."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    pub, _, _ = _tree(lab)
    rsync_path, log = _counting_rsync(lab, fail_listing=f'[ "$(grep -c -- --list-only "{lab.tmp}/rsync-starts")" -ge 2 ]')
    result = lab.backup(lab.write(ssh_source_lines(sshd) + f'rsync_path = "{rsync_path}"\n' + _dirs(pub)), "web")
    assert result.status == "failed", result.reason
    assert "whether a configured directory was made a symlink" in result.reason, result.reason


def test_the_looks_in_a_session_refuse_what_they_could_not_check(tmp_path):
    """The command a transfer's session runs, run here by sh: it starts the transfer's rsync (here
    `rsync --version`) only when each listing ran and showed no link; without grep there, it does not."""
    import shlex
    import subprocess
    from rabtui.backup import source_top
    (tmp_path / "a b").mkdir()
    os.symlink(tmp_path / "a b", tmp_path / "l")
    bare = tmp_path / "bin"
    bare.mkdir()
    for program in ("rsync", "sh"):
        os.symlink(shutil.which(program), bare / program)
    for path, env, code in ((tmp_path / "a b", {}, 0), (tmp_path / "l", {}, source_top.SAW_BEFORE),
                            (tmp_path / "l" / "x", {}, source_top.SAW_BEFORE),
                            (tmp_path / "a b", {"PATH": str(bare)}, source_top.SAW_BEFORE)):
        command = source_top.session_command(["rsync"], str(path), None)
        done = subprocess.run(["/bin/sh", "-c", command + " --version"], env={"PATH": os.environ["PATH"], **env},
                              stdout=subprocess.DEVNULL)
        assert done.returncode == code, (path, env, shlex.split(command))


def test_a_link_found_when_a_later_directory_is_refused_leaves_no_copy_of_an_earlier_one(tmp_path, sshd):
    """alice's transfer reads through a link put in its place after its session looked (and left);
    bob, the next, is a link too: his session's look refuses him and the look apart that follows
    names both. The backup fails and alice's copy (the link's target) does not stay in it."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    pub, alice, secret = _alice_a_directory(lab)
    bob = _and_bob(lab)
    script = _links_at_server(lab, 2, (alice, bob), secret)     # alice's, after her session's look
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{script}"\n' + _dirs(pub, alice, bob))
    result = lab.backup(cfg, "web")
    assert os.path.islink(bob), "the swap did not happen"
    assert result.status == "failed", result.reason
    assert "shadow" not in _saved_names(lab)
    assert f"{bob} is a symlink on the source" in result.reason and f"{alice}: " in result.reason, result.reason
    assert "readme" in _saved_names(lab)


def _as_nobody(*dirs) -> str:
    """The source's account made nobody (rsync_path "setpriv ... rsync"): `dirs` and the directories
    above them let it pass."""
    for d in dirs:
        for parent in (d, *d.parents):
            if parent == parent.parent:
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o005)
    return "setpriv --reuid=65534 --regid=65534 --clear-groups"


def test_a_file_named_as_rsync_s_connection_message_does_not_make_a_transfer_run_twice(tmp_path, sshd):
    """A file a source's rsync cannot read, named "(0 bytes received so far)", puts those words into
    rsync's error: the transfer ran in its session all the same, and is not taken for one that did
    not start (made again, with the looks apart)."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    pub = lab.src / "pub"
    write_files(pub, {"readme": b"r", "(0 bytes received so far)": b"x"})
    os.chmod(pub / "(0 bytes received so far)", 0)
    rsync_path, log = _counting_rsync(lab)
    log.touch(0o666)
    os.chmod(log, 0o666)
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{_as_nobody(pub)} {rsync_path}"\n' + _dirs(pub))
    result = lab.backup(cfg, "web")
    assert "(0 bytes received so far)" in result.reason, result.reason
    assert "readme" in _saved_names(lab)
    starts = log.read_text().splitlines()
    assert len([s for s in starts if "--server" in s]) == 1, starts


def test_an_rsync_path_beginning_with_an_assignment_is_looked_at_in_the_transfers_sessions(tmp_path, sshd):
    """rsync_path "LC_ALL=C rsync": the source's shell takes the assignment for the environment of
    rsync; so does the session's command, which starts that rsync once, after its listings."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    pub, _, _ = _tree(lab)
    rsync_path, log = _counting_rsync(lab)
    result = lab.backup(lab.write(ssh_source_lines(sshd) + f'rsync_path = "LC_ALL=C {rsync_path}"\n' + _dirs(pub)), "web")
    assert result.status == "completed", result.reason
    starts = log.read_text().splitlines()
    assert len([s for s in starts if "--server" in s]) == 1, starts
    assert len([s for s in starts if "--list-only" in s]) == 2, starts


def test_a_link_a_look_apart_named_after_its_directory_s_transfer_leaves_no_copy_though_taken_away(tmp_path, sshd):
    """alice's transfer reads through a link put in her place after her session looked; bob's
    session cannot list (the looks go apart from there: the one made then names alice), and the
    link is taken away again before the look after the last transfer: alice's copy does not stay."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    pub, alice, secret = _alice_a_directory(lab)
    bob = _and_bob(lab)
    count, marker = lab.tmp / "servers", lab.tmp / "no-listing"
    script = _rsync_path(       # servers: pub's, alice's (link put), bob's look apart, bob's (link taken away)
        lab, "swap-then-rsync",
        'case " $* " in\n'
        f'  *" --list-only "*) if [ -e "{marker}" ]; then exit 1; fi;;\n'
        f'  *" --server "*) echo >> "{count}"; n=$(wc -l < "{count}")\n'
        f'    if [ "$n" -eq 2 ]; then {_made_link(alice, secret)} && touch "{marker}"; fi\n'
        f'    if [ "$n" -eq 4 ]; then rm "{alice}" && mv "{alice}.moved" "{alice}"; fi;;\n'
        "esac\n")
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{script}"\n' + _dirs(pub, alice, bob))
    result = lab.backup(cfg, "web")
    assert os.path.exists(marker) and not os.path.islink(alice), "the swap did not happen"
    assert "shadow" not in _saved_names(lab)
    assert result.status == "failed", result.reason
    assert f"{alice} is a symlink on the source" in result.reason, result.reason
