"""Where batch jobs run: in this process, in a pool of local worker processes, or as Ray tasks.

All three run :func:`agent.batch_jobs.run_job` on the same specs and hand every result to
``on_result`` in the driver, which alone writes the manifest. The distribution is the library's:
``concurrent.futures.ProcessPoolExecutor`` (spawned workers, each initialised once with its thread
and memory limits, so its models stay loaded from one file to the next) or Ray (tasks with their
CPUs, GPUs and memory declared; Ray places them on the cluster's nodes).

The local pool keeps at most one job per worker in flight, so when the system kills a worker
(out of memory) the jobs it broke are known: they are tried once more in a fresh pool, and a job
that kills a worker twice fails with that reason. Ray retries a task whose worker died once
itself (``max_retries=1``).

Standard library only at import (ray is imported when asked for).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from agent import batch_jobs

OnResult = Callable[[dict[str, Any]], None]
ShouldStop = Callable[[], bool]
_PASS_ENV = ("ECHO_AGENT_", "HF_HUB_OFFLINE", "OPENAI_BASE_URL")
RAY_INSTALL = "pip install 'echo-agent[ray]' (ray>=2.40,<2.53)"


def _died(spec: dict[str, Any], reason: str) -> dict[str, Any]:
    return {"key": spec["key"], "ok": False, "setup": False, "outputs": [], "report": {},
            "error": reason}


def run_inline(specs: list[dict[str, Any]], *, on_result: OnResult, should_stop: ShouldStop
               ) -> None:
    """``-j 1``: every job in this process, one after the other."""
    for spec in specs:
        if should_stop():
            return
        on_result(batch_jobs.run_job(spec))


def run_pool(specs: list[dict[str, Any]], *, workers: int, threads: int,
             memory_mb: int | None, on_result: OnResult, should_stop: ShouldStop) -> None:
    """``-j N``: N spawned worker processes."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    queue = list(specs)
    crashes: dict[str, int] = {}
    context = multiprocessing.get_context("spawn")
    while queue and not should_stop():
        broken = False
        with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                 initializer=batch_jobs.init_worker,
                                 initargs=(threads, memory_mb)) as pool:
            running: dict[Any, dict[str, Any]] = {}
            while (queue or running) and not broken:
                while queue and len(running) < workers and not should_stop():
                    spec = queue.pop(0)
                    running[pool.submit(batch_jobs.run_job, spec)] = spec
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    spec = running.pop(future)
                    try:
                        on_result(future.result())
                    except BrokenProcessPool:
                        broken = True
                        crashes[spec["key"]] = crashes.get(spec["key"], 0) + 1
                        if crashes[spec["key"]] >= 2:
                            on_result(_died(spec, "its worker process died twice while on it "
                                                  "(killed by the system: out of memory?)"))
                        else:
                            queue.insert(0, spec)
            for future, spec in running.items():  # broken under them: try them again
                future.cancel()
                queue.insert(0, spec)


def ray_init(address: str | None, *, num_cpus: int | None, env: dict[str, str]) -> bool:
    """Connect to Ray (a cluster at ``address``, else a local instance); True when this call
    started it (and so shuts it down afterwards)."""
    try:
        import ray
    except ImportError:
        from tools.core.errors import SetupError

        raise SetupError(f"--ray needs Ray: {RAY_INSTALL}") from None
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                               "log_to_driver": False, "runtime_env": {"env_vars": env}}
    if address and address != "local":
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=num_cpus, **options)
    return True


def worker_env(threads: int) -> dict[str, str]:
    """The environment a Ray worker gets: this batch's thread limits, and echo-agent's settings
    (model folders, offline mode). API keys are not passed: set them on the cluster."""
    env = {name: value for name, value in os.environ.items()
           if name.startswith(_PASS_ENV) and "KEY" not in name}
    env.update({name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                "MKL_NUM_THREADS")})
    return env


def run_ray(specs: list[dict[str, Any]], *, address: str | None, num_cpus: int | None,
            cpus_per_job: float, gpus_per_job: float | None, wants_gpu: bool,
            memory_mb: int | None, threads: int, on_result: OnResult, should_stop: ShouldStop
            ) -> dict[str, Any]:
    """``--ray [ADDRESS]``: every job a Ray task with its resources declared. A job whose
    steps can use a GPU asks for one (``gpus_per_job`` None) when the cluster has any.
    Returns the resources asked per task."""
    started = ray_init(address, num_cpus=num_cpus, env=worker_env(threads))
    import ray

    try:
        if gpus_per_job is None:
            gpus_per_job = 1.0 if wants_gpu and cluster_gpus() > 0 else 0.0
        options: dict[str, Any] = {"num_cpus": cpus_per_job, "num_gpus": gpus_per_job,
                                   "max_retries": 1}
        if memory_mb:  # no more than the cluster's memory shares: else no task fits, all wait
            share = float(ray.cluster_resources().get("memory", 0.0)) / max(
                float(ray.cluster_resources().get("CPU", 1.0)) / max(cpus_per_job, 1e-3), 1.0)
            options["memory"] = int(min(int(memory_mb) * 2**20, share or memory_mb * 2**20))
        task = ray.remote(batch_jobs.run_job).options(**options)
        pending = {task.remote(spec): spec for spec in specs}
        while pending:
            if should_stop():
                for ref in pending:
                    ray.cancel(ref)
                break
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                spec = pending.pop(ref)
                try:
                    on_result(ray.get(ref))
                except ray.exceptions.RayError as exc:
                    reason = " ".join(str(exc).split())[:300]
                    on_result(_died(spec, f"the Ray task failed: {type(exc).__name__}: {reason}"))
        return options
    finally:
        if started:
            ray.shutdown()


def cluster_gpus() -> float:
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))
