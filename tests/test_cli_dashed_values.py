"""Words that begin with a dash on the command line, parsed as `rabtui` parses them (in process:
only the parser is at stake): the command line a mistaken option's message suggests is one that
parses, and an option's value that begins with a dash (`--disc -5MiB`) is said for what it is,
with how to write it, instead of argparse's bare "expected one argument"."""

from __future__ import annotations

import shlex
import threading

import pytest

from rabtui.cli import build_parser, main
from rabtui.config.disc_types import parse_disc


def _refused(capsys, argv) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "\nrabtui: " in err, err
    return err


@pytest.mark.parametrize("argv", [
    ["find", "-rf", "--source", "X"],
    ["find", "-rf", "--source"],
    ["find", "--source", "-rf"],
    ["find", "-rf", "--source", "--json"],
    ["find", "-i", "-rf", "--source=X"],
    ["restore", "loc", "-rf", "--to"],
    ["restore", "loc", "-rf", "--to", "--overwrite"],
], ids=" ".join)
def test_a_suggested_command_line_parses(capsys, argv):
    err = _refused(capsys, argv)
    if "is written after --: rabtui " in err:
        suggested = shlex.split(err.split("is written after --: rabtui ", 1)[1].splitlines()[0])
        build_parser(suggested[0]).parse_args(suggested)     # a SystemExit here: a broken suggestion
        assert capsys.readouterr().err == ""


@pytest.mark.parametrize("argv, option, value", [
    (["checkpoint", "plan", "--disc", "-5MiB"], "--disc", "-5MiB"),
    (["checkpoint", "burn", "--disc", "-x"], "--disc", "-x"),
    (["restore", "loc", "/etc", "--to", "-dir"], "--to", "-dir"),
    (["find", "--source", "-web", "x"], "--source", "-web"),
], ids=["plan --disc", "burn --disc", "restore --to", "find --source"])
def test_a_value_that_begins_with_a_dash_is_said_with_how_to_write_it(capsys, argv, option, value):
    err = _refused(capsys, argv)
    assert f"{option} needs a value: {value} begins with a dash and was taken for an option" in err, err
    assert f"a value that begins with a dash is joined to its option: {option}={value}" in err, err


def test_a_negative_disc_size_is_said_to_be_one(capsys, tmp_path):
    for text in ("-5MiB", "-700m", "-1.5GiB"):
        with pytest.raises(ValueError, match=f"disc size '{text}' cannot be negative"):
            parse_disc(text)
    config = str(tmp_path / "rabtui.toml")
    assert main(["--config", config, "init"]) == 0
    assert main(["--config", config, "checkpoint", "plan", "--disc=-5MiB"]) == 2
    assert "disc size '-5MiB' cannot be negative" in capsys.readouterr().err


def test_a_value_forgotten_before_another_option_is_said_missing(capsys):
    err = _refused(capsys, ["find", "--source", "--json", "x"])
    assert "argument --source: expected one argument" in err and "joined" not in err, err


@pytest.mark.parametrize("argv, said", [
    (["find", "-irf", "x"], "-irf: -i takes no value, and -r is no option of this command"),
    (["find", "-i=x", "y"], "-i/--ignore-case takes no value (given 'x')"),
    (["find", "--json=1", "y"], "--json takes no value (given '1')"),
], ids=["-irf", "-i=x", "--json=1"])
def test_a_value_given_to_an_option_that_takes_none_is_said_so(capsys, argv, said):
    assert f"rabtui: {said}" in _refused(capsys, argv)


def test_a_list_to_plan_whose_line_never_ends_is_refused_not_read_until_memory_ends(capsys, tmp_path):
    """`checkpoint plan --from-list /dev/zero` (or a file of no line breaks) read one line for ever."""
    assert main(["--config", str(tmp_path / "rabtui.toml"), "init"]) == 0
    done = threading.Thread(target=lambda: main(["--config", str(tmp_path / "rabtui.toml"), "checkpoint", "plan",
                                                 "--from-list", "/dev/zero", "--disc", "cd-700"]), daemon=True)
    done.start()
    done.join(60)       # it read for ever: a minute is room enough on a loaded machine
    assert not done.is_alive(), "still reading /dev/zero"
    assert "/dev/zero: line 1: longer than 1 MiB: not a 'SIZE PATH' line" in capsys.readouterr().err
