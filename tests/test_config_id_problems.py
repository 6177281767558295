"""An id the config refuses says why: too long (it named only the allowed characters, all of which
a 300-letter id uses), or not beginning with a letter or a digit (".archive", "-x": the allowed
characters named include '.' and '-')."""

from __future__ import annotations

import pytest

from rabtui import config as configmod
from rabtui.errors import ConfigError

TEXT = """\
[rabtui]
state_dir = "state"
[[media]]
id = "{medium}"
path = "media"
[[sources]]
id = "{source}"
"""


@pytest.mark.parametrize("source, medium, said", [
    ("x" * 65, "m", "sources[0].id: '" + "x" * 65 + "' is not a valid source id: 65 characters, at most 64"),
    ("s", "a" * 300, "media[0].id: '" + "a" * 300 + "' is not a valid medium id: 300 characters, at most 64"),
    (".archive", "m", "sources[0].id: '.archive' is not a valid source id: it must begin with a letter or a digit,"
                      " not '.'"),
    ("-x", "m", "sources[0].id: '-x' is not a valid source id: it must begin with a letter or a digit, not '-'"),
    ("a/b", "m", "sources[0].id: 'a/b' is not a valid source id (letters, digits, '.', '_', '-')"),
    ("../x", "m", "sources[0].id: '../x' is not a valid source id (letters, digits, '.', '_', '-')"),
])
def test_an_id_refused_says_why(tmp_path, source, medium, said):
    path = tmp_path / "rabtui.toml"
    path.write_text(TEXT.format(source=source, medium=medium))
    with pytest.raises(ConfigError) as exc:
        configmod.load(path, check_media=False)
    line = 7 if said.startswith("sources") else 4
    assert str(exc.value) == f"{path}:{line}: {said}"


def test_the_longest_id_is_taken(tmp_path):
    path = tmp_path / "rabtui.toml"
    path.write_text(TEXT.format(source="s" * 64, medium="m" * 64))
    cfg = configmod.load(path, check_media=False)
    assert cfg.sources[0].id == "s" * 64 and cfg.media[0].id == "m" * 64
