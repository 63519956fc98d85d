"""The worker fleet: N RQ worker processes on one deployment's queues, respawned when they die.

Workers are SimpleWorkers: a job runs in the worker process itself, so the models loaded at start
stay warm across jobs (a fork-per-job worker would load them again for every article). Each job
carries a timeout, which also bounds how long a busy worker's heartbeat lasts.
"""

from __future__ import annotations

from typing import Any

from rq import SimpleWorker
from rq.worker_pool import WorkerPool

from workers.connection import Endpoint
from workers.store import Store


class StoryWorker(SimpleWorker):
    def work(self, *args: Any, **kwargs: Any) -> bool:
        from workers.jobs import analyser

        analyser().warm()
        return super().work(*args, **kwargs)


def run_fleet(endpoint: Endpoint, queue_name: str, workers: int, *, burst: bool = False,
              logging_level: str = "INFO") -> None:
    """Run until SIGTERM or SIGINT, then stop warmly: running jobs finish first."""
    # Deliveries come first: they are quick, and people wait for them while articles queue up.
    queues = [Store.delivery_queue_for(queue_name), queue_name]
    pool = WorkerPool(queues, connection=endpoint.client(patient=True), num_workers=workers,
                      worker_class=StoryWorker)
    pool.start(burst=burst, logging_level=logging_level)
