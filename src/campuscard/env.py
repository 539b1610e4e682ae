"""Settings from environment variables that fail loudly (ARCHITECTURE rule 7).

Every helper also reads ``NAME_FILE`` so secrets can come from mounted files.
"""

import os
from pathlib import Path


class ConfigError(RuntimeError):
    pass


def _raw(name: str) -> str | None:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={file_path!r} cannot be read: {exc}") from exc
    return os.environ.get(name)


def env_str(name: str, default: str | None = None) -> str:
    value = _raw(name)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"environment variable {name} is required")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"environment variable {name}={value!r} is not a boolean (use true/false)")


def env_int(name: str, default: int) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from exc


def env_float(name: str, default: float) -> float:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={value!r} is not a number") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_keys(name: str, *, dev_default: str | None, alias: str = "") -> list[str]:
    """Comma-separated secrets, the first one current (#18 item 7). Unset: ``dev_default`` where one is
    allowed (never in production: there a missing key stops the start, it is not quietly made up)."""
    keys = env_list(name, []) or (env_list(alias, []) if alias else [])
    if keys:
        return keys
    if dev_default is None:
        raise ConfigError(f"environment variable {name} (or {name}_FILE) is required in production: "
                          "see docs/operations.md, 'Personal data at rest'")
    return [dev_default]


def env_choices(name: str, keys: set[str], values: set[str]) -> dict[str, str]:
    """``key=value,key=value`` with every key and value from its set (a typo fails at start-up, never
    silently: for the offline gates' expiry policy a wrong word would open the laboratories)."""
    found = {}
    for item in env_list(name, []):
        key, _sep, value = (part.strip() for part in item.partition("="))
        if key not in keys or value not in values:
            raise ConfigError(f"environment variable {name}: {item!r} is not KEY=VALUE with KEY one of "
                              f"{sorted(keys)} and VALUE one of {sorted(values)}")
        found[key] = value
    return found


def load_or_create_secret(path: Path) -> str:
    """A per-installation secret kept beside the data, so no key is ever shipped in code."""
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()
