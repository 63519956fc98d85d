"""Sending one delivery (an alert, or a digest of a story's alerts) to one channel.

A send either returns or raises `DeliveryError` with a reason fit for `storywatch alerts status`:
it names the host or file, never a secret, a token-bearing URL or a signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from pipeline.channels import ChannelSpec, SecretMissing, resolve_secret, resolve_url
from pipeline.messages import by_importance, render, render_console, severity, severity_rank
from pipeline.models import Alert

SIGNATURE_HEADER = "X-Storywatch-Signature"
TIMESTAMP_HEADER = "X-Storywatch-Timestamp"
DELIVERY_HEADER = "X-Storywatch-Delivery"


class DeliveryError(Exception):
    """A send that did not go through; the message is safe to show and to store."""


def payload(delivery_id: str, alerts: Sequence[Alert]) -> dict[str, Any]:
    """The JSON of a webhook POST or a JSON Lines record: the alert itself, or a digest holding several."""
    if len(alerts) == 1:
        return {**alerts[0].to_dict(), "severity": severity(alerts[0])}
    ordered = by_importance(alerts)
    return {"type": "story.digest", "id": delivery_id, "story": ordered[0].story, "severity": severity(ordered[0]),
            "alerts": [{**alert.to_dict(), "severity": severity(alert)} for alert in ordered]}


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "{timestamp}.{body}": the timestamp is signed too, so a capture cannot be replayed later."""
    return "sha256=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def _send_webhook(spec: ChannelSpec, delivery_id: str, alerts: Sequence[Alert], urls: Mapping[str, str]) -> None:
    assert spec.url is not None
    body = json.dumps(payload(delivery_id, alerts), ensure_ascii=False).encode("utf-8")
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": "storywatch", DELIVERY_HEADER: delivery_id,
               TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(resolve_secret(spec), timestamp, body)}
    try:
        response = httpx.post(spec.url, content=body, headers=headers, timeout=spec.timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{_host(spec.url)}: {type(exc).__name__}") from None
    if not response.is_success:
        raise DeliveryError(f"{_host(spec.url)} answered HTTP {response.status_code}")


def _scrub(text: str, url: str) -> str:
    """Apprise's reasons without the parts of the URL that may be tokens or passwords."""
    parts = urlsplit(url)
    secrets = [url, parts.password or "", parts.username or "", *parts.path.split("/"),
               *(value for _, value in parse_qsl(parts.query))]
    for secret in sorted((s for s in secrets if len(s) >= 6), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _send_apprise(spec: ChannelSpec, delivery_id: str, alerts: Sequence[Alert], urls: Mapping[str, str]) -> None:
    import apprise

    url = resolve_url(spec)
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise DeliveryError(f"apprise does not understand the URL of channel {spec.name}")
    message = render(alerts, urls)
    text = spec.format == "text"
    loud = max(severity_rank(alert) for alert in alerts) >= 2
    result = notifier.notify(
        body=message.text if text else message.markdown, title=message.title,
        body_format=apprise.NotifyFormat.TEXT if text else apprise.NotifyFormat.MARKDOWN,
        notify_type=apprise.NotifyType.WARNING if loud else apprise.NotifyType.INFO, timeout=spec.timeout)
    if not result:
        reasons = "; ".join(entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR"))
        raise DeliveryError(_scrub(reasons or "apprise reported a failure without a reason", url))


def _send_jsonl(spec: ChannelSpec, delivery_id: str, alerts: Sequence[Alert], urls: Mapping[str, str]) -> None:
    assert spec.path is not None
    line = json.dumps(payload(delivery_id, alerts), ensure_ascii=False) + "\n"
    try:
        spec.path.parent.mkdir(parents=True, exist_ok=True)
        # One write of a whole line to an O_APPEND file: concurrent workers never interleave records.
        with open(spec.path, "a", encoding="utf-8") as out:
            out.write(line)
    except OSError as exc:
        raise DeliveryError(f"cannot append to {spec.path}: {exc.strerror}") from None


def _send_console(spec: ChannelSpec, delivery_id: str, alerts: Sequence[Alert], urls: Mapping[str, str]) -> None:
    colour = sys.stdout.isatty() if spec.colour is None else spec.colour
    print(render_console(alerts, colour) + "\n", flush=True)


_SENDERS: dict[str, Callable[[ChannelSpec, str, Sequence[Alert], Mapping[str, str]], None]] = {
    "webhook": _send_webhook, "apprise": _send_apprise, "jsonl": _send_jsonl, "console": _send_console,
}


def send(spec: ChannelSpec, delivery_id: str, alerts: Sequence[Alert], urls: Mapping[str, str]) -> None:
    """Send one delivery; ``urls`` maps article ids to URLs for links to earlier reports."""
    try:
        _SENDERS[spec.kind](spec, delivery_id, alerts, urls)
    except SecretMissing as exc:
        raise DeliveryError(str(exc)) from None
