"""The worker fleet: N RQ worker processes on one deployment's queues, respawned when they die.

Workers are SimpleWorkers: a job runs in the worker process itself, so the models, loaded by the
first article job, stay warm across jobs (a fork-per-job worker would load them again for every
article). They load lazily so that delivery jobs never wait for them.

A SimpleWorker sends no heartbeat while a job runs, so RQ marks its job as started for the job's
whole timeout plus a minute, and looks for abandoned jobs only every ten minutes: a worker killed
mid-job would hold up the ordered stream for that long. `StoryWorker` closes that gap:

- a thread beats every ``HEARTBEAT_INTERVAL`` seconds while a job runs, keeping the job's entry in
  the started registry alive for ``HEARTBEAT_TTL`` seconds only, so a dead worker's job expires
  within seconds;
- maintenance (RQ's registry cleanup, which retries an expired job or fails it when it has no
  retries left) runs every ``MAINTENANCE_INTERVAL`` seconds, and an idle worker wakes from its
  blocking dequeue often enough to run it;
- after each maintenance the `watchdog` looks at the integration pointer: a sequence number whose
  job is dead for good (failed, deleted, never queued) is skipped, so the articles behind it flow.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
from typing import Any

from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.worker_pool import WorkerPool

from workers.connection import Endpoint
from workers.store import Store

log = logging.getLogger("storywatch.fleet")

HEARTBEAT_INTERVAL = 3
HEARTBEAT_TTL = 15
MAINTENANCE_INTERVAL = 5
# RQ's blocking dequeue waits worker_ttl - 15 seconds: 25 wakes an idle worker every 10 s.
WORKER_TTL = 25
# RQ's maintenance lock lives 15 minutes: a worker killed while cleaning would stall recovery that long.
MAINTENANCE_LOCK_TTL = 30
_PR_SET_PDEATHSIG = 1


class StoryWorker(SimpleWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        kwargs.setdefault("job_monitoring_interval", HEARTBEAT_INTERVAL)
        super().__init__(*args, **kwargs)

    def get_heartbeat_ttl(self, job: Job) -> int:
        return HEARTBEAT_TTL

    def perform_job(self, job: Job, queue: Queue) -> bool:
        stop = threading.Event()
        assert self.execution is not None, "SimpleWorker prepares the execution before performing the job"
        beat = threading.Thread(target=self._beat, args=(job, self.execution, stop), name="job-heartbeat",
                                daemon=True)
        beat.start()
        try:
            return super().perform_job(job, queue)
        finally:
            stop.set()
            beat.join()

    def _beat(self, job: Job, execution: Execution, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_INTERVAL):
            try:
                with self.connection.pipeline() as pipe:
                    self.heartbeat(HEARTBEAT_TTL + WORKER_TTL, pipeline=pipe)
                    # xx: a beat racing the job's end never puts a finished job back in the registry.
                    execution.heartbeat(job.started_job_registry, HEARTBEAT_TTL, pipeline=pipe)
                    pipe.execute()
            except RedisError as exc:
                # The server is restarting: the job carries on, and the next beat tries again.
                log.warning("heartbeat of job %s failed: %s", job.id, exc)

    def run_maintenance_tasks(self) -> None:
        from workers.watchdog import watchdog

        for queue in self.queues:
            self.connection.expire(queue.registry_cleaning_key, MAINTENANCE_LOCK_TTL, lt=True)
        super().run_maintenance_tasks()
        for queue in self.queues:
            namespace = Store.namespace_of_queue(queue.name)
            if namespace is not None:
                watchdog().check(Store(self.connection, namespace), queue)


def _die_with_parent() -> None:
    """In a forked child: get SIGTERM when the parent dies, even by SIGKILL (Linux).

    RQ forks a scheduler out of one worker, and the pool forks the workers. Without this a killed
    worker leaves its scheduler running forever, and a killed pool its workers.
    """
    parent = os.getppid()
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0 and os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)  # the parent died before the request took effect


def run_fleet(endpoint: Endpoint, queue_name: str, workers: int, *, burst: bool = False,
              logging_level: str = "INFO") -> None:
    """Run until SIGTERM or SIGINT, then stop warmly: running jobs finish first."""
    # Deliveries come first: they are quick, and people wait for them while articles queue up.
    queues = [Store.delivery_queue_for(queue_name), queue_name]
    if sys.platform.startswith("linux"):
        os.register_at_fork(after_in_child=_die_with_parent)
    pool = WorkerPool(queues, connection=endpoint.client(patient=True), num_workers=workers,
                      worker_class=StoryWorker)
    pool.start(burst=burst, logging_level=logging_level)
