"""`storywatch status`: one look at a deployment's health, gathered from Redis only.

Queues with their lag (the age of the oldest waiting job), workers with their heartbeats, failed
jobs grouped by cause, stories, and the integration pointer against the last sequence handed out.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry

from workers.store import Store

_URL = re.compile(r"\bhttps?://\S+")
_NUMBER = re.compile(r"\b\d+(\.\d+)?\b")


def cause(exc_string: str | None) -> str:
    """A failure's last traceback line with URLs and numbers blanked, so alike failures group together."""
    lines = (exc_string or "").strip().splitlines()
    last = lines[-1] if lines else "unknown"
    return _NUMBER.sub("N", _URL.sub("URL", last))[:160]


def _age(moment: datetime | None, now: datetime) -> float | None:
    if moment is None:
        return None
    stamp = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return round((now - stamp).total_seconds(), 1)


def queue_status(queue: Queue, now: datetime) -> dict[str, Any]:
    oldest_id = queue.get_job_ids(0, 0)
    oldest = Job.fetch_many(oldest_id, connection=queue.connection)[0] if oldest_id else None
    return {"queue": queue.name, "queued": queue.count, "started": queue.started_job_registry.count,
            "scheduled": queue.scheduled_job_registry.count, "failed": queue.failed_job_registry.count,
            "lag_s": _age(oldest.enqueued_at, now) if oldest is not None else 0.0}


def failure_causes(queues: list[Queue]) -> dict[str, int]:
    causes: Counter[str] = Counter()
    for queue in queues:
        ids = FailedJobRegistry(queue=queue).get_job_ids()
        for job in Job.fetch_many(ids, connection=queue.connection):
            if job is not None:
                result = job.latest_result()
                causes[cause(result.exc_string if result is not None else None)] += 1
    return dict(causes.most_common())


def collect(store: Store) -> dict[str, Any]:
    now = datetime.now(UTC)
    queues = [Queue(name, connection=store.client) for name in (store.queue_name, store.delivery_queue_name)]
    workers = []
    for worker in Worker.all(queue=queues[0]):
        job_id = worker.get_current_job_id()
        workers.append({"name": worker.name, "pid": worker.pid, "state": str(worker.get_state()),
                        "job": job_id, "last_heartbeat": worker.last_heartbeat.isoformat()
                        if worker.last_heartbeat else None,
                        "heartbeat_age_s": _age(worker.last_heartbeat, now)})
    following, last = store.next_to_integrate(), store.last_sequence()
    stories = store.stories()
    return {
        "namespace": store.namespace,
        "queues": [queue_status(queue, now) for queue in queues],
        "workers": workers,
        "failed": failure_causes(queues),
        "stories": {"stories": len(stories), "watched": sum(story.watched for story in stories),
                    "articles": store.article_count(), "alerts": store.alert_count()},
        "integration": {"next": following, "last_sequence": last, "waiting": max(0, last - following + 1),
                        "next_ready": store.pending(following) is not None},
    }


def format_status(status: dict[str, Any]) -> str:
    lines = [f"namespace {status['namespace']}", "queues:"]
    for row in status["queues"]:
        lines.append(f"  {row['queue']:<32} {row['queued']:>6} queued {row['started']:>3} running "
                     f"{row['scheduled']:>4} scheduled {row['failed']:>5} failed   lag {row['lag_s']}s")
    lines.append(f"workers: {len(status['workers'])}")
    for row in status["workers"]:
        lines.append(f"  {row['name'][:12]} pid {row['pid']:<7} {row['state']:<10} heartbeat "
                     f"{row['heartbeat_age_s']}s ago" + (f"  job {row['job']}" if row["job"] else ""))
    lines.append("failed jobs by cause:" if status["failed"] else "failed jobs: none")
    lines.extend(f"  {count:>5}  {reason}" for reason, count in status["failed"].items())
    stories, flow = status["stories"], status["integration"]
    lines.append(f"stories: {stories['stories']} ({stories['watched']} watched), {stories['articles']} articles, "
                 f"{stories['alerts']} alerts")
    lines.append(f"integration: next {flow['next']}, last sequence {flow['last_sequence']}, "
                 f"{flow['waiting']} waiting" + (" (next one ready)" if flow["next_ready"] else ""))
    return "\n".join(lines)
