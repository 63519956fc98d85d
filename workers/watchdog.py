"""The integration watchdog: a sequence number whose job is gone for good must not stall the stream.

The ordered step waits for ``pending:{next}``. RQ brings a job back when its worker dies (see
`workers.fleet`), and a job that fails writes a skip for its number itself. What neither covers:
a job abandoned with no retries left (RQ moves it to the failed registry, and nothing writes the
skip), a job stuck in RQ's intermediate queue and failed there, a failed job purged by hand, or a
number the poller took and never queued (it crashed in between), and a job a worker was killed
while taking off the queue (in no list or registry any more). Each worker runs `Watchdog.check`
after its maintenance: when the awaited number has no live job on two checks ``GRACE`` seconds
apart, a lost job is queued again; otherwise the number is skipped with the reason, and the
results behind it are integrated.
"""

from __future__ import annotations

import functools
import logging
import time

from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from workers.store import Store

log = logging.getLogger("storywatch.watchdog")

# Longer than a poller needs between taking a number and queuing its job.
GRACE = 20.0
_ALIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def live_job_ids(queue: Queue) -> set[str]:
    """Ids of the queue's jobs that will still run: queued, being moved to a worker, running, scheduled, deferred."""
    ids = set(queue.get_job_ids())
    ids.update(queue.intermediate_queue.get_job_ids())
    for registry in (queue.started_job_registry, queue.scheduled_job_registry, queue.deferred_job_registry):
        ids.update(registry.get_job_ids(cleanup=False))
    return ids


def _of_sequence(job_ids: set[str], seq: int) -> list[str]:
    # Article job ids end in their sequence number (workers.queues.enqueue_entry).
    return [job_id for job_id in job_ids if job_id.endswith(f"-{seq}")]


def awaited_job(store: Store, queue: Queue, seq: int) -> tuple[bool, Job | None, str]:
    """Whether a live job will still fill ``seq``; if not, its orphaned job if any, and why.

    An orphan is a job no list or registry holds any more, though it never ran to the end: RQ's
    worker pops a job off one of several queues and only then marks it started, so a worker
    killed in between loses it. Such a job can simply be queued again.
    """
    owner = store.job_of_sequence(seq)
    if owner is not None:
        job = Job.fetch_many([owner], connection=store.client)[0]
        if job is not None and job.get_status() in _ALIVE:
            return True, None, ""
    if _of_sequence(live_job_ids(queue), seq):
        return True, None, ""
    failed = FailedJobRegistry(queue=queue)
    for job_id in _of_sequence(set(failed.get_job_ids(cleanup=False)), seq):
        job = Job.fetch_many([job_id], connection=store.client)[0]
        result = job.latest_result() if job is not None else None
        reason = (result.exc_string or "").strip().splitlines()[-1:] if result is not None else []
        return False, None, f"its job {job_id} failed: {reason[0] if reason else 'no reason recorded'}"
    for key in store.client.scan_iter(match=f"{Job.redis_job_namespace_prefix}*-{seq}", count=1000):
        job = Job.fetch_many([key.decode().removeprefix(Job.redis_job_namespace_prefix)],
                            connection=store.client)[0]
        if job is not None and job.origin == queue.name and job.get_status() in _ALIVE:
            return False, job, "its job was lost by a worker that died while taking it"
    return False, None, "no job holds it (lost before it was queued, or purged)"


class Watchdog:
    def __init__(self, grace: float = GRACE) -> None:
        self.grace = grace
        # Per namespace: the awaited number found without a live job, and when.
        self.suspects: dict[str, tuple[int, float]] = {}

    def check(self, store: Store, queue: Queue) -> bool:
        """Queue the awaited number's job again if it was lost, or skip the number if the job is dead for good.

        True when it did either.
        """
        from workers.delivery import dispatch
        from workers.jobs import integrate_ready

        seq = store.next_to_integrate()
        if seq > store.last_sequence():
            self.suspects.pop(store.namespace, None)
            return False
        if store.pending(seq) is not None:
            # A result is ready but its job died before integrating it: finish the job's work.
            self.suspects.pop(store.namespace, None)
            integrate_ready(store)
            dispatch(store)
            return False
        alive, orphan, reason = awaited_job(store, queue, seq)
        suspect = self.suspects.get(store.namespace)
        if alive or suspect is None or suspect[0] != seq:
            if alive:
                self.suspects.pop(store.namespace, None)
            else:
                self.suspects[store.namespace] = (seq, time.monotonic())
            return False
        if time.monotonic() - suspect[1] < self.grace:
            return False
        del self.suspects[store.namespace]
        if orphan is not None:
            log.warning("sequence %d: %s; queued again", seq, reason)
            queue.enqueue_job(orphan)
            return True
        log.warning("sequence %d skipped by the watchdog: %s", seq, reason)
        store.put_pending(seq, {"skipped": f"watchdog: {reason}", "article_id": None}, replace=False)
        integrate_ready(store)
        dispatch(store)
        return True


@functools.cache
def watchdog() -> Watchdog:
    """The worker process's watchdog: it remembers suspects across maintenance runs."""
    return Watchdog()
