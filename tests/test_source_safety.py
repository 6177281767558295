"""A source directory that is missing, or emptied (a file system not mounted on the source), fails
its backup instead of giving a complete backup of nothing; `allow_empty = true` accepts it.
Local and over the test sshd."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.trees import Lab, ssh_source_lines, write_files


def _lab(tmp_path, request, allow_empty: bool = False) -> tuple[Lab, object, str, str]:
    """A source with one standard directory holding two files: (lab, config, source id, directory)."""
    lab = Lab(tmp_path)
    data = lab.src / "data"
    write_files(data, {"a": b"one", "sub/b": b"two"})
    extra = "allow_empty = true\n" if allow_empty else ""
    if request.param == "ssh":
        sshd = request.getfixturevalue("sshd")
        lab.trust(sshd)
        head, source_id = ssh_source_lines(sshd), "web"
    else:
        head, source_id = '[[sources]]\nid = "loc"\n', "loc"
    cfg = lab.write(head + f'[[sources.directories]]\npath = "{data}"\n{extra}')
    return lab, cfg, source_id, str(data)


@pytest.fixture(params=["local", "ssh"])
def where(request):
    return request


def test_an_emptied_directory_fails_its_backup(tmp_path, where):
    lab, cfg, source_id, data = _lab(tmp_path, where)
    assert lab.backup(cfg, source_id, medium_id="m1").status == "completed"
    shutil.rmtree(data)      # what is left where a file system is not mounted: an empty directory
    os.mkdir(data)
    result = lab.backup(cfg, source_id, medium_id="m1")
    assert result.status == "failed", result.reason
    assert f"{data}: the directory is empty on the source, but its last backup held 2 files" in result.reason
    assert "allow_empty = true" in result.reason


def test_a_missing_directory_fails_its_backup(tmp_path, where):
    lab, cfg, source_id, data = _lab(tmp_path, where)
    shutil.rmtree(data)
    result = lab.backup(cfg, source_id, medium_id="m1")    # even the first backup: nothing to compare
    assert result.status == "failed" and result.exit_code == 1, result.reason
    assert f"{data}: the directory cannot be read on the source (No such file or directory" in result.reason


def test_allow_empty_accepts_both(tmp_path, where):
    lab, cfg, source_id, data = _lab(tmp_path, where, allow_empty=True)
    assert cfg.source(source_id).directories[0].allow_empty
    assert lab.backup(cfg, source_id, medium_id="m1").status == "completed"
    for name in ("a", "sub/b"):
        os.unlink(os.path.join(data, name))
    assert lab.backup(cfg, source_id, medium_id="m1").status == "completed"
    shutil.rmtree(data)
    result = lab.backup(cfg, source_id, medium_id="m1")
    assert result.status == "warnings" and "could not be transferred" in result.reason


def test_a_directory_empty_from_the_start_is_fine(tmp_path, where):
    lab, cfg, source_id, data = _lab(tmp_path, where)
    shutil.rmtree(data)
    os.mkdir(data)
    assert lab.backup(cfg, source_id, medium_id="m1").status == "completed"
    assert lab.backup(cfg, source_id, medium_id="m1").status == "completed"


def test_allow_empty_is_true_or_false(tmp_path):
    from rabtui.errors import ConfigError

    lab = Lab(tmp_path)
    lab.local()
    lab.config_path.write_text(lab.config_path.read_text() + 'allow_empty = "yes"\n')
    with pytest.raises(ConfigError, match=r"rabtui.toml:\d+: sources\[0\].directories\[0\].allow_empty: must be true or false"):
        lab.load()


def test_a_directory_a_pre_command_turns_into_a_link_to_the_media_is_refused(tmp_path):
    # checked when the config is read, and again once the pre-backup commands have run: one that
    # points the directory elsewhere (`ln -sfn` to the day's snapshot) must not make it hold a medium
    lab = Lab(tmp_path)
    data = lab.src / "data"
    cfg = lab.local(extra=f'pre_backup_commands = ["rm -rf {data}; ln -s {tmp_path} {data}"]')
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed", (result.status, result.reason)
    assert f"{data} holds medium 'm1'" in result.reason, result.reason
    assert not any((tmp_path / "medium1" / "loc").rglob(".rabtui-medium"))
