"""command_safety.command_changeable read as a shell reads a command: what wrappers, pipelines, `cd`,
interpreters' options and a script's `#!` line run is judged; an ordinary Debian command line is
not refused (real files, real modes, `nobody` as the other user)."""

from __future__ import annotations

import grp
import os
from pathlib import Path

import pytest

from rabtui import command_safety
from tests.trees import Lab, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give a folder to another user")


@pytest.fixture
def places(open_base):
    """`theirs`: nobody's folder holding hook.sh, a program `gzip` and a module mod.py; `mine`:
    root's, holding alert.sh."""
    from tests.other_user import NOBODY

    theirs, mine = open_base / "theirs", open_base / "mine"
    for d in (theirs, mine):
        d.mkdir()
    for name in ("hook.sh", "gzip"):
        (theirs / name).write_text("#!/bin/sh\ntrue\n")
        (theirs / name).chmod(0o755)
    (theirs / "mod.py").write_text("")
    (mine / "alert.sh").write_text("#!/bin/sh\ntrue\n")
    (mine / "alert.sh").chmod(0o755)
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    return theirs, mine


def test_what_a_wrapper_a_pipeline_or_a_cd_runs_is_judged(places, monkeypatch):
    theirs, mine = places
    why = f"{theirs} belongs to user nobody"
    for command in (f"nice -n 19 {theirs}/gzip", f"sudo -u postgres {theirs}/gzip", f"ionice -c3 {theirs}/gzip",
                    f"timeout 30 flock /run/lock/x {theirs}/gzip", f"env LC_ALL=C bash {theirs}/hook.sh",
                    f"/usr/bin/env -S 'bash -e {theirs}/hook.sh'", f"pg_dump db | {theirs}/gzip > /var/backups/db.gz",
                    f"true && sh {theirs}/hook.sh", f"cd {theirs} && sh ./hook.sh", f"cd {theirs}; ./gzip",
                    f"bash -o pipefail {theirs}/hook.sh", f"sh < {theirs}/hook.sh", f"sh -c 'nice {theirs}/gzip'",
                    f"flock /run/lock/x -c 'sh {theirs}/hook.sh'", f"if true; then {theirs}/gzip; fi",
                    f". {theirs}/hook.sh", f"source {theirs}/hook.sh", f"eval '{theirs}/gzip -9'",
                    f"su - postgres -c 'sh {theirs}/hook.sh'", f"runuser -u postgres -- {theirs}/gzip",
                    f"sudo -Hu postgres {theirs}/gzip", f"env -iu LANG {theirs}/gzip"):
        assert why in (command_safety.command_changeable(command) or ""), command
    monkeypatch.setenv("HOOKS", str(theirs))      # the shell expands it in the environment the command gets
    for command in ("sh $HOOKS/hook.sh", "${HOOKS}/gzip -9", "echo `$HOOKS/gzip`", "x=$($HOOKS/gzip)",
                    "PATH=$HOOKS:$PATH gzip -9", "export PATH=$HOOKS:$PATH; pg_dump db | gzip"):
        assert why in (command_safety.command_changeable(command) or ""), command
    monkeypatch.chdir(theirs)       # a relative script, and python's -m, are found from the working directory
    for command in ("sh hook.sh", "python3 -m mod", "./gzip"):
        assert why in (command_safety.command_changeable(command) or ""), command
    monkeypatch.chdir("/tmp")       # anyone may put theirs at a name missing in a sticky folder open to all
    for command in ("sh ./nothing-here.sh", "/tmp/nothing-here/x"):
        assert "is not there, and another user may make it: /tmp is writable by everyone" in \
            (command_safety.command_changeable(command) or ""), command


def test_a_folder_of_path_before_the_program_where_another_user_could_put_theirs_is_judged(places, open_base,
                                                                                            monkeypatch):
    """exec tries each folder of PATH in turn: a long pre-backup command gives them time to put
    a cat of theirs in one before /usr/bin, which the second command of the line then runs."""
    theirs, mine = places
    sticky = open_base / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    for path, why in ((f"{sticky}:/usr/bin:/bin", f"{sticky}/cat is not there, and another user may make it"),
                      (f"{theirs}/bin:/usr/bin:/bin", f"{theirs} belongs to user nobody"),
                      (".:/usr/bin:/bin", f"{theirs} belongs to user nobody")):
        monkeypatch.setenv("PATH", path)
        monkeypatch.chdir(theirs if path.startswith(".") else "/")
        said = command_safety.command_changeable("true && cat x") or ""
        assert why in said and "PATH's" in said, (path, said)
    # missing or relative folders no other user can make or change, and any after the program's
    monkeypatch.setenv("PATH", f"/usr/local/games:no/such:.:/usr/bin:/bin:{sticky}:{theirs}")
    monkeypatch.chdir(mine)
    assert command_safety.command_changeable("pg_dump db | gzip > /var/backups/db.gz") is None


def test_the_interpreter_a_scripts_first_line_names_is_judged(places):
    theirs, mine = places
    (mine / "alert.sh").write_text(f"#!{theirs}/gzip -e\ntrue\n")
    assert f"{theirs} belongs to user nobody" in (command_safety.command_changeable(f"{mine}/alert.sh") or "")
    for first in ("#!/usr/bin/env -S sh -e", "#!/usr/bin/env -S sh 'unclosed", "#!", "\x7fELF"):
        (mine / "alert.sh").write_text(f"{first}\ntrue\n")
        assert command_safety.command_changeable(f"{mine}/alert.sh") is None, first


def test_an_ordinary_command_line_is_not_refused(places, monkeypatch):
    """Programs in /usr/bin and /usr/sbin, through /bin and /etc/alternatives symlinks, wrappers,
    shell lines, builtins, and paths that are only data (another user's files among them)."""
    theirs, mine = places
    mine.chmod(0o775)               # root's group: root alone in it (as on most systems)
    if grp.getgrgid(0).gr_mem:
        pytest.skip("root's group has members here")
    monkeypatch.chdir("/tmp")       # sticky, holding none of the names
    monkeypatch.setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")    # systemd's
    for command in ("rsync", "sudo rsync", "nice -n 19 rsync", "ionice -c3 nice -n 19 rsync", "/bin/sh -c true",
                    "pg_dump x | gzip > /var/backups/x.gz", "LC_ALL=C pg_dump x 2>/dev/null", "echo hi", ":",
                    "true", f"cat {theirs}/hook.sh", f"cp {theirs}/hook.sh {mine}/copy", f"sh {mine}/alert.sh",
                    f"nice sh -c 'cd {mine} && ./alert.sh'", f"{mine}/alert.sh --to {theirs}/x",
                    "python3 -c 'print(1)'", "perl -e 'print 1'", "awk '{print}' /etc/passwd", "sh -c 'exit 0'",
                    "mail -s rabtui root", "cd /var/backups && tar -czf x.tgz .", "sh -c 'unclosed",
                    f"{os.path.realpath('/usr/bin/awk')}", "/usr/bin/awk", "sh -s not-a-script < /dev/null",
                    "bash -s -- a b", "su - postgres -c 'pg_dump db' > /var/backups/db.sql", "su postgres"):
        assert command_safety.command_changeable(command) is None, command


def test_a_folder_writable_by_an_empty_staff_group_is_not_refused(open_base):
    """Debian's /usr/local and /usr/local/bin are root:staff 2775 where /etc/staff-group-for-usr-local
    is; nobody is in staff unless root put them there."""
    try:
        staff = grp.getgrnam("staff")
    except KeyError:
        pytest.skip("no staff group here")
    if staff.gr_mem or any(p.pw_gid == staff.gr_gid for p in __import__("pwd").getpwall()):
        pytest.skip("the staff group has members here")
    local = open_base / "local" / "bin"
    local.mkdir(parents=True)
    for d in (local.parent, local):
        os.chown(d, 0, staff.gr_gid)
        d.chmod(0o2775)
    (local / "alert").write_text("#!/bin/sh\ntrue\n")
    (local / "alert").chmod(0o755)
    assert command_safety.command_changeable(f"{local}/alert") is None
    assert command_safety.command_changeable(f"nice -n 19 {local}/alert") is None


def test_a_pre_command_through_a_wrapper_of_another_users_program_fails_the_backup_before_it_runs(places, open_base,
                                                                                                  tmp_path):
    theirs, mine = places
    marker = open_base / "ran"
    (theirs / "gzip").write_text(f"#!/bin/sh\ntouch {marker}\n")
    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {"a": b"1"})
    cfg = lab.local(extra=f'pre_backup_commands = ["nice -n 19 {theirs}/gzip"]')
    result = lab.backup(cfg, medium_id="m1")
    assert not marker.exists(), "root ran nobody's program"
    assert result.status == "failed" and f"{theirs} belongs to user nobody" in result.reason, result.reason

    cfg = lab.local(extra=f'pre_backup_commands = ["nice -n 19 sh {mine}/alert.sh | cat"]')
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "completed", result.reason


def test_a_notify_command_behind_a_wrapper_is_not_run_and_the_fix_is_said(places, tmp_path):
    from rabtui.ops import notify
    from tests.other_user import NOBODY

    theirs, mine = places
    marker = tmp_path / "ran"
    (theirs / "gzip").write_text(f"#!/bin/sh\ncat > {marker}\n")
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    text = lab.config_path.read_text()
    lab.config_path.write_text(text + f'\n[notify]\ncommand = "nice -n 19 {theirs}/gzip"\n')
    problems = notify.send(lab.load(), {"kind": "backup", "level": "error", "message": "m"})
    assert not marker.exists()
    assert any(f"refusing to run notify.command: {theirs} belongs to user nobody (uid {NOBODY.pw_uid}); fix:" in p
               and "chmod go-w" in p
               for p in problems), problems


def test_a_folder_of_path_this_user_cannot_reach_is_passed_over_as_exec_does(monkeypatch, open_base):
    """A PATH kept through su (root's folders in it) for an operator who is not root (nobody here);
    not one whose owner, another user, may open it (and put theirs there) whenever they like."""
    import pwd

    from tests.other_user import as_nobody

    monkeypatch.setenv("PATH", "/root/.no-such-tools/bin:/root:/usr/bin:/bin")

    def judged():
        assert command_safety.command_changeable("nice -n 19 cat x | gzip") is None
    as_nobody(judged)
    daemon = pwd.getpwnam("daemon")
    closed = open_base / "daemons"
    (closed / "bin").mkdir(parents=True)
    os.chown(closed, daemon.pw_uid, daemon.pw_gid)
    closed.chmod(0o700)
    monkeypatch.setenv("PATH", f"{closed}/bin:/usr/bin:/bin")

    def refused():
        said = command_safety.command_changeable("nice -n 19 cat x") or ""
        assert f"{closed} belongs to user daemon" in said and "PATH's" in said, said
    as_nobody(refused)


def test_a_working_directory_removed_meanwhile_is_no_traceback(tmp_path, monkeypatch):
    """The console left open in a folder since removed: relative names lead nowhere."""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    monkeypatch.setenv("PATH", ".:/usr/bin:/bin")
    for command in ("sh ./hook.sh", "python3 -m mod", "nice -n 19 cat x | gzip", "./x"):
        assert command_safety.command_changeable(command) is None, command


@pytest.fixture
def dump_user(open_base):
    """A system user of their own (useradd -r) whose home, in open_base, holds dump.sh of theirs:
    the pre-backup command runs it as them. Removed afterwards."""
    import pwd
    import shutil
    import subprocess
    import time

    if not shutil.which("useradd"):
        pytest.skip("no useradd to make a user")
    name = f"rabtui-dump-{os.getpid()}"     # one each: the tests of two workers make theirs at once
    home = open_base / "dumphome"
    subprocess.run(["userdel", name], capture_output=True)
    for _ in range(50):     # another useradd holding the lock of /etc/passwd makes it fail at once
        made = subprocess.run(["useradd", "-r", "-U", "-M", "-d", str(home), "-s", "/bin/sh", name],
                              capture_output=True, text=True)
        if made.returncode == 0:
            break
        time.sleep(0.1)
    assert made.returncode == 0, made.stderr
    try:
        user = pwd.getpwnam(name)
        home.mkdir()
        (home / "dump.sh").write_text(f"#!/bin/sh\ntouch {home}/ran\n")
        (home / "dump.sh").chmod(0o775)      # writable by their own group, of them alone
        for p in (home, home / "dump.sh"):
            os.chown(p, user.pw_uid, user.pw_gid)
        yield user
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def test_a_script_run_as_the_user_who_alone_may_change_it_is_not_refused(dump_user, places, open_base):
    """`sudo -u postgres ~postgres/dump.sh` from root's config: postgres may change the script, and
    it runs as postgres: that gives them nothing. What another user (nobody here) or everyone may
    change stays refused, and so does their script run as root (a sudo without -u, or none)."""
    theirs, mine = places
    name, home = dump_user.pw_name, dump_user.pw_dir
    for command in (f"sudo -u {name} ~{name}/dump.sh", f"sudo -u {name} sh {home}/dump.sh",
                    f"sudo -H -u {name} -- nice -n 19 {home}/dump.sh", f"sudo --user={name} {home}/dump.sh",
                    f"sudo -u '#{dump_user.pw_uid}' {home}/dump.sh", f"runuser -u {name} -- {home}/dump.sh",
                    f"su - {name} -c '~{name}/dump.sh'", f"su {name} -s /bin/sh -c 'sh {home}/dump.sh' | gzip",
                    f"doas -u {name} {home}/dump.sh", f"runuser {name} -c {home}/dump.sh",
                    f"sudo -iu {name} {home}/dump.sh", f"sudo -Hu{name} {home}/dump.sh"):
        assert command_safety.command_changeable(command) is None, command
    world = open_base / "x.sh"
    world.write_text("#!/bin/sh\ntrue\n")
    world.chmod(0o777)
    (theirs / "hook.sh").chmod(0o777)
    for command, why in ((f"sudo -u {name} sh {world}", f"{world} is writable by everyone"),
                         (f"sudo -u {name} sh {theirs}/hook.sh", f"{theirs} belongs to user nobody"),
                         (f"runuser -u {name} -- {theirs}/gzip", f"{theirs} belongs to user nobody"),
                         (f"sudo {home}/dump.sh", f"{home} belongs to user {name}"),
                         (f"sudo -u {name} sudo {home}/dump.sh", f"{home} belongs to user {name}"),
                         (f"nice {home}/dump.sh", f"{home} belongs to user {name}"),
                         (f"su -c {home}/dump.sh", f"{home} belongs to user {name}"),
                         (f"su - nobody -c '{home}/dump.sh'", f"{home} belongs to user {name}")):
        assert why in (command_safety.command_changeable(command) or ""), command
    # the interpreter its first line names runs as it does: nobody's is refused
    Path(home, "dump.sh").write_text(f"#!{theirs}/gzip\ntrue\n")
    assert f"{theirs} belongs to user nobody" in (command_safety.command_changeable(f"sudo -u {name} {home}/dump.sh") or "")


def test_a_pre_command_run_as_the_owner_of_its_script_runs(dump_user, tmp_path):
    """The backup runs it (runuser, as sudo is not everywhere): it was refused before it ran."""
    home = dump_user.pw_dir
    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {"a": b"1"})
    cfg = lab.local(extra=f'pre_backup_commands = ["runuser -u {dump_user.pw_name} -- {home}/dump.sh"]')
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "completed", result.reason
    assert os.stat(f"{home}/ran").st_uid == dump_user.pw_uid


def test_a_script_on_a_read_only_file_system_nobody_can_change_is_not_refused(open_base, tmp_path, bind_mount):
    """A world-writable script, in a world-writable folder and one of nobody's, on an ext4 image
    mounted read-only: nobody but root can change them (nor remount it). Not so through a read-only
    bind mount of a writable folder (its files are written through the folder's own name), nor on
    an image whose file others can write (what the loop device reads)."""
    import shutil
    import subprocess

    from tests.other_user import NOBODY

    if shutil.which("mkfs.ext4") is None:
        pytest.skip("no mkfs.ext4")
    image, tree = tmp_path / "ro.img", tmp_path / "tree"
    for d, mode in (("open", 0o777), ("theirs", 0o755)):
        (tree / d).mkdir(parents=True)
        (tree / d / "x.sh").write_text("#!/bin/sh\ntrue\n")
        (tree / d / "x.sh").chmod(0o777)
        (tree / d).chmod(mode)
    os.chown(tree / "theirs", NOBODY.pw_uid, NOBODY.pw_gid)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(image), "8M"], check=True, capture_output=True)
    ro = open_base / "ro"
    ro.mkdir()
    done = subprocess.run(["mount", "-o", "ro,loop", str(image), str(ro)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount an image here: {done.stderr.strip()}")
    try:
        for command in (f"sh {ro}/open/x.sh", f"{ro}/theirs/x.sh", f"cd {ro}/open && ./x.sh", f"nice sh < {ro}/open/x.sh"):
            assert command_safety.command_changeable(command) is None, command
        assert command_safety.command_changeable(f"sh {ro}/open/y.sh") is None     # nor made there
        image.chmod(0o666)      # what the loop device reads, anyone may write
        assert f"{ro}/open is writable by everyone" in (command_safety.command_changeable(f"sh {ro}/open/x.sh") or "")
    finally:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True)

    shown = bind_mount(open_base / "shown", tree / "open")
    subprocess.run(["mount", "-o", "remount,bind,ro", str(shown)], check=True)
    assert f"{shown} is writable by everyone" in (command_safety.command_changeable(f"sh {shown}/x.sh") or "")


def test_what_su_runs_is_judged_however_its_options_are_written(dump_user, places, open_base, monkeypatch):
    """su (and runuser in su's form) takes its options anywhere before `--`, run together (-lc),
    long (--command=, --session-command) or naming the shell it runs (-s): each runs what is
    given, as root where no user is named."""
    theirs, mine = places
    name, home = dump_user.pw_name, dump_user.pw_dir
    monkeypatch.chdir(mine)
    why = f"{theirs} belongs to user nobody"
    for command in (f"su -lc {theirs}/gzip", f"su -fc {theirs}/gzip root", f"su root -lc {theirs}/gzip",
                    f"su --command={theirs}/gzip", f"su --session-command={theirs}/gzip",
                    f"su --session-command {theirs}/gzip -", f"su -s {theirs}/gzip -c true",
                    f"su --shell={theirs}/gzip -c true", f"su -s{theirs}/gzip root", f"su root -- {theirs}/hook.sh",
                    f"runuser root --command={theirs}/gzip", f"runuser -lc {theirs}/gzip root",
                    f"su {name} -lc {theirs}/gzip", f"su -c -- root {theirs}/gzip"):
        assert why in (command_safety.command_changeable(command) or ""), command
    for command in (f"su -lc {home}/dump.sh {name}", f"su -c {home}/dump.sh -s /bin/sh -- {name}",
                    f"su --login {name} --command={home}/dump.sh"):
        assert command_safety.command_changeable(command) is None, command
    assert f"{home} belongs to user {name}" in (command_safety.command_changeable(f"su -lc {home}/dump.sh") or "")


def test_the_working_directory_a_wrapper_runs_its_command_in_is_judged(dump_user, places, monkeypatch):
    """env -C, sudo -D run a relative name from the folder they are given; su's login (-, -l) from
    the user's home."""
    theirs, mine = places
    name, home = dump_user.pw_name, dump_user.pw_dir
    os.symlink(f"{theirs}/gzip", f"{home}/gzip")
    monkeypatch.chdir(mine)
    why = f"{theirs} belongs to user nobody"
    for command in (f"env -C {theirs} ./gzip", f"env --chdir={theirs} sh hook.sh", f"sudo -D {theirs} ./gzip",
                    f"sudo --chdir {theirs} sh hook.sh", f"su - {name} -c ./gzip", f"su -l {name} -c 'nice ./gzip'",
                    f"sudo -iu {name} ./gzip", f"sudo -i -u '#{dump_user.pw_uid}' ./gzip"):
        assert why in (command_safety.command_changeable(command) or ""), command
    assert command_safety.command_changeable(f"su - {name} -c 'sh dump.sh'") is None


def test_a_user_named_again_or_a_group_given_is_judged_as_the_wrapper_runs_it(dump_user):
    """The last -u names the user (sudo, doas, runuser); a group given besides (-g disk) or root's
    kept (sudo -P) gives the user more than their own: their script is judged as root's."""
    name, home = dump_user.pw_name, dump_user.pw_dir
    why = f"{home} belongs to user {name}"
    for command in (f"runuser -u {name} -u root -- {home}/dump.sh", f"sudo -u {name} --user=root {home}/dump.sh",
                    f"doas -u {name} -u root {home}/dump.sh", f"runuser -u {name} -g disk -- {home}/dump.sh",
                    f"runuser -u {name} --supp-group=disk -- {home}/dump.sh", f"su -g disk {name} -c {home}/dump.sh",
                    f"su {name} -G disk -c {home}/dump.sh", f"sudo -u {name} -g disk {home}/dump.sh",
                    f"sudo -P -u {name} {home}/dump.sh", f"sudo -u {name} --preserve-groups {home}/dump.sh"):
        assert why in (command_safety.command_changeable(command) or ""), command
    assert command_safety.command_changeable(f"runuser -u root -u {name} -- {home}/dump.sh") is None


def test_a_pre_command_su_runs_as_root_from_another_users_folder_fails_the_backup_before_it_runs(places, open_base,
                                                                                                   tmp_path):
    _refused_before_it_runs(places, open_base, tmp_path,
                            lambda theirs: (f"su -lc {theirs}/gzip", f"env -C {theirs} ./gzip"))


def test_a_partition_of_an_image_others_can_write_is_not_taken_as_read_only(open_base, tmp_path):
    """A partition of a loop device (losetup -P) reads the loop device's file: mounted read-only,
    its files are as changeable as that file is."""
    import shutil
    import struct
    import subprocess

    if shutil.which("mkfs.ext4") is None:
        pytest.skip("no mkfs.ext4")
    image, tree = tmp_path / "disk.img", tmp_path / "tree"
    (tree / "open").mkdir(parents=True)
    (tree / "open" / "x.sh").write_text("#!/bin/sh\ntrue\n")
    for p in (tree / "open", tree / "open" / "x.sh"):
        p.chmod(0o777)
    with open(image, "wb") as f:       # one partition from sector 2048 (an MBR)
        f.truncate(16 << 20)
        f.seek(446)
        f.write(struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x83, b"\0\0\0", 2048, (16 << 11) - 2048))
        f.seek(510)
        f.write(b"\x55\xaa")
    made = subprocess.run(["losetup", "-f", "--show", "-P", str(image)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot set up a loop device here: {made.stderr.strip()}")
    loop = made.stdout.strip()
    ro = open_base / "ro"
    ro.mkdir()
    try:
        subprocess.run(["partx", "-a", loop], capture_output=True)     # where -P found none
        numbers = Path(f"/sys/block/{os.path.basename(loop)}/{os.path.basename(loop)}p1/dev")
        if not numbers.exists():
            pytest.skip("the kernel shows no partition of a loop device here")
        node = tmp_path / "part1"      # where no udev makes /dev/loopNp1
        major, minor = map(int, numbers.read_text().split(":"))
        os.mknod(node, 0o600 | 0o060000, os.makedev(major, minor))
        subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(node)], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "ro", str(node), str(ro)], check=True, capture_output=True)
        try:
            assert command_safety.command_changeable(f"sh {ro}/open/x.sh") is None
            image.chmod(0o666)      # what the loop device, and so its partition, reads: anyone may write it
            assert f"{ro}/open is writable by everyone" in (command_safety.command_changeable(f"sh {ro}/open/x.sh") or "")
        finally:
            subprocess.run(["umount", "-l", str(ro)], capture_output=True)
    finally:
        subprocess.run(["losetup", "-d", loop], capture_output=True)


def test_a_long_option_given_by_its_start_alone_is_read_as_the_wrapper_reads_it(dump_user, places):
    """getopt_long takes any start of a long option that names it alone (`nice --adj 5`): its value
    is no command; bash's `time -p` times the command after it."""
    theirs, mine = places
    name, home = dump_user.pw_name, dump_user.pw_dir
    why = f"{theirs} belongs to user nobody"
    for command in (f"nice --adj 5 {theirs}/gzip", f"timeout --sig KILL 5 {theirs}/gzip",
                    f"flock --tim 5 /run/lock/x {theirs}/gzip", f"stdbuf --out L {theirs}/gzip",
                    f"env --chd {theirs} ./gzip", f"time -p {theirs}/gzip", f"sudo -R / {theirs}/gzip",
                    f"env --split 'sh {theirs}/hook.sh'", f"env -S '--chd {theirs.parent} ./theirs/gzip'"):
        assert why in (command_safety.command_changeable(command) or ""), command
    assert f"{home} belongs to user {name}" in (
        command_safety.command_changeable(f"sudo --us {name} --gr disk {home}/dump.sh") or "")
    assert command_safety.command_changeable(f"sudo --us {name} {home}/dump.sh") is None


def test_a_script_on_a_btrfs_mounted_read_only_is_judged_by_its_devices(open_base, tmp_path, btrfs):
    """btrfs shows its files on a device number of its own, none of a block device's: mounted
    read-only, what it holds is as changeable as the devices it is made of (a loop device's file)."""
    import subprocess

    shown = btrfs(open_base / "ro")
    (shown / "open").mkdir()
    (shown / "open" / "x.sh").write_text("#!/bin/sh\ntrue\n")
    for p in (shown / "open", shown / "open" / "x.sh"):
        p.chmod(0o777)
    subprocess.run(["mount", "-o", "remount,ro", str(shown)], check=True)
    assert command_safety.command_changeable(f"sh {shown}/open/x.sh") is None
    # a file system whose source names that device but is none of it (a FUSE one's fsname=, a user's)
    loop = next(line.split()[0] for line in subprocess.run(["losetup", "-a"], capture_output=True, text=True)
                .stdout.splitlines() if str(tmp_path / "btrfs.img") in line).rstrip(":")
    named = open_base / "named"
    named.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", loop, str(named)], check=True)
    try:
        (named / "x.sh").write_text("#!/bin/sh\ntrue\n")
        named.chmod(0o777)
        subprocess.run(["mount", "-o", "remount,ro", str(named)], check=True)
        assert f"{named} is writable by everyone" in (command_safety.command_changeable(f"sh {named}/x.sh") or "")
    finally:
        subprocess.run(["umount", "-l", str(named)], capture_output=True)
    (tmp_path / "btrfs.img").chmod(0o666)      # what the loop device reads: anyone may write it
    assert f"{shown}/open is writable by everyone" in (command_safety.command_changeable(f"sh {shown}/open/x.sh") or "")


def test_a_script_read_through_a_descriptor_is_the_file_redirected_there(places):
    """`. /dev/stdin < FILE`, `sh /dev/fd/3 3< FILE`: the shell reads FILE."""
    theirs, mine = places
    for command in (f". /dev/stdin < {theirs}/hook.sh", f"sh /dev/stdin < {theirs}/hook.sh",
                    f"bash /dev/fd/3 3< {theirs}/hook.sh", f"source /proc/self/fd/0 < {theirs}/hook.sh"):
        assert f"{theirs} belongs to user nobody" in (command_safety.command_changeable(command) or ""), command
    assert command_safety.command_changeable(f"sh /dev/stdin < {mine}/alert.sh") is None


def test_what_setpriv_runs_is_judged_as_the_user_and_groups_it_gives(dump_user, places):
    """setpriv runs its command: as the user --reuid names where their own group goes with it (--regid
    and --init-groups or --clear-groups), else with root's groups, as root."""
    theirs, mine = places
    name, home = dump_user.pw_name, dump_user.pw_dir
    own = f"--reuid={name} --regid={name} --init-groups"
    assert command_safety.command_changeable(f"setpriv {own} {home}/dump.sh") is None
    assert command_safety.command_changeable(f"setpriv --reuid {name} --regid {name} --clear-groups {home}/dump.sh") is None
    for command, why in ((f"setpriv --nnp {theirs}/gzip", f"{theirs} belongs to user nobody"),
                         (f"setpriv {own} {theirs}/gzip", f"{theirs} belongs to user nobody"),
                         (f"setpriv --reuid={name} --init-groups {home}/dump.sh", f"{home} belongs to user {name}"),
                         (f"setpriv --reuid={name} --regid=disk --init-groups {home}/dump.sh",
                          f"{home} belongs to user {name}"),
                         (f"setpriv --reuid={name} --regid={name} --keep-groups {home}/dump.sh",
                          f"{home} belongs to user {name}"),
                         (f"sg disk -c '{theirs}/gzip'", f"{theirs} belongs to user nobody"),
                         (f"sg disk {theirs}/gzip", f"{theirs} belongs to user nobody")):
        assert why in (command_safety.command_changeable(command) or ""), command


def test_what_a_line_runs_is_found_however_its_shell_syntax_is_written(places):
    """Operators written together (`(true)&&X`, `f(){ X;}`), subshells, functions, a trap's line, a
    command substitution in double quotes or in a redirection's file, `2<` before a script, a
    `cd` in a subshell (which ends with it), bash's here-string: each runs another user's program."""
    theirs, mine = places
    why = f"{theirs} belongs to user nobody"
    for command in (f"(true);{theirs}/gzip", f"(true)&&{theirs}/gzip", f"true|({theirs}/gzip)",
                    f"echo $(true);{theirs}/gzip", f"f() {{ {theirs}/gzip; }}; f", f"f(){{ {theirs}/gzip;}};f",
                    f"function f {{ {theirs}/gzip; }}; f", f"coproc {theirs}/gzip", f"trap '{theirs}/gzip' EXIT",
                    f"trap -- {theirs}/gzip EXIT", f'echo "$({theirs}/gzip)"', f'echo "`{theirs}/gzip`"',
                    f'[ -n "$({theirs}/gzip)" ]', f"echo > $({theirs}/gzip)", f"sh 2</dev/null {theirs}/hook.sh",
                    f"sh 0< {theirs}/hook.sh", f"cd {theirs} && (cd {mine}) && ./gzip",
                    f"cd {theirs} && echo $(cd {mine}) && ./gzip", f"bash <<< '{theirs}/gzip'",
                    f"cat <({theirs}/gzip)"):
        assert why in (command_safety.command_changeable(command) or ""), command
    for command in (f"cd {theirs} && (cd {mine} && ./alert.sh)", f"echo $(cd {mine} && ./alert.sh)",
                    'logger -t rabtui "done on $(hostname) at `date`"', "[ -n \"$(pidof cron)\" ] && true",
                    "f() { pg_dump \"$1\" | gzip > \"/var/backups/$1.gz\"; }; f db1", "awk '{print $(NF)}' /etc/fstab",
                    "trap 'rm -f /run/lock/x' EXIT; pg_dump db > /var/backups/db.sql", "echo 'a `b` c'",
                    "tar -czf \"/var/backups/etc-$(date +%F).tgz\" /etc", "cat <(echo hi)"):
        assert command_safety.command_changeable(command) is None, command


def test_a_program_named_by_what_only_the_run_expands_is_refused(places, monkeypatch):
    """`${X:-/theirs}/x`, a variable not set here (empty when run) or one the line sets, $1, the
    output of a command, a glob, bash's {a,b}, $'...': only running the line tells what runs."""
    theirs, mine = places
    monkeypatch.setenv("HOOKS", str(theirs))
    monkeypatch.delenv("NOPE", raising=False)
    for command in (f"${{NOPE:-{theirs}}}/gzip", "${HOOKS%/}/gzip", f"$NOPE{theirs}/gzip", f"x={theirs}/gzip; $x",
                    f"HOOKS={mine}; $HOOKS/alert.sh", f"set -- {theirs}/gzip; \"$1\"", "sh -c '\"$1\"' sh",
                    f"$(echo {theirs}/gzip)", f"`echo {theirs}/gzip`", f"{theirs.parent}/*/gzip",
                    f"{theirs.parent}/{{theirs,mine}}/gzip", f"$'{theirs}/gzip'", f"sh {theirs.parent}/t?eirs/hook.sh"):
        assert "is named by what only running the line expands" in (command_safety.command_changeable(command) or ""), \
            command
    for command in ("$HOOKS/../mine/alert.sh", "\"$HOME\"/../usr/bin/true", f"sh {mine}/alert.sh \"$1\" *"):
        assert command_safety.command_changeable(command) is None, command



def test_a_shell_line_s_positional_parameters_are_its_arguments(places):
    """`sh -c LINE NAME ARG...`: $0 is NAME, "$@" the ARGs, as the shell gives them (a wrapper's
    idiom: `sh -c 'setsid -w "$@"' sh rsync` runs rsync)."""
    theirs, mine = places
    why = f"{theirs} belongs to user nobody"
    for command in (f"sh -c '\"$0\"' {theirs}/gzip", f"sh -c 'exec \"$@\"' sh {theirs}/gzip",
                    f"sh -c 'nice $1 -9' sh {theirs}/gzip", f"bash -c 'setsid -w \"$@\"; exit $?' sh {theirs}/gzip"):
        assert why in (command_safety.command_changeable(command) or ""), command
    for command in ("sh -c 'setsid -w \"$@\"; exit $?' sh rsync", f"sh -c 'nice \"$@\"' sh {mine}/alert.sh"):
        assert command_safety.command_changeable(command) is None, command


def test_a_pre_command_running_another_users_program_in_a_subshell_fails_the_backup_before_it_runs(places, open_base,
                                                                                                     tmp_path):
    _refused_before_it_runs(places, open_base, tmp_path,
                            lambda theirs: (f"(true)&&{theirs}/gzip", f"echo \\\"$({theirs}/gzip)\\\""))


def _refused_before_it_runs(places, open_base, tmp_path, commands) -> None:
    """Each pre-backup command of `commands(theirs)`, running nobody's program as root, fails its backup
    before that program runs, naming the folder."""
    theirs, _ = places
    marker = open_base / "ran"
    (theirs / "gzip").write_text(f"#!/bin/sh\ntouch {marker}\n")
    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {"a": b"1"})
    for command in commands(theirs):
        cfg = lab.local(extra=f'pre_backup_commands = ["{command}"]')
        result = lab.backup(cfg, medium_id="m1")
        assert not marker.exists(), f"root ran nobody's program: {command}"
        assert result.status == "failed" and f"{theirs} belongs to user nobody" in result.reason, result.reason


def test_what_more_wrappers_run_is_judged(places):
    """unshare, nsenter, choom, prlimit, setarch, systemd-inhibit, fakeroot, chronic... run their
    command; script runs its -c line (its options after the file too), run-parts each file of its folder."""
    theirs, mine = places
    why = f"{theirs} belongs to user nobody"
    for command in (f"unshare -m --propagation private {theirs}/gzip", f"nsenter -t 1 -m {theirs}/gzip",
                    f"choom -n 100 -- {theirs}/gzip", f"prlimit --nofile=1024 {theirs}/gzip",
                    f"setarch x86_64 -R {theirs}/gzip", f"linux64 {theirs}/gzip",
                    f"systemd-inhibit --what=sleep --why=backup {theirs}/gzip", f"fakeroot -- {theirs}/gzip",
                    f"chronic {theirs}/gzip", f"unshare -w {theirs} ./gzip", f"script -qc '{theirs}/gzip' /dev/null",
                    f"script /dev/null --command {theirs}/gzip", f"run-parts {theirs}", f"run-parts --report -a x {theirs}"):
        assert why in (command_safety.command_changeable(command) or ""), command
    from tests.other_user import NOBODY
    os.chown(mine / "alert.sh", NOBODY.pw_uid, NOBODY.pw_gid)      # a file of theirs in root's folder
    assert f"{mine}/alert.sh belongs to user nobody" in (command_safety.command_changeable(f"run-parts {mine}") or "")
    for command in (f"run-parts --test {mine}", "script -q /dev/null -c true", "unshare -m true",
                    "nsenter -t 1 -m -- true", f"run-parts {theirs.parent}/none"):
        assert command_safety.command_changeable(command) is None, command


def test_an_interpreters_option_with_its_value_attached_is_no_code_option(places):
    """python3 -Werror::DeprecationWarning: the value holds a c (and -Wmodule an m), which is no -c or
    -m of python's; `time -p -- X` times X."""
    theirs, mine = places
    (theirs / "x.py").write_text("")
    why = f"{theirs} belongs to user nobody"
    for command in (f"python3 -Werror::DeprecationWarning {theirs}/x.py", f"python3 -Wmodule {theirs}/x.py",
                    f"perl -Mstrict {theirs}/hook.sh", f"bash -eo pipefail {theirs}/hook.sh", f"time -p -- {theirs}/gzip"):
        assert why in (command_safety.command_changeable(command) or ""), command
    assert command_safety.command_changeable("python3 -Wd -c 'print(1)'") is None


def test_a_for_loop_over_a_folders_files_is_judged_by_each_file_and_the_folder(places, open_base):
    """`for f in DIR/*.sh; do sh "$f"; done` runs each file the glob matches: each is judged, and the
    folder, where another user could add one."""
    from tests.other_user import NOBODY

    theirs, mine = places
    assert command_safety.command_changeable(f'for f in {mine}/*.sh; do sh "$f"; done') is None
    assert command_safety.command_changeable(f"for f in {mine}/alert.sh /bin/true; do $f; done") is None
    assert f"{theirs} belongs to user nobody" in (
        command_safety.command_changeable(f'for f in {theirs}/*; do sh "$f"; done') or "")
    sticky = open_base / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    assert "another user may make it" in (command_safety.command_changeable(f'for f in {sticky}/*; do "$f"; done') or "")
    os.chown(mine / "alert.sh", NOBODY.pw_uid, NOBODY.pw_gid)
    for command in (f'for f in {mine}/*.sh; do sh "$f"; done', f"{mine}/a*"):
        assert f"{mine}/alert.sh belongs to user nobody" in (command_safety.command_changeable(command) or ""), command


def test_a_comment_or_a_here_document_hides_nothing_the_line_runs(places):
    """A comment's or a here-document's apostrophe is no open quote (the whole line went unjudged);
    a here-document fed to a shell is its script, and one whose word is unquoted runs its $(...)."""
    theirs, mine = places
    why = f"{theirs} belongs to user nobody"
    for command in (f"# it's the dump\n{theirs}/gzip", f"true # it's\n{theirs}/gzip",
                    f"cat <<'EOF' > /dev/null\nit's\nEOF\n{theirs}/gzip", f"cat <<EOF\n$({theirs}/gzip)\nEOF",
                    f"sh <<EOF\n{theirs}/gzip\nEOF", f"sh <<-EOF\n\t{theirs}/gzip\n\tEOF"):
        assert why in (command_safety.command_changeable(command) or ""), command
    for command in (f"cat <<'EOF' > /dev/null\n$({theirs}/gzip); it's data\nEOF\ntrue", "echo a#b",
                    f"echo 'x # {theirs}/gzip'"):
        assert command_safety.command_changeable(command) is None, command
