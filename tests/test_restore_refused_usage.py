"""A restore refused for what the operator typed (exit 2: a path that is no absolute path of the
source, or holds a name longer than a file system holds, a target that is a file, or has one on the way) is said on their terminal; it is not notified as a failed restore
(the notify command pages whoever is on call), as a backup refused for its arguments is not. A
restore that fails (exit 1) still is."""

from __future__ import annotations

from rabtui.cli import main
from tests.trees import Lab, notify_into_file, write_files


def test_a_restore_refused_for_its_arguments_is_not_notified(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {"a": b"one"})
    lab.local()
    sent = notify_into_file(lab, tmp_path)
    assert lab.backup(lab.load()).status == "completed"
    (tmp_path / "a-file").write_text("")
    config = ["--config", str(lab.config_path)]
    assert main([*config, "restore", "loc", "relative", "--to", str(tmp_path / "out")]) == 2
    assert main([*config, "restore", "loc", str(lab.src / "data"), "--to", str(tmp_path / "a-file")]) == 2
    assert "rabtui: " in capsys.readouterr().err
    # a file on the way to it (a path mistyped): as bad, not a failed restore that pages
    assert main([*config, "restore", "loc", str(lab.src / "data"), "--to", str(tmp_path / "a-file" / "out")]) == 2
    assert f"{tmp_path / 'a-file'} is not a directory" in capsys.readouterr().err
    # a name no file system holds: said so, not "set TMPDIR to a shorter directory" (the room for paths
    # deeper than PATH_MAX was blamed, as the name could not be cut at a slash)
    assert main([*config, "restore", "loc", str(lab.src / "data" / ("n" * 5000)), "--to", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "is 5000 bytes long: a file system holds 255 at most" in err and "TMPDIR" not in err, err
    assert [e for e in sent() if e["kind"] == "restore_failed"] == []
    assert main([*config, "restore", "loc", str(lab.src / "data" / "gone"), "--to", str(tmp_path / "out")]) == 1
    assert [e["kind"] for e in sent()] == ["restore_failed"]
