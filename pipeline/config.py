"""Settings, feeds and watched stories from TOML, validated with errors that name file and line."""

from __future__ import annotations

import glob
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "config"


class ConfigError(Exception):
    """A config problem, phrased for people: ``path:line: what is wrong``."""


@dataclass(frozen=True)
class Settings:
    config_dir: Path
    data_dir: Path
    namespace: str = "live"
    workers: int = 2
    job_timeout: int = 300
    retry_intervals: tuple[int, ...] = (10, 30, 60)
    fetch_timeout: float = 20.0
    fetch_max_bytes: int = 5_000_000
    poll_interval: int = 300
    user_agent: str = "storywatch/0.1 (+https://github.com/storywatch)"
    # How fast a quiet story's bar rises (see pipeline.stories.StorySettings); None keeps its default.
    story_assumed_gap_hours: float | None = None
    story_quiet_gaps: float | None = None


@dataclass(frozen=True)
class Feed:
    url: str
    name: str = ""
    interval: int | None = None
    tags: tuple[str, ...] = ()
    allow_private: bool = False
    # Bounds of the adaptive interval (seconds); None lets the poller derive them from ``interval``.
    min_interval: int | None = None
    max_interval: int | None = None


@dataclass(frozen=True)
class WatchedStorySpec:
    id: str
    title: str
    seeds: tuple[Path, ...]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    path: Path = field(default=Path(), compare=False)


# Each section's keys, with the type a value must have and the Settings field it fills.
_SETTINGS_SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], str]]] = {
    "server": {"data_dir": (str, "data_dir")},
    "runtime": {"namespace": (str, "namespace")},
    "workers": {
        "count": (int, "workers"),
        "job_timeout": (int, "job_timeout"),
        "retry_intervals": (list, "retry_intervals"),
    },
    "fetch": {
        "timeout": ((int, float), "fetch_timeout"),
        "max_bytes": (int, "fetch_max_bytes"),
        "user_agent": (str, "user_agent"),
    },
    "poller": {"interval": (int, "poll_interval")},
    "stories": {
        "assumed_gap_hours": ((int, float), "story_assumed_gap_hours"),
        "quiet_gaps": ((int, float), "story_quiet_gaps"),
    },
}

# Sections of storywatch.toml that other modules read and validate themselves.
_OWN_LOADERS = {"channel"}

_NAMESPACE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def config_dir_from_env(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("STORYWATCH_CONFIG") or DEFAULT_CONFIG_DIR)


def line_of(text: str, key: str) -> int:
    """The first line that assigns ``key``; 1 when it cannot be told."""
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return 1


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text") from None
    return _parse_toml(path, text), text


def _parse_toml(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11 keeps the position only in the message: "Invalid value (at line 2, column 9)".
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = found.group(1) if found else "1"
        message = str(exc).split(" (at ")[0]
        raise ConfigError(f"{path}:{line}: invalid TOML: {message}") from None


def _check(path: Path, text: str, key: str, value: Any, kind: type | tuple[type, ...]) -> None:
    # bool is an int in Python; a flag where a count belongs is still an error.
    wrong_bool = isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
    if wrong_bool or not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ConfigError(f"{path}:{line_of(text, key)}: {key} must be {names}, got {value!r}")


def load_settings(config_dir: Path | None = None) -> Settings:
    """Read ``storywatch.toml``; every key is optional, unknown keys are errors."""
    config_dir = config_dir_from_env(config_dir)
    path = config_dir / "storywatch.toml"
    values: dict[str, Any] = {}
    if path.exists() or config_dir != DEFAULT_CONFIG_DIR:
        data, text = read_toml(path)
        for section, table in data.items():
            if section in _OWN_LOADERS:
                continue
            schema = _SETTINGS_SCHEMA.get(section)
            if schema is None or not isinstance(table, dict):
                raise ConfigError(f"{path}:{_line_of_section(text, section)}: unknown section [{section}]")
            for key, value in table.items():
                if key not in schema:
                    raise ConfigError(f"{path}:{line_of(text, key)}: unknown key {section}.{key}")
                kind, target = schema[key]
                _check(path, text, key, value, kind)
                values[target] = value
        _validate_values(path, text, values)
    data_dir = Path(os.path.expanduser(values.pop("data_dir", ".storywatch/server")))
    if not data_dir.is_absolute():
        data_dir = PROJECT_ROOT / data_dir
    if "retry_intervals" in values:
        values["retry_intervals"] = tuple(values["retry_intervals"])
    return Settings(config_dir=config_dir, data_dir=data_dir, **values)


def _line_of_section(text: str, section: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().strip("[]").strip() == section:
            return number
    return line_of(text, section)


def _validate_values(path: Path, text: str, values: dict[str, Any]) -> None:
    def fail(key: str, why: str) -> None:
        raise ConfigError(f"{path}:{line_of(text, key)}: {key} {why}")

    if "namespace" in values and not _NAMESPACE.match(values["namespace"]):
        fail("namespace", "may hold only letters, digits, '.', '_' and '-' (at most 64)")
    for key, target in (("count", "workers"), ("job_timeout", "job_timeout"), ("max_bytes", "fetch_max_bytes")):
        if target in values and values[target] < 1:
            fail(key, "must be at least 1")
    for key in ("assumed_gap_hours", "quiet_gaps"):
        if f"story_{key}" in values and not values[f"story_{key}"] > 0:
            fail(key, "must be more than 0")
    intervals = values.get("retry_intervals", [])
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in intervals):
        fail("retry_intervals", "must be a list of whole seconds, e.g. [10, 30, 60]")


def load_feeds(config_dir: Path | None = None) -> list[Feed]:
    """Read ``feeds.toml``: an array of ``[[feed]]`` tables with url, name, interval and tags."""
    path = config_dir_from_env(config_dir) / "feeds.toml"
    return feeds_from_text(path, read_toml(path)[1])


def feeds_from_text(path: Path, text: str) -> list[Feed]:
    """The feeds of ``text``, the contents of ``path`` (named in errors): validates an edit before it is saved."""
    data = _parse_toml(path, text)
    unknown = set(data) - {"feed"}
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"{path}:{_line_of_section(text, key)}: unknown section [{key}]; feeds are [[feed]]")
    feeds: list[Feed] = []
    starts = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip() == "[[feed]]"]
    for index, entry in enumerate(data.get("feed", [])):
        line = starts[index] if index < len(starts) else 1
        feeds.append(_feed_from(path, line, entry))
    return feeds


def _feed_from(path: Path, line: int, entry: dict[str, Any]) -> Feed:
    allowed = {"url", "name", "interval", "tags", "allow_private", "min_interval", "max_interval"}
    for key in entry:
        if key not in allowed:
            raise ConfigError(f"{path}:{line}: unknown key {key!r} in [[feed]] (allowed: {', '.join(sorted(allowed))})")
    url = entry.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
        raise ConfigError(f"{path}:{line}: [[feed]] needs url = \"http(s)://…\", got {url!r}")
    bounds: dict[str, int | None] = {}
    for key in ("interval", "min_interval", "max_interval"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 10):
            raise ConfigError(f"{path}:{line}: {key} must be whole seconds >= 10, got {value!r}")
        bounds[key] = value
    low, interval, high = bounds["min_interval"], bounds["interval"], bounds["max_interval"]
    ordered = [v for v in (low, interval, high) if v is not None]
    if ordered != sorted(ordered):
        raise ConfigError(f"{path}:{line}: need min_interval <= interval <= max_interval, got "
                          f"{low!r}, {interval!r}, {high!r}")
    tags = entry.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"{path}:{line}: tags must be a list of strings, got {tags!r}")
    return Feed(
        url=url,
        name=str(entry.get("name", "")),
        interval=interval,
        tags=tuple(tags),
        allow_private=bool(entry.get("allow_private", False)),
        min_interval=low,
        max_interval=high,
    )


def load_watched_stories(config_dir: Path | None = None) -> list[WatchedStorySpec]:
    """Read every ``stories/*.toml``; seed globs are relative to the file that names them."""
    folder = config_dir_from_env(config_dir) / "stories"
    specs = [_story_from(path) for path in sorted(folder.glob("*.toml"))]
    seen: dict[str, Path] = {}
    for spec in specs:
        if spec.id in seen:
            raise ConfigError(f"{spec.path}:1: story id {spec.id!r} is already used by {seen[spec.id]}")
        seen[spec.id] = spec.path
    return specs


def _story_from(path: Path) -> WatchedStorySpec:
    data, text = read_toml(path)
    allowed = {"id", "title", "seeds", "include", "exclude"}
    for key in data:
        if key not in allowed:
            allowed_keys = ", ".join(sorted(allowed))
            raise ConfigError(f"{path}:{line_of(text, key)}: unknown key {key!r} (allowed: {allowed_keys})")
    for key in ("id", "title"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ConfigError(f"{path}:{line_of(text, key)}: {key} must be a non-empty string")
    if not re.match(r"^[a-z0-9][a-z0-9-]*$", data["id"]):
        raise ConfigError(f"{path}:{line_of(text, 'id')}: id must be lowercase letters, digits and '-'")
    for key in ("seeds", "include", "exclude"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}:{line_of(text, key)}: {key} must be a list of strings")
    seeds: list[Path] = []
    for pattern in data.get("seeds", []):
        absolute = Path(os.path.expanduser(pattern)).is_absolute()
        matched = sorted(Path(p) for p in glob.glob(os.path.expanduser(pattern))) if absolute \
            else sorted(path.parent.glob(pattern))
        if not matched:
            raise ConfigError(f"{path}:{line_of(text, 'seeds')}: seed pattern {pattern!r} matches no file")
        seeds.extend(p.resolve() for p in matched)
    return WatchedStorySpec(
        id=data["id"],
        title=data["title"],
        seeds=tuple(seeds),
        include=tuple(data.get("include", [])),
        exclude=tuple(data.get("exclude", [])),
        path=path,
    )
