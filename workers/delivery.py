"""Delivery: every alert of the stream to each channel that wants it, once, through RQ jobs.

The stream stays the source of truth. `dispatch` reads it through the consumer group "_dispatch"
and, in one transaction per alert, queues a `deliver` job per accepting channel and acknowledges
the entry: an alert is never queued twice by a healthy dispatcher, and one a crashed dispatcher
took is claimed again by the next after ``CLAIM_IDLE_MS``. Because it reads the stream rather than
being handed an alert, a worker that dies between committing an alert and dispatching it loses
nothing: the next article job dispatches it.

Each send is its own job with the channel's retry intervals. A marker per (delivery, channel),
set atomically before sending, makes a retried, duplicated or restarted job skip a delivery that
went out. A story's quiet period (``cooldown_minutes``) folds the alerts that arrive during it
into one digest, queued when the period ends by a job the RQ scheduler starts.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.client import Pipeline
from rq import Queue, Retry, get_current_job
from rq.job import Job

from pipeline.channels import ChannelSpec, accepts, load_channels
from pipeline.config import ConfigError, Settings, load_settings
from pipeline.models import Alert, stable_id
from workers.channels_send import DeliveryError, send
from workers.store import Store

log = logging.getLogger("storywatch.delivery")

DISPATCH_GROUP = "_dispatch"
CLAIM_IDLE_MS = 60_000
# Alerts older than this are acknowledged without delivery: enabling channels on an old namespace
# must not flood people with its history.
MAX_AGE = timedelta(days=1)
RESULT_TTL = 24 * 3600
FAILURE_TTL = 30 * 24 * 3600


class DeliveryBusy(Exception):
    """Another job holds the delivery's lease; this attempt fails and is retried after it ends."""


@functools.cache
def _config(config_dir: Path | None) -> tuple[Settings, tuple[ChannelSpec, ...]]:
    return load_settings(config_dir), tuple(load_channels(config_dir))


def channels_for(store: Store, config_dir: Path | None = None) -> list[ChannelSpec]:
    """The channels of the deployment; none for replays and tests in namespaces of their own."""
    settings, channels = _config(config_dir)
    return list(channels) if store.namespace == settings.namespace else []


def _channel(name: str) -> ChannelSpec | None:
    return next((spec for spec in _config(None)[1] if spec.name == name), None)


def _job_context(namespace: str, channel_name: str) -> tuple[Job, Store, ChannelSpec | None]:
    """The running RQ job, its namespace's store, and the channel it is for (None if unconfigured)."""
    job = get_current_job()
    assert job is not None, "delivery jobs run inside an RQ worker"
    return job, Store(job.connection, namespace), _channel(channel_name)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def delivery_queue(store: Store) -> Queue:
    return Queue(store.delivery_queue_name, connection=store.client)


def _job_timeout(spec: ChannelSpec) -> int:
    return int(spec.timeout * 3) + 30


def enqueue_delivery(store: Store, spec: ChannelSpec, delivery: dict[str, Any], pipe: Pipeline | None = None,
                     job_id: str | None = None) -> Job:
    """Queue one send; ``delivery`` is {"id", "alerts": [Alert JSON], "digest": bool}."""
    return delivery_queue(store).enqueue_call(
        deliver, args=(store.namespace, spec.name, delivery), job_id=job_id, timeout=_job_timeout(spec),
        retry=Retry(max=len(spec.retry_intervals), interval=list(spec.retry_intervals))
        if spec.retry_intervals else None,
        result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, pipeline=pipe,
        description=f"deliver {delivery['id']} to {spec.name}")


def _job_id(store: Store, spec: ChannelSpec, delivery_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"sw-{store.namespace}-deliver-{spec.name}-{delivery_id}")


def read_group(store: Store, group: str, consumer: str, *, follow: bool, block_ms: int = 5000,
               claim_idle_ms: int = CLAIM_IDLE_MS) -> Iterator[tuple[str, Alert | None]]:
    """The group's entries for ``consumer``; the caller acknowledges each once it has handled it.

    The consumer's own unacknowledged entries come first (it stopped before finishing them), then
    entries other consumers left unacknowledged for ``claim_idle_ms`` (they died), then new ones.
    Without ``follow`` it returns when nothing is left. None stands for an entry trimmed away.
    """
    store.ensure_group(group)
    after = "0"
    while batch := store.read_group(group, consumer, start=after):
        yield from batch
        after = batch[-1][0]
    while True:
        batch = store.claim_stale(group, consumer, claim_idle_ms) or store.read_group(
            group, consumer, block_ms=block_ms if follow else None)
        if not batch and not follow:
            return
        yield from batch


def dispatch(store: Store, config_dir: Path | None = None) -> int:
    """Queue deliveries for every alert of the stream not dispatched yet; returns how many were queued.

    Cheap when there is nothing new (a few commands, no writes), so the article job calls it after
    every integration, whether or not that raised an alert: one dying in between is caught up.
    """
    try:
        channels = channels_for(store, config_dir)
    except ConfigError as exc:
        # Leave the stream unread: the alerts go out once the config is fixed and workers restart.
        log.error("deliveries wait for a valid channel config: %s", exc)
        return 0
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    oldest = datetime.now(UTC) - MAX_AGE
    queued = 0
    for entry_id, alert in read_group(store, DISPATCH_GROUP, consumer, follow=False):
        targets = [] if alert is None or _created(alert) < oldest \
            else [spec for spec in channels if accepts(spec, alert)]
        if alert is not None and targets:
            delivery = {"id": alert.id, "alerts": [alert.to_dict()], "digest": False}
            store.ack(DISPATCH_GROUP, entry_id, then=functools.partial(_queue_each, store, targets, delivery))
        else:
            store.ack(DISPATCH_GROUP, entry_id)
        queued += len(targets)
    return queued


def _created(alert: Alert) -> datetime:
    """When the alert was raised; an unreadable stamp counts as now, so it is delivered, not stuck."""
    try:
        stamp = datetime.fromisoformat(alert.created_at)
    except ValueError:
        return datetime.now(UTC)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _queue_each(store: Store, targets: list[ChannelSpec], delivery: dict[str, Any], pipe: Pipeline) -> None:
    for spec in targets:
        enqueue_delivery(store, spec, delivery, pipe, job_id=_job_id(store, spec, delivery["id"]))


def _article_urls(store: Store, story_id: str) -> dict[str, str]:
    return {ref.article_id: ref.url for ref in store.ledger(story_id).articles if ref.url}


def deliver(namespace: str, channel_name: str, delivery: dict[str, Any]) -> str:
    """The RQ job of one send. Safe to run twice: the marker lets only one send out."""
    job, store, spec = _job_context(namespace, channel_name)
    if spec is None:
        return f"channel {channel_name} is no longer configured"
    alerts = [Alert.from_dict(data) for data in delivery["alerts"]]
    story_id = str(alerts[0].story.get("id", ""))
    if store.is_muted(story_id):
        store.count_delivery(spec.name, "muted")
        return "story muted"
    token = uuid.uuid4().hex
    fold_ms = 0 if delivery.get("digest") else spec.cooldown_ms
    try:
        state, waiting, left_ms = store.begin_delivery(
            spec.name, delivery["id"], story_id, lease_s=_job_timeout(spec) + 30, fold_ms=fold_ms,
            payload=delivery, token=token)
        if state == "busy":
            raise DeliveryBusy("another attempt of this delivery is in flight")
    except DeliveryBusy as exc:
        _record_failure(store, spec, delivery, job, str(exc))
        raise
    if state == "done":
        return "already delivered"
    if state == "folded":
        store.count_delivery(spec.name, "folded")
        if waiting == 1:
            _schedule_digest(store, spec, story_id, left_ms)
        return "folded into the story's digest"
    if fold_ms and waiting:
        # This alert opened a quiet period, yet alerts wait from an earlier one whose digest job
        # was lost (a server restart without persistence): send them now rather than never.
        _schedule_digest(store, spec, story_id, 0)
    try:
        send(spec, delivery["id"], alerts, _article_urls(store, story_id))
    except Exception as exc:
        store.release_delivery(spec.name, delivery["id"], token)
        reason = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
        _record_failure(store, spec, delivery, job, reason)
        raise
    store.finish_delivery(spec.name, delivery["id"], _now(), story_id=story_id,
                          cooldown_ms=spec.cooldown_ms if delivery.get("digest") else 0)
    return "sent"


def _record_failure(store: Store, spec: ChannelSpec, delivery: dict[str, Any], job: Job, reason: str) -> None:
    # retries_left is 0 on the last attempt (None without retries): then the delivery is dead.
    final = not job.retries_left
    dead = {"channel": spec.name, "delivery": delivery, "error": reason, "at": _now()} if final else None
    store.record_failure(spec.name, reason, _now(), dead)
    log.warning("delivery %s to %s failed%s: %s", delivery["id"], spec.name, " for good" if final else "", reason)


def _schedule_digest(store: Store, spec: ChannelSpec, story_id: str, delay_ms: int) -> None:
    delivery_queue(store).enqueue_in(
        timedelta(milliseconds=max(delay_ms, 0)), collect_digest, store.namespace, spec.name, story_id,
        job_timeout=60, result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
        description=f"digest of story {story_id} for {spec.name}")


def collect_digest(namespace: str, channel_name: str, story_id: str) -> str:
    """The RQ job that ends a quiet period: the alerts folded during it become one queued delivery."""
    _, store, spec = _job_context(namespace, channel_name)
    if spec is None:
        return f"channel {channel_name} is no longer configured"

    def queue_digest(pipe: Pipeline, folded: list[dict[str, Any]]) -> None:
        ids = [item["id"] for item in folded]
        delivery = {"id": stable_id("digest", *ids), "alerts": [a for item in folded for a in item["alerts"]],
                    "digest": True}
        enqueue_delivery(store, spec, delivery, pipe, job_id=_job_id(store, spec, delivery["id"]))

    folded = store.take_digest(spec.name, story_id, queue_digest)
    return f"{len(folded)} folded alerts queued as one digest"


def retry_dead(store: Store, channel: str | None = None, config_dir: Path | None = None) -> int:
    """Queue the dead letters of ``channel`` (all channels when None) again; returns how many."""
    specs = {spec.name: spec for spec in _config(config_dir)[1] if channel in (None, spec.name)}

    def requeue(pipe: Pipeline, letters: list[dict[str, Any]]) -> None:
        for letter in letters:
            enqueue_delivery(store, specs[letter["channel"]], letter["delivery"], pipe)

    return len(store.take_dead_letters(specs.keys(), requeue))


def channel_status(store: Store, config_dir: Path | None = None) -> list[dict[str, Any]]:
    """Per configured channel: what was sent, folded, muted and failed, and the last error."""
    dead = Counter(letter["channel"] for letter in store.dead_letters())
    rows = []
    for spec in _config(config_dir)[1]:
        stats = store.delivery_stats(spec.name)
        rows.append({"channel": spec.name, "type": spec.kind,
                     **{key: int(stats.get(key, 0)) for key in ("sent", "folded", "muted", "failed")},
                     "dead": dead[spec.name], "last_sent_at": stats.get("last_sent_at"),
                     "last_error": stats.get("last_error"), "last_error_at": stats.get("last_error_at")})
    return rows


def delivering_namespace(config_dir: Path | None = None) -> str:
    return _config(config_dir)[0].namespace

