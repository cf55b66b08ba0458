"""Where the shards run: `local`, a pool of processes on this machine, or `ray`, Ray Data
`map_batches` over an actor pool (a local Ray, or a cluster). Both give the same rows."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from disinfodb.errors import DisinfoError
from disinfodb.matching import Label
from disinfodb.scan.corpus import Corpus, Shard
from disinfodb.scan.worker import ShardMatcher, ShardResult

if TYPE_CHECKING:
    from disinfodb.scan.job import ScanJob

# An engine runs shards on `workers` workers (None: one per core, of this machine or of
# the Ray cluster), sets ScanJob.workers_used, and gives the results as they finish.
Engine = Callable[["ScanJob", list[Shard], int | None, str | None], Iterator[ShardResult]]


_WORKER: ShardMatcher | None = None


def _local_shard(db: str, model: str, cases: list[int], corpus: Corpus, shard: Shard, limit: int,
                 min_label: Label, batch: int) -> ShardResult:
    """A pool task: the process's matcher is loaded by its first task (so that a load error
    comes back as that task's exception, with its message), then reused."""
    global _WORKER  # noqa: PLW0603 - one matcher per worker process
    if _WORKER is None:
        _WORKER = ShardMatcher(db, model, cases)
    return _WORKER.run(corpus, shard, limit, min_label, batch)


def run_local(job: ScanJob, shards: list[Shard], workers: int | None,
              address: str | None = None) -> Iterator[ShardResult]:
    """A pool of `workers` processes (spawned: each loads its own matcher), at most two
    shards queued per worker so that memory stays flat; results in completion order."""
    workers = job.workers_used = min(workers or os.cpu_count() or 1, len(shards))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    queue = iter(shards)
    running: set[Future[ShardResult]] = set()
    try:
        while True:
            while len(running) < 2 * workers and (shard := next(queue, None)) is not None:
                running.add(pool.submit(_local_shard, job.db, job.model, job.cases, job.corpus, shard,
                                        job.limit, job.min_label, job.batch))
            if not running:
                return
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
    except BrokenProcessPool:
        raise DisinfoError("a worker process died (killed, or out of memory?); the finished shards are kept: "
                           "run the same command again to resume") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class RayShardMatcher:
    """The Ray Data callable class: one per actor, the matcher built in __init__."""

    def __init__(self, db: str, model: str, cases: list[int], corpus: Corpus, limit: int, min_label: Label,
                 batch: int) -> None:
        self.worker = ShardMatcher(db, model, cases)
        self.corpus, self.limit, self.min_label, self.batch = corpus, limit, min_label, batch

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        results = [self.worker.run(self.corpus, Shard(*(int(batch[name][n]) for name in Shard._fields)),
                                   self.limit, self.min_label, self.batch)
                   for n in range(len(batch["number"]))]
        return {"number": [r.number for r in results],
                "result": [json.dumps(asdict(r), ensure_ascii=False) for r in results]}


_RAY_TOLD = re.compile(r"^disinfodb\.[\w.]+: (.+)$", re.MULTILINE)  # our error's line in a traceback


def run_ray(job: ScanJob, shards: list[Shard], workers: int | None,
            address: str | None = None) -> Iterator[ShardResult]:
    """Ray Data: the shard descriptors as a dataset, `map_batches` over an actor pool of
    `workers` actors (one CPU each). A local Ray is started unless one runs (or --address
    names a cluster; its nodes must see the corpus and the database at the same paths)."""
    try:
        import ray  # noqa: PLC0415 - only this engine needs Ray
        import ray.data  # noqa: PLC0415
    except ImportError as error:
        raise DisinfoError(f"the ray `engine` needs Ray Data (pip install 'ray[data]'): {error}") from None
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                   "logging_level": "ERROR", "configure_logging": True}
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, **options)
        started = True
    quiet = logging.getLogger("ray.data")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its INFO and WARNING lines would interleave with our progress
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        workers = job.workers_used = min(workers or cpus, len(shards))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        dataset = ray.data.from_items([shard._asdict() for shard in shards], override_num_blocks=len(shards))
        matched = dataset.map_batches(
            RayShardMatcher, batch_size=1, batch_format="numpy", num_cpus=1,
            compute=ray.data.ActorPoolStrategy(size=workers),
            fn_constructor_kwargs={"db": job.db, "model": job.model, "cases": job.cases, "corpus": job.corpus,
                                   "limit": job.limit, "min_label": job.min_label, "batch": job.batch})
        for row in matched.iter_rows():
            yield ShardResult(**json.loads(row["result"]))
    except Exception as error:
        cause = getattr(error, "cause", None)  # a RayTaskError carries the worker's exception ...
        if isinstance(cause, DisinfoError):
            raise cause from None
        told = _RAY_TOLD.findall(str(error))  # ... an actor that failed to start only its traceback
        if told:
            raise DisinfoError(told[-1]) from None
        raise
    finally:
        quiet.setLevel(level)
        if started:
            ray.shutdown()


ENGINES: dict[str, Engine] = {"local": run_local, "ray": run_ray}
