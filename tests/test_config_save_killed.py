"""A save of the config killed (SIGKILL) at each of its steps, an editor saving the file by hand in
the instant before the save's exchange: the next save keeps whatever the killed one left that holds
a hand edit (beside the config, as `<name>.conflict-<time>`, and says so), and removes only what it
compared and found to hold no edit (the file the killed save read, or its own new contents)."""

from __future__ import annotations

import os
import signal
import stat
import sys

import pytest

from rabtui import faults
from rabtui.config import edit as config_edit
from tests import preloaded
from tests.test_config_edit_keeps_the_file import DB1, HEAD, WEB1, _edit, _write
from tests.test_replace_file_leftovers import ROOT, _leftovers

BY_HAND = (HEAD + WEB1 + DB1).replace('host = "d"', 'host = "d"  # by hand')

# the form's save of web1, the editor saving BY_HAND right after the save's last look at the file
_EDIT_AS_EDITOR_SAVES = """
import os, sys
from pathlib import Path
from rabtui.config import edit
path, by_hand, how = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
real_read, looks = Path.read_bytes, []

def read_bytes(self):
    data = real_read(self)
    if self == path:
        looks.append(1)
        if len(looks) == 2 and how != "no edit":
            if how == "in place":
                path.write_text(by_hand)
            else:
                if how != "another's, by rename":       # else .swp is another user's, made before
                    (path.parent / ".swp").write_text(by_hand)
                os.rename(path.parent / ".swp", path)
    return data

Path.read_bytes = read_bytes
snap = edit.read(path)
values = snap.source_values("web1")
values["user"] = "from-the-form"
edit.save(snap, snap.put_source(values, "web1"))
"""


def _killed_save(path, point: str, how: str, as_nobody: bool = False) -> None:
    argv = [str(path), BY_HAND, how]
    if as_nobody:
        code, said = _as_nobody(_EDIT_AS_EDITOR_SAVES, *argv, env={faults.ENV: point})
        assert code == -signal.SIGKILL, said
    else:
        env = {k: v for k, v in os.environ.items() if k != faults.STOP_ENV} | {faults.ENV: point}
        killed = preloaded.run([sys.executable, "-c", _EDIT_AS_EDITOR_SAVES, *argv], cwd=ROOT,
                               env=env, capture_output=True, timeout=120)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    for name in _leftovers(path):   # older than this process, as to any rabtui started since
        os.utime(path.parent / name, (0, 0))


@pytest.mark.parametrize("how, name", [("in place", "rabtui.toml"), ("by rename", "rabtui.toml"),
                                       ("in place", "r" * 236 + ".toml")])
def test_a_hand_edit_saved_as_a_killed_save_exchanged_is_kept_by_the_next_save(tmp_path, how, name):
    """Killed once its exchange put the new file in place: the file it replaced (the hand edit)
    waited under the temporary name, and the next save's sweep of leftovers removed it unread."""
    path = tmp_path / name
    _write(path, HEAD + WEB1 + DB1)
    _killed_save(path, "replace.exchanged", how)
    assert 'user = "from-the-form"' in path.read_text()
    with pytest.raises(config_edit.ConflictKept) as said:
        _edit(path, host="h2")
    assert said.value.kept.read_text() == BY_HAND and str(said.value.kept) in str(said.value)
    assert stat.S_IMODE(said.value.kept.stat().st_mode) == 0o600
    said.value.said()     # as the UI does once it has shown it
    assert 'host = "h2"' in path.read_text() and _leftovers(path) == []


@pytest.mark.parametrize("point", ["replace.written", "replace.exchanged"])
def test_a_save_killed_with_no_hand_edit_leaves_nothing_the_next_save_keeps(tmp_path, point):
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    _killed_save(path, point, "no edit")
    assert ('user = "from-the-form"' in path.read_text()) == (point == "replace.exchanged")
    _edit(path, host="h2")
    assert 'host = "h2"' in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rabtui.toml"]



def test_a_save_killed_as_it_kept_a_hand_edit_aside_leaves_one_conflict_file_the_next_save_names(tmp_path):
    """Killed once the hand edit's conflict name was linked, before its name in the private directory
    was removed: the next save kept it aside again, a second conflict file, the first named to no one."""
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    _killed_save(path, faults.CONFLICT_POINTS[0], "by rename")
    with pytest.raises(config_edit.ConflictKept) as said:
        _edit(path, host="h2")
    conflicts = [p for p in tmp_path.iterdir() if ".conflict-" in p.name]
    assert conflicts == [said.value.kept] and said.value.kept.read_text() == BY_HAND
    said.value.said()     # as the UI does once it has shown it
    assert stat.S_IMODE(said.value.kept.stat().st_mode) == 0o600 and said.value.kept.stat().st_nlink == 1
    assert 'host = "h2"' in path.read_text() and _leftovers(path) == []


def test_a_save_refused_after_its_look_leaves_a_killed_saves_hand_edit_for_the_next_to_name(tmp_path, monkeypatch):
    """A killed save left a hand edit; the next save is refused (the file changed after its first
    look): that hand edit was kept aside by it all the same, as a conflict file no message named."""
    from tests.test_config_edit_keeps_attrs import _editor_saves_at_the_last_look

    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    _killed_save(path, "replace.exchanged", "by rename")
    again = path.read_text().replace('host = "h"', 'host = "h"  # again')
    _editor_saves_at_the_last_look(monkeypatch, path, "in place", look=1, text=again)
    with pytest.raises(config_edit.ChangedOnDisk):
        _edit(path, host="h2")
    monkeypatch.undo()
    assert [p for p in tmp_path.iterdir() if ".conflict-" in p.name] == []
    with pytest.raises(config_edit.ConflictKept) as said:
        _edit(path, host="h2")
    assert said.value.kept.read_text() == BY_HAND and "# again" in path.read_text()
    said.value.said()     # as the UI does once it has shown it
    assert [p for p in tmp_path.iterdir() if ".conflict-" in p.name] == [said.value.kept] and _leftovers(path) == []


def test_a_hand_edit_of_the_instant_and_one_a_killed_save_left_are_both_named(tmp_path, monkeypatch):
    from tests.test_config_edit_keeps_attrs import _editor_saves_at_the_last_look

    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    _killed_save(path, "replace.exchanged", "by rename")
    again = path.read_text().replace('host = "h"', 'host = "h"  # again')
    _editor_saves_at_the_last_look(monkeypatch, path, "by rename", text=again)
    with pytest.raises(config_edit.ConflictKept) as said:
        _edit(path, host="h2")
    monkeypatch.undo()
    conflicts = [p for p in tmp_path.iterdir() if ".conflict-" in p.name]
    assert sorted(p.read_text() for p in conflicts) == sorted([BY_HAND, again])
    assert all(str(p) in str(said.value) for p in conflicts), said.value


def test_a_save_killed_before_saying_it_kept_a_hand_edit_has_it_named_by_check_config_and_the_next_save(
        tmp_path, capsys):
    """Killed once it kept the hand edit aside as `<name>.conflict-<time>`, before the UI said so:
    nothing named that file, and the next save found nothing left to keep (it was named to no one)."""
    from rabtui.cli import main

    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    (tmp_path / "media" / "a").mkdir(parents=True)
    _killed_save(path, "config.conflict_kept", "by rename")
    [conflict] = [p for p in tmp_path.iterdir() if ".conflict-" in p.name]
    for _ in range(2):      # a check changes nothing: it says so each time
        assert main(["--config", str(path), "check-config"]) == 0
        assert str(conflict) in capsys.readouterr().err
    with pytest.raises(config_edit.ConflictKept) as said:
        _edit(path, host="h2")
    assert said.value.kept == conflict and conflict.read_text() == BY_HAND
    said.value.said()
    assert [p for p in tmp_path.iterdir() if ".conflict-" in p.name] == [conflict] and _leftovers(path) == []
    assert conflict.stat().st_nlink == 1 and 'host = "h2"' in path.read_text()
    assert main(["--config", str(path), "check-config"]) == 0
    assert str(conflict) not in capsys.readouterr().err
    _edit(path, host="h3")


def test_a_kept_hand_edit_the_operator_merged_and_removed_is_not_kept_again(tmp_path, capsys):
    """Killed before saying it kept a hand edit aside; check-config named the file, the operator
    merged it and removed it: the next save keeps no old edit aside again as a new one."""
    from rabtui.cli import main

    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    (tmp_path / "media" / "a").mkdir(parents=True)
    _killed_save(path, "config.conflict_kept", "by rename")
    [conflict] = [p for p in tmp_path.iterdir() if ".conflict-" in p.name]
    assert main(["--config", str(path), "check-config"]) == 0
    assert str(conflict) in capsys.readouterr().err
    conflict.unlink()       # merged by hand
    _edit(path, host="h2")
    assert [p for p in tmp_path.iterdir() if ".conflict-" in p.name] == [] and _leftovers(path) == []


def _as_nobody(code: str, *argv: str, env=None) -> tuple[int, str]:
    """`code` run by a child of this process as nobody (uid 65534; forked, as nobody may not read the
    interpreter's library under /root: what it imports must be imported here), `argv` its sys.argv[1:]:
    how it ended (waitstatus_to_exitcode) and what it wrote on stdout and stderr."""
    import importlib
    import traceback

    for module in ("rabtui.cli", "tests.test_config_edit_keeps_the_file"):
        importlib.import_module(module)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        ended = 1
        try:
            os.close(read_end)
            for fd in (1, 2):
                os.dup2(write_end, fd)
            sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.environ.update(env or {})
            sys.argv = ["-c", *argv]
            exec(code, {"__name__": "__main__"})
            ended = 0
        except SystemExit as exc:
            ended = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(ended)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        out = f.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


def _nobodys(tmp_path):
    """The config of nobody (uid 65534), in a folder of its own, the way to it open to nobody."""
    folder = tmp_path / "nobody"
    (folder / "media" / "a").mkdir(parents=True)
    for d in (folder, folder / "media", folder / "media" / "a"):
        os.chown(d, 65534, 65534)
    for d in (tmp_path, *tmp_path.parents):
        os.chmod(d, os.stat(d).st_mode | 0o001)
    path = folder / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    os.chown(path, 65534, 65534)
    return path


_CHECK = """
import sys
from rabtui.cli import main
sys.exit(main(["--config", sys.argv[1], "check-config"]))
"""


def _check_config(path, as_nobody: bool = False) -> str:
    """What check-config (exit 0) says on stdout and stderr, run as root or as nobody."""
    if as_nobody:
        code, said = _as_nobody(_CHECK, str(path))
    else:
        import contextlib
        import io
        from rabtui.cli import main

        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
            code = main(["--config", str(path), "check-config"])
        said = out.getvalue() + err.getvalue()
    assert code == 0, said
    return said


_SAVE_SAID = """
import sys
from pathlib import Path
from rabtui.config import edit
from tests.test_config_edit_keeps_the_file import _edit
try:
    _edit(Path(sys.argv[1]), host="h2")
except edit.ConflictKept as kept:
    print(kept.kept)
    kept.said()
"""


def test_a_hand_edit_kept_where_no_second_name_can_be_linked_to_it_is_named_after_a_kill(tmp_path):
    """The hand edit is another user's file (root's, 0644): the save (nobody's) may link no name to it
    (fs.protected_hardlinks), as where the file system has no hard links, so it is renamed aside.
    Killed before saying so: check-config names it, so does the next save, once; then no one."""
    if open("/proc/sys/fs/protected_hardlinks").read().strip() != "1":
        pytest.skip("links to another user's file are not refused here (fs.protected_hardlinks)")
    path = _nobodys(tmp_path)
    (path.parent / ".swp").write_text(BY_HAND)
    _killed_save(path, "config.conflict_kept", "another's, by rename", as_nobody=True)
    [conflict] = [p for p in path.parent.iterdir() if ".conflict-" in p.name]
    assert conflict.read_text() == BY_HAND and conflict.stat().st_uid == 0     # renamed: no link was made
    for _ in range(2):      # a check changes nothing: it says so each time
        assert str(conflict) in _check_config(path, as_nobody=True)
    code, said = _as_nobody(_SAVE_SAID, str(path))
    assert code == 0 and said.strip() == str(conflict), said
    assert [p for p in path.parent.iterdir() if ".conflict-" in p.name] == [conflict] and _leftovers(path) == []
    assert str(conflict) not in _check_config(path, as_nobody=True)
    assert 'host = "h2"' in path.read_text() and conflict.read_text() == BY_HAND


def test_a_save_killed_between_noting_a_kept_name_and_the_rename_has_the_next_save_keep_it(tmp_path):
    """As above, killed once the note of the name was written, before the rename: the note names no
    file; the next save removes it, keeps the hand edit aside and names it; then nothing is left."""
    if open("/proc/sys/fs/protected_hardlinks").read().strip() != "1":
        pytest.skip("links to another user's file are not refused here (fs.protected_hardlinks)")
    path = _nobodys(tmp_path)
    (path.parent / ".swp").write_text(BY_HAND)
    _killed_save(path, faults.NOTED_POINTS[0], "another's, by rename", as_nobody=True)
    assert [p for p in path.parent.iterdir() if ".conflict-" in p.name] == []
    assert "conflict" not in _check_config(path, as_nobody=True)
    code, said = _as_nobody(_SAVE_SAID, str(path))
    [conflict] = [p for p in path.parent.iterdir() if ".conflict-" in p.name]
    assert code == 0 and said.strip() == str(conflict), said
    assert conflict.read_text() == BY_HAND and _leftovers(path) == []
    assert str(conflict) not in _check_config(path, as_nobody=True)


def test_check_config_by_root_names_the_hand_edit_a_killed_save_of_another_user_kept(tmp_path):
    """nobody's save was killed before saying it kept a hand edit aside: root's check-config of that
    config names it too; naming it to root does not take it from nobody's next look."""
    from rabtui.config import conflict_kept

    path = _nobodys(tmp_path)
    _killed_save(path, "config.conflict_kept", "by rename", as_nobody=True)
    [conflict] = [p for p in path.parent.iterdir() if ".conflict-" in p.name]
    assert str(conflict) in _check_config(path)
    conflict_kept.said(conflict_kept.unsaid(path))      # root's console, having named it
    assert str(conflict) in _check_config(path, as_nobody=True)


def test_a_note_naming_a_file_no_save_kept_aside_names_nothing(tmp_path):
    """A save's directory holding a note (of a hand edit renamed aside) that names the config itself,
    or a file of another name: neither is called a kept hand edit, and a save removes the note."""
    path = tmp_path / "rabtui.toml"
    _write(path, HEAD + WEB1 + DB1)
    (tmp_path / "media" / "a").mkdir(parents=True)
    (tmp_path / "notes").write_text("n")
    for named in ("rabtui.toml", "notes"):
        aside = tmp_path / ".rabtui.toml.abcd1234.tmp"
        aside.mkdir(mode=0o700)
        (aside / ("note." + "0" * 64)).write_text(named)
        os.utime(aside, (0, 0))
        assert named not in _check_config(path).replace(str(path), "")
        _edit(path, host=f"h-{named}")
        assert _leftovers(path) == [] and (tmp_path / "notes").read_text() == "n"
