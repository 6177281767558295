"""What the UI remembers between runs (the theme), in a small JSON file in the user's state
directory; keys are remapped in `keymap.toml` beside the user config (see app.keymap_path)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from rabtui import privacy

log = logging.getLogger("rabtui.tui")


def settings_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("rabtui")) / "ui.json"


def load() -> dict:
    """The saved settings; a missing or unreadable file is no settings (the UI starts as new)."""
    path = settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s: not used: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def save(**changes) -> None:
    """Keep `changes` with the other saved settings. A failure to write is logged, never raised:
    the UI goes on as it is."""
    data = load() | changes
    try:
        privacy.private_dir(settings_path().parent)
        privacy.replace_file(settings_path(), (json.dumps(data, indent=1) + "\n").encode())
    except OSError as exc:
        log.warning("cannot save the UI settings in %s: %s", settings_path(), exc)
