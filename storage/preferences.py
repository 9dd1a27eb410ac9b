"""One person's preferences in a JSON file of their own (``$XDG_CONFIG_HOME/cbe``).

Preferences belong to the person, not to the database: two people sharing a database each keep
their own timeline filter.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import orjson
from platformdirs import user_config_path

from storage.atomic import write_atomically

PREFERENCES_ENV = "CBE_PREFERENCES"


def default_preferences_path() -> Path:
    """``$CBE_PREFERENCES`` if set, else ``preferences.json`` in the user's config folder."""
    configured = os.environ.get(PREFERENCES_ENV)
    if configured:
        return Path(configured).expanduser()
    return user_config_path("cbe", appauthor=False) / "preferences.json"


class JsonPreferences:
    """Preferences in one JSON file, written atomically; a broken file counts as empty."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        with contextlib.suppress(FileNotFoundError, orjson.JSONDecodeError, OSError):
            data = orjson.loads(self.path.read_bytes())
            if isinstance(data, dict):
                return data
        return {}

    def load(self, key: str) -> dict[str, Any] | None:
        value = self._read().get(key)
        return value if isinstance(value, dict) else None

    def save(self, key: str, value: dict[str, Any]) -> None:
        data = self._read()
        data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, orjson.dumps(data, option=orjson.OPT_INDENT_2))
