"""Independent training runs on worker processes: one pool rule for every experiment.

`run_jobs(fn, jobs, shared, workers=N, threads=k, on_done=...)` calls `fn(job, shared)` for every
job and returns the results in the order of `jobs`. With one worker (or one job) everything runs in
this process; otherwise on N `spawn`ed processes, each set to k torch threads, that receive `shared`
(the prepared data) once, when they start. `fn` must be a module-level function and jobs and results
picklable. A run's result depends only on its job and `shared`, never on which worker ran it or
when, so the same jobs give the same results at any worker count (the experiments' tests check it).
`on_done(result)` is called in this process as each run finishes (progress lines). An error or
Ctrl-C cancels the runs not yet started and propagates.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

__all__ = ["run_jobs"]

_SHARED = None


def _init_worker(shared, threads: int) -> None:
    global _SHARED
    _SHARED = shared
    torch.set_num_threads(threads)


def _call(fn, job):
    return fn(job, _SHARED)


def run_jobs(fn: Callable, jobs: Sequence, shared, *, workers: int = 1, threads: int = 1,
             on_done: Callable | None = None) -> list:
    """[fn(job, shared) for job in jobs], on `workers` processes when more than one."""
    on_done = on_done or (lambda result: None)
    if workers <= 1 or len(jobs) <= 1:
        results = []
        for job in jobs:
            results.append(fn(job, shared))
            on_done(results[-1])
        return results
    import concurrent.futures as cf
    import multiprocessing as mp

    results = [None] * len(jobs)
    with cf.ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=mp.get_context("spawn"),
                                initializer=_init_worker, initargs=(shared, threads)) as pool:
        futures = {pool.submit(_call, fn, job): i for i, job in enumerate(jobs)}
        try:
            for fut in cf.as_completed(futures):
                results[futures[fut]] = fut.result()
                on_done(results[futures[fut]])
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return results
