"""The RQ queue of a deployment and how work is put on it."""

from __future__ import annotations

import re

from rq import Queue, Retry
from rq.job import Job

from pipeline.config import Settings
from pipeline.feeds import Entry
from workers.store import Store

RESULT_TTL = 24 * 3600
FAILURE_TTL = 30 * 24 * 3600


def article_queue(store: Store) -> Queue:
    return Queue(store.queue_name, connection=store.client)


def enqueue_entry(store: Store, entry: Entry, settings: Settings) -> Job:
    """Queue one article; the job id names the namespace, the article and its place in the stream."""
    from workers.jobs import process_article

    return article_queue(store).enqueue(
        process_article,
        store.namespace,
        entry.to_dict(),
        job_id=re.sub(r"[^A-Za-z0-9_-]", "_", f"sw-{store.namespace}-{entry.article_id}-{entry.seq}"),
        job_timeout=settings.job_timeout,
        retry=Retry(max=len(settings.retry_intervals), interval=list(settings.retry_intervals))
        if settings.retry_intervals else None,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        description=f"article {entry.article_id} ({entry.url})",
    )
