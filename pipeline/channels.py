"""Delivery channels: the ``[[channel]]`` tables of storywatch.toml, validated, and which alerts each takes.

Secrets never live in the file: a webhook's signing key and an apprise URL (which carries the
service's token) may come from an environment variable or a file named here instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, config_dir_from_env, line_of, read_toml
from pipeline.messages import SEVERITIES, severity_rank
from pipeline.models import Alert

KINDS = ("webhook", "apprise", "jsonl", "console")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
_EMAIL_SCHEMES = ("mailto://", "mailtos://")

# Each key with the types it may have; the kinds a key belongs to (empty: every kind).
_KEYS: dict[str, tuple[tuple[type, ...], tuple[str, ...]]] = {
    "name": ((str,), ()),
    "type": ((str,), ()),
    "enabled": ((bool,), ()),
    "stories": ((list,), ()),
    "watched_only": ((bool,), ()),
    "min_severity": ((str,), ()),
    "tags": ((list,), ()),
    "cooldown_minutes": ((int, float), ()),
    "retry_intervals": ((list,), ()),
    "timeout": ((int, float), ("webhook", "apprise")),
    "url": ((str,), ("webhook", "apprise")),
    "url_env": ((str,), ("apprise",)),
    "url_file": ((str,), ("apprise",)),
    "secret_env": ((str,), ("webhook",)),
    "secret_file": ((str,), ("webhook",)),
    "format": ((str,), ("apprise",)),
    "path": ((str,), ("jsonl",)),
    "colour": ((bool,), ("console",)),
}


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    kind: str
    stories: tuple[str, ...] = ()
    watched_only: bool = False
    min_severity: str = "low"
    tags: tuple[str, ...] = ()
    cooldown_minutes: float = 0.0
    retry_intervals: tuple[int, ...] = (10, 60, 300)
    timeout: float = 10.0
    url: str | None = None
    url_env: str | None = None
    url_file: Path | None = None
    secret_env: str | None = None
    secret_file: Path | None = None
    format: str = "markdown"
    path: Path | None = None
    colour: bool | None = None

    @property
    def cooldown_ms(self) -> int:
        return int(self.cooldown_minutes * 60_000)


class SecretMissing(Exception):
    """A secret the channel names is not there; the message names where it was looked for, never a value."""


def _from_env_or_file(label: str, env: str | None, path: Path | None) -> str:
    if env:
        value = os.environ.get(env, "").strip()
        if not value:
            raise SecretMissing(f"{label}: environment variable {env} is not set")
        return value
    if path is None:
        raise SecretMissing(f"{label}: no source configured")
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretMissing(f"{label}: cannot read {path} ({exc.strerror})") from None
    if not value:
        raise SecretMissing(f"{label}: {path} is empty")
    return value


def resolve_url(spec: ChannelSpec) -> str:
    return spec.url or _from_env_or_file(f"channel {spec.name} url", spec.url_env, spec.url_file)


def resolve_secret(spec: ChannelSpec) -> bytes:
    return _from_env_or_file(f"channel {spec.name} secret", spec.secret_env, spec.secret_file).encode("utf-8")


def alert_tags(alert: Alert) -> set[str]:
    """What a channel's ``tags`` filter matches: the kind of change, plus any tags of the article's feed."""
    tags = {alert.type.removeprefix("story.")}
    if alert.story.get("watched"):
        tags.add("watched")
    if alert.new_facts:
        tags.add("new-fact")
    if alert.contradictions:
        tags.add("contradiction")
        tags.update(item["kind"] for item in alert.contradictions)
    tags.update(alert.article.get("tags") or ())
    return tags


def accepts(spec: ChannelSpec, alert: Alert) -> bool:
    """Whether the channel's filters let the alert through (mutes are runtime state, checked elsewhere)."""
    if spec.stories and alert.story.get("id") not in spec.stories:
        return False
    if spec.watched_only and not alert.story.get("watched"):
        return False
    if severity_rank(alert) < SEVERITIES.index(spec.min_severity):
        return False
    return not spec.tags or bool(alert_tags(alert) & set(spec.tags))


def load_channels(config_dir: Path | None = None) -> list[ChannelSpec]:
    """The enabled ``[[channel]]`` tables of storywatch.toml; none when the file has none."""
    config_dir = config_dir_from_env(config_dir)
    path = config_dir / "storywatch.toml"
    if not path.exists():
        return []
    data, text = read_toml(path)
    tables = data.get("channel", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{path}:{line_of(text, 'channel')}: channels are [[channel]] tables")
    starts = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip() == "[[channel]]"]
    specs: list[ChannelSpec] = []
    seen: set[str] = set()
    for index, table in enumerate(tables):
        start = starts[index] if index < len(starts) else 1
        spec, enabled = _channel_from(path, text, start, table, config_dir)
        if spec.name in seen:
            raise ConfigError(f"{path}:{_key_line(text, start, 'name')}: channel name {spec.name!r} is used twice")
        seen.add(spec.name)
        if enabled:
            specs.append(spec)
    return specs


def _key_line(text: str, start: int, key: str) -> int:
    """The line that sets ``key`` inside the table starting at line ``start``."""
    lines = text.splitlines()
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for number in range(start, len(lines) + 1):
        line = lines[number - 1]
        if number > start and line.lstrip().startswith("["):
            break
        if pattern.match(line):
            return number
    return start


def _channel_from(path: Path, text: str, start: int, table: dict[str, Any],
                  config_dir: Path) -> tuple[ChannelSpec, bool]:
    def fail(key: str | None, why: str) -> ConfigError:
        line = _key_line(text, start, key) if key else start
        return ConfigError(f"{path}:{line}: [[channel]] {why}")

    kind = table.get("type")
    if kind not in KINDS:
        raise fail("type" if "type" in table else None, f"type must be one of {', '.join(KINDS)}, got {kind!r}")
    for key, value in table.items():
        if key not in _KEYS or (_KEYS[key][1] and kind not in _KEYS[key][1]):
            allowed = sorted(k for k, (_, kinds) in _KEYS.items() if not kinds or kind in kinds)
            raise fail(key, f"unknown key {key!r} for type {kind} (allowed: {', '.join(allowed)})")
        types = _KEYS[key][0]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise fail(key, f"{key} must be {' or '.join(t.__name__ for t in types)}, got {value!r}")
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail("name" if "name" in table else None,
                   f"needs name = lowercase letters, digits, '_' or '-' (at most 48), got {name!r}")
    for key in ("stories", "tags", "retry_intervals"):
        items = table.get(key, [])
        wanted = int if key == "retry_intervals" else str
        if not all(isinstance(i, wanted) and not isinstance(i, bool) for i in items):
            raise fail(key, f"{key} must be a list of {'whole seconds' if wanted is int else 'strings'}")
    if any(i < 0 for i in table.get("retry_intervals", [])):
        raise fail("retry_intervals", "retry_intervals must not be negative")
    if table.get("min_severity", "low") not in SEVERITIES:
        raise fail("min_severity", f"min_severity must be one of {', '.join(SEVERITIES)}")
    if table.get("cooldown_minutes", 0) < 0:
        raise fail("cooldown_minutes", "cooldown_minutes must be zero or more")
    if table.get("timeout", 1) <= 0:
        raise fail("timeout", "timeout must be positive")
    if table.get("format", "markdown") not in ("markdown", "text"):
        raise fail("format", "format must be markdown or text")

    def local(key: str) -> Path | None:
        value = table.get(key)
        if value is None:
            return None
        candidate = Path(os.path.expanduser(value))
        return candidate if candidate.is_absolute() else config_dir / candidate

    _require_one(fail, kind, table)
    url = table.get("url")
    if kind == "webhook" and not re.match(r"^https?://[^\s/]+", url or ""):
        raise fail("url", f"url must be http(s)://…, got {url!r}")
    default_format = "text" if (url or "").startswith(_EMAIL_SCHEMES) else "markdown"
    spec = ChannelSpec(
        name=name, kind=kind, stories=tuple(table.get("stories", [])),
        watched_only=table.get("watched_only", False), min_severity=table.get("min_severity", "low"),
        tags=tuple(table.get("tags", [])), cooldown_minutes=float(table.get("cooldown_minutes", 0)),
        retry_intervals=tuple(table.get("retry_intervals", ChannelSpec.retry_intervals)),
        timeout=float(table.get("timeout", ChannelSpec.timeout)), url=url, url_env=table.get("url_env"),
        url_file=local("url_file"), secret_env=table.get("secret_env"), secret_file=local("secret_file"),
        format=table.get("format", default_format), path=local("path"), colour=table.get("colour"),
    )
    return spec, table.get("enabled", True)


def _require_one(fail: Callable[[str | None, str], ConfigError], kind: str, table: dict[str, Any]) -> None:
    """Each kind's one required source: exactly one of its alternatives."""
    needed = {"webhook": (("url",), ("secret_env", "secret_file")), "apprise": (("url", "url_env", "url_file"),),
              "jsonl": (("path",),), "console": ()}[kind]
    for options in needed:
        given = [key for key in options if key in table]
        if len(given) != 1:
            what = " or ".join(options)
            raise fail(given[1] if len(given) > 1 else None,
                       f"of type {kind} needs exactly one of {what}" if len(options) > 1
                       else f"of type {kind} needs {what}")
