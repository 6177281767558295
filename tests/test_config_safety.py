"""Configurations that would destroy data are refused by check-config (exit 2, file:line) and
before any backup; a config file others can change does not get its commands run."""

from __future__ import annotations

import os
import re

import pytest

from rabtui.cli import main
from tests.trees import Lab, config_text, write_files


def _check(lab: Lab, capsys) -> tuple[int, str]:
    code = main(["--config", str(lab.config_path), "check-config"])
    return code, capsys.readouterr().err


def _line(lab: Lab, needle: str) -> int:
    lines = lab.config_path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def _write(lab: Lab, sources: str) -> None:
    """The config file, without loading it (Lab.write loads it, which is refused here)."""
    lab.config_path.write_text(config_text(lab.state, lab.media, sources))
    lab.config_path.chmod(0o600)


def _source(path, extra: str = "") -> str:
    return f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{path}"\n{extra}'


def test_a_local_directory_that_holds_a_medium_is_refused(tmp_path, capsys):
    lab = Lab(tmp_path)
    _write(lab, _source(tmp_path))          # tmp_path holds medium1, medium2 and the state directory
    code, err = _check(lab, capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    line = _line(lab, f'path = "{tmp_path}"')
    where = f"{lab.config_path}:{line}: sources[0].directories[0].path"
    assert err.startswith(f"rabtui: {where}: {tmp_path} holds medium 'm1'")
    assert 'exclude it with "/medium1/"' in err
    # before any backup too: the backup command reads the same config
    assert main(["--config", str(lab.config_path), "backup", "loc"]) == 2
    assert os.listdir(lab.media[0][1]) == []


def test_a_local_directory_that_holds_the_state_directory_is_refused(tmp_path, capsys):
    lab = Lab(tmp_path)
    (tmp_path / "state").mkdir()
    lab.media = []                         # no media: only the state directory is inside
    _write(lab, _source(tmp_path / "state"))
    code, err = _check(lab, capsys)
    assert code == 2 and "holds the state directory" in err


def test_anchored_excludes_leave_the_media_out(tmp_path, capsys):
    lab = Lab(tmp_path)
    lab.write(_source(tmp_path, 'excludes = ["/medium1/", "/medium2", "/state/"]\n'))
    code, err = _check(lab, capsys)
    assert code == 0, err


def test_an_exclude_rsync_would_read_as_a_rule_cannot_let_a_medium_in(tmp_path, capsys):
    """Beside the anchored exclude that keeps the medium out, a pattern rsync would read as a rule
    of its own ("!" clears the list, "+ /medium1/" includes it first): each is only a pattern, and
    the backup holds no backup of itself; a file of those names is left out as they say."""
    lab = Lab(tmp_path)
    write_files(tmp_path / "data", {"kept": b"k", "!": b"bang", "+ x": b"plus"})
    lab.write(_source(tmp_path, 'excludes = ["+ /medium1/", "/medium1/", "/medium2/", "/state/", "!", "+ x"]\n'))
    assert main(["--config", str(lab.config_path), "backup", "loc", "--medium", "m1"]) == 0, capsys.readouterr()
    data = next(lab.media[0][1].glob("loc/backup-*/data")) / os.fspath(tmp_path).lstrip("/")
    assert (data / "data" / "kept").read_bytes() == b"k"
    assert not (data / "medium1").exists()
    assert sorted(os.listdir(data / "data")) == ["kept"]


def test_a_remote_directory_is_on_another_machine(tmp_path, capsys):
    lab = Lab(tmp_path)
    lab.write(f'[[sources]]\nid = "web"\nhost = "web1.example.com"\n[[sources.directories]]\npath = "{tmp_path}"\n')
    assert _check(lab, capsys)[0] == 0


@pytest.mark.parametrize("case, message", [
    ("nested", "and medium 'm1' ({m1}) lie in each other"),
    ("root", "a medium cannot be the root directory /"),
    ("in_state", "and the state directory {state} lie in each other"),
    ("holds_state", "and the state directory {state} lie in each other"),
])
def test_media_that_overlap_are_refused(tmp_path, capsys, case, message):
    lab = Lab(tmp_path)
    m1 = lab.media[0][1]
    second = {"nested": m1 / "inner", "root": "/", "in_state": lab.state / "m",
              "holds_state": tmp_path}[case]
    if case in ("nested", "in_state"):
        os.makedirs(second)                # check-config wants existing media paths
    lab.media = [lab.media[0], ("m2", second)]
    _write(lab, "")
    code, err = _check(lab, capsys)
    assert code == 2, err
    assert re.match(rf"rabtui: {re.escape(str(lab.config_path))}:\d+: media\[1\]\.path: ", err)
    assert message.format(m1=m1, state=lab.state) in err


@pytest.mark.parametrize("why, fix", [("group-writable", "chmod go-w"), ("someone else's", "chown"),
                                      ("in a directory above of someone else's", "chown")])
def test_commands_of_a_config_others_can_change_are_not_run(tmp_path, why, fix):
    lab = Lab(tmp_path)
    marker = tmp_path / "ran"
    cfg = lab.local(extra=f'pre_backup_commands = ["touch {marker}"]')
    write_files(lab.src / "data", {"a": b"1"})
    if why == "group-writable":
        lab.config_path.chmod(0o660)
    elif why == "someone else's":
        os.chown(lab.config_path, 65534, 65534)   # nobody
    else:        # its owner may rename the config's directory and put one of theirs in its place
        theirs = tmp_path / "theirs"
        (theirs / "etc").mkdir(parents=True)
        os.chown(theirs, 65534, 65534)
        lab.config_path = lab.config_path.rename(theirs / "etc" / "rabtui.toml")
        cfg = lab.load()
    result = lab.backup(cfg, medium_id="m1")
    if why.startswith("in a directory"):
        os.chown(tmp_path / "theirs", 0, 0)
    assert result.status == "failed"
    assert "refusing to run the pre-backup commands" in result.reason and fix in result.reason
    assert not marker.exists()
    os.chown(lab.config_path, 0, 0)
    lab.config_path.chmod(0o600)
    assert lab.backup(cfg, medium_id="m1").status == "completed" and marker.exists()


def _script_of_nobody(base, name: str, text: str):
    """A folder of user nobody's (alice/) under `base` and a script `name` in it: (folder, script)."""
    from tests.other_user import NOBODY

    theirs = base / "alice"
    theirs.mkdir()
    script = theirs / name
    script.write_text(text)
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    return theirs, script


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give a folder to another user")
def test_a_local_sources_command_whose_script_others_can_change_is_not_run(open_base, capsys):
    """A local source's pre-backup command runs here, as root: a script it names in a folder of
    another user's, which they may swap for theirs, is not run (the backup fails saying why)."""
    lab = Lab(open_base, media_count=1)
    marker = open_base / "ran"
    theirs, script = _script_of_nobody(open_base, "pre.sh", f"touch {marker}\n")
    cfg = lab.local(extra=f'pre_backup_commands = ["sh {script}"]')
    write_files(lab.src / "data", {"a": b"1"})
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and not marker.exists()
    assert f"refusing to run the pre-backup commands: {theirs} belongs to user nobody" in result.reason, result.reason
    assert main(["--config", str(lab.config_path), "check"]) == 2
    assert (f"CRITICAL: source loc: a pre/post command or rsync_path runs what another user can change: {theirs} belongs to"
            " user nobody") in capsys.readouterr().out
    os.chown(theirs, 0, 0)
    assert lab.backup(cfg, medium_id="m1").status == "completed" and marker.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give a folder to another user")
def test_a_local_sources_rsync_path_whose_script_others_can_change_is_not_run(open_base):
    lab = Lab(open_base, media_count=1)
    marker = open_base / "ran"
    theirs, wrapper = _script_of_nobody(open_base, "rsync.sh", f'touch {marker}; exec rsync "$@"\n')
    cfg = lab.local(extra=f'rsync_path = "sh {wrapper}"')
    write_files(lab.src / "data", {"a": b"1"})
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and not marker.exists()
    assert f"refusing to run the source's rsync_path: {theirs} belongs to user nobody" in result.reason, result.reason
    os.chown(theirs, 0, 0)
    assert lab.backup(cfg, medium_id="m1").status == "completed" and marker.exists()


def test_rsync_path_of_a_config_others_can_change_is_not_run(tmp_path):
    """A local source's rsync_path is a command rabtui runs (as root): like the pre/post commands,
    not while others can change the file."""
    lab = Lab(tmp_path)
    marker = tmp_path / "ran"
    cfg = lab.local(extra=f'rsync_path = "sh -c \'touch {marker}; exec rsync \\"$@\\"\' rsync"')
    write_files(lab.src / "data", {"a": b"1"})
    lab.config_path.chmod(0o666)
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed"
    assert "refusing to run the source's rsync_path" in result.reason and "chmod go-w" in result.reason
    assert not marker.exists()
    lab.config_path.chmod(0o600)
    assert lab.backup(cfg, medium_id="m1").status == "completed" and marker.exists()


def test_notify_command_of_a_config_others_can_change_is_not_run(tmp_path):
    from rabtui.ops import notify

    lab = Lab(tmp_path)
    marker = tmp_path / "ran"
    lab.local()
    lab.config_path.write_text(lab.config_path.read_text()
                               + f'\n[notify]\ncommand = "sh -c \'cat > {marker}\'"\n')
    cfg = lab.load()
    lab.config_path.chmod(0o664)
    problems = notify.send(cfg, {"kind": "backup", "level": "error", "message": "m"})
    assert not marker.exists() and any("refusing to run notify.command" in p for p in problems)
    lab.config_path.chmod(0o600)
    assert notify.send(cfg, {"kind": "backup", "level": "error", "message": "m"}) == []
    assert marker.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give a folder to another user")
def test_a_notify_command_whose_program_or_script_others_can_change_is_not_run(open_base, capsys):
    """The config is closed, but the script its notify command runs, or the program itself, lies
    where another user can change it: their code would run as root at the next event."""
    from rabtui.ops import notify
    from tests.other_user import NOBODY

    lab = Lab(open_base, media_count=1)
    lab.local()
    marker = open_base / "ran"
    theirs = open_base / "alice"
    theirs.mkdir()
    script = theirs / "alert.sh"
    script.write_text(f"cat > {marker}\n")
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)     # they may swap alert.sh for theirs
    program = open_base / "alert"
    program.write_text(f"#!/bin/sh\ncat > {marker}\n")
    program.chmod(0o757)                               # they may rewrite it
    event = {"kind": "backup", "level": "error", "message": "m"}
    for command, why in ((f"sh {script}", f"{theirs} belongs to user nobody"),
                         (str(program), f"{program} is writable by everyone")):
        lab.config_path.write_text(lab.config_path.read_text().split("\n[notify]")[0]
                                   + f'\n[notify]\ncommand = "{command}"\n')
        problems = notify.send(lab.load(), event)
        assert not marker.exists(), command
        assert any("refusing to run notify.command" in p and why in p for p in problems), problems
        code, out = _check(lab, capsys)
        assert code == 2 and f"notify.command runs what another user can change: {why}" in out, out
        assert main(["--config", str(lab.config_path), "check"]) == 2
        assert f"CRITICAL: notify.command: {why}" in capsys.readouterr().out
    os.chown(theirs, 0, 0)
    lab.config_path.write_text(lab.config_path.read_text().split("\n[notify]")[0]
                               + f'\n[notify]\ncommand = "sh {script}"\n')
    assert notify.send(lab.load(), event) == [] and marker.exists()


def test_commands_of_a_config_named_through_another_users_symlink_are_not_run(open_base):
    """The config named by a path through another user's directory (their symlink to root's own
    file): they may point it at a file of theirs whenever they like, say once rabtui has read it,
    before it checks the file (an inotify watch tells them when): the check looks at the path as
    named, not only at the file it leads to now."""
    from tests.other_user import NOBODY, as_nobody

    lab = Lab(open_base, media_count=1)
    write_files(lab.src / "data", {"a": b"1"})
    lab.local()                                          # root's own, 0600, no commands
    marker = open_base / "ran"
    theirs = open_base / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    named = theirs / "rabtui.toml"
    evil = config_text(lab.state, lab.media, f'[[sources]]\nid = "loc"\npre_backup_commands = ["touch {marker}"]\n'
                                             f'[[sources.directories]]\npath = "{lab.src / "data"}"\n')

    def theirs_now():
        (theirs / "evil.toml").write_text(evil)
        os.symlink(theirs / "evil.toml", named)
    as_nobody(theirs_now)
    from rabtui import config as configmod
    cfg = configmod.load(named)                           # what rabtui read: theirs
    as_nobody(lambda: (os.unlink(named), os.symlink(lab.config_path, named)))    # root's, once read

    result = lab.backup(cfg, medium_id="m1")
    assert not marker.exists(), "root ran a command of nobody's config"
    assert result.status == "failed" and "refusing to run the pre-backup commands" in result.reason, result.reason
    assert "belongs to user nobody" in result.reason, result.reason


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give a folder to another user")
def test_what_a_command_runs_is_judged_not_what_it_only_names(open_base):
    """The program and the script an interpreter runs (after its options, or env's NAME=VALUE);
    not a file the command only reads or writes (a dump into a file of another user's)."""
    from rabtui import command_safety
    from tests.other_user import NOBODY

    theirs = open_base / "alice"
    theirs.mkdir()
    script = theirs / "hook.sh"
    script.write_text("true\n")
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    why = f"{theirs} belongs to user nobody"
    for command in (f"sh {script}", f"bash -e {script} arg", f"env LC_ALL=C {script}", f"python3 -u {script}",
                    str(script)):
        assert why in (command_safety.command_changeable(command) or ""), command
    for command in (f"cat {script}", f"sh -c 'cat {script}'", "true", "no-such-program", "sh -c 'unclosed"):
        assert command_safety.command_changeable(command) is None, command


def test_a_local_sources_command_others_can_change_is_refused_by_check_config_and_the_form(tmp_path, capsys):
    """What a local source's backup refuses to run (a script writable by everyone, or in a folder
    anyone can write) check-config refuses (exit 2, its key and line) and the UI's form does not
    save; a remote source's commands run there, and are not judged here."""
    from rabtui.config import edit as config_edit
    from rabtui.errors import ConfigError

    lab = Lab(tmp_path, media_count=1)
    script = tmp_path / "pre.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    script.chmod(0o666)
    cfg = lab.local(extra=f'pre_backup_commands = ["true", "{script} --now"]')
    write_files(lab.src / "data", {"a": b"1"})
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and f"{script} is writable by everyone" in result.reason, result.reason
    code, err = _check(lab, capsys)
    assert code == 2 and "Traceback" not in err, err
    line = _line(lab, "pre_backup_commands")
    assert (f"{lab.config_path}:{line}: sources[0].pre_backup_commands[1]: source loc runs what another user can"
            f" change: {script} is writable by everyone") in err, err

    script.chmod(0o755)
    folder = tmp_path / "hooks"
    folder.mkdir()
    folder.chmod(0o777)
    post = folder / "post.sh"
    post.write_text("#!/bin/sh\ntrue\n")
    post.chmod(0o755)
    snapshot = config_edit.read(lab.config_path)
    values = snapshot.source_values("loc")
    with pytest.raises(ConfigError) as refused:
        config_edit.save(snapshot, snapshot.put_source({**values, "post_backup_commands": [str(post)]}, "loc"))
    assert f"sources[0].post_backup_commands[0]: source loc runs what another user can change: {folder} is" \
           " writable by everyone" in str(refused.value) and "nothing was saved" in str(refused.value)
    assert "post.sh" not in lab.config_path.read_text()
    assert _check(lab, capsys)[0] == 0

    config_edit.save(snapshot, snapshot.put_source({**values, "host": "web1.example.com",
                                                    "post_backup_commands": [str(post)]}, "loc"))
    code, err = _check(lab, capsys)
    assert code == 0, err


def test_the_form_saves_and_removes_other_sources_while_one_holds_a_command_others_can_change(tmp_path, capsys):
    """A command the file held already, made changeable by others since (its script chmod 0666), is
    named by check-config and refused by its backup, but does not stop the form: another source is
    saved, added and removed, and the one holding it is saved as it was; a command the edit brings
    in is refused as before."""
    from rabtui.config import edit as config_edit
    from rabtui.errors import ConfigError

    lab = Lab(tmp_path, media_count=1)
    script = tmp_path / "pre.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    script.chmod(0o755)
    lab.write(lab._local_source(None, f'pre_backup_commands = ["{script}"]', "a")
              + lab._local_source([("b", "standard")], "", "b"))
    script.chmod(0o666)
    assert _check(lab, capsys)[0] == 2

    snapshot = config_edit.read(lab.config_path)
    config_edit.save(snapshot, snapshot.put_source({**snapshot.source_values("b"), "schedule": "0 3 * * *"}, "b"))
    snapshot = config_edit.read(lab.config_path)
    config_edit.save(snapshot, snapshot.put_source({**snapshot.source_values("b"), "id": "c"}))
    snapshot = config_edit.read(lab.config_path)
    config_edit.save(snapshot, snapshot.delete_source("b"))
    # what the console says of the file as saved is what check-config says of it, with the fix
    left = config_edit.left_not_run(lab.config_path, lab.config_path.read_text())
    code, err = _check(lab, capsys)
    assert code == 2 and left and left in err and f"{script} is writable by everyone" in left and "fix:" in left, (left, err)
    snapshot = config_edit.read(lab.config_path)
    config_edit.save(snapshot, snapshot.put_source({**snapshot.source_values("a"), "schedule": "0 4 * * *"}, "a"))
    text = lab.config_path.read_text()
    assert 'id = "b"' not in text and 'id = "c"' in text and '"0 4 * * *"' in text, text

    snapshot = config_edit.read(lab.config_path)
    for source_id in ("a", "c"):
        values = snapshot.source_values(source_id)
        with pytest.raises(ConfigError) as refused:
            config_edit.save(snapshot, snapshot.put_source({**values, "post_backup_commands": [f"sh {script}"]},
                                                           source_id))
        assert f"post_backup_commands[0]: source {source_id} runs what another user can change: {script} is" \
               " writable by everyone" in str(refused.value), str(refused.value)
    assert f"sh {script}" not in lab.config_path.read_text()

    # a remote source's command, not judged, is judged once the source is made local
    values = snapshot.source_values("c")
    config_edit.save(snapshot, snapshot.put_source({**values, "host": "web1.example.com",
                                                    "post_backup_commands": [f"sh {script}"]}, "c"))
    snapshot = config_edit.read(lab.config_path)
    with pytest.raises(ConfigError) as refused:
        config_edit.save(snapshot, snapshot.put_source({**snapshot.source_values("c"), "host": None}, "c"))
    assert "post_backup_commands[0]: source c runs what another user can change" in str(refused.value)
    assert "web1.example.com" in lab.config_path.read_text()
