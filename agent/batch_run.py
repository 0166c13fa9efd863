"""One ``echo-agent batch`` run, in the driver: decide what runs, build the job specs, hand them to
an executor, record every result in the manifest, draw the progress bar, print the summary.

Tone reference (presets with ``reference: batch``): ``--reference FILE`` when given; else the
batch's first file is processed first, and its output is the reference of all the others (the
next file is tried if it fails). The reference's identity is part of every other file's recipe
hash, so a new reference redoes them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from agent import batch_exec, ui
from agent.batch_inputs import Job
from agent.batch_manifest import Manifest, sha256_file


class BatchRun:
    def __init__(self, args: argparse.Namespace, recipe: dict[str, Any], limits: dict[str, Any],
                 jobs: list[Job], manifest: Manifest) -> None:
        from agent.presets import recipe_sha256

        self.args, self.recipe, self.limits = args, recipe, limits
        self.jobs, self.manifest = jobs, manifest
        self.results: list[dict[str, Any]] = []
        self.setup_error = ""
        self.skipped = 0
        self._bar = None
        self._done = 0
        self.export = {"bit_depth": args.bit_depth, "bitrate": args.bitrate}
        self.base_sha = recipe_sha256({"recipe": recipe, "export": self.export})
        self.cores = 1.0

    # ------------------------------------------------------------------ planning
    def _needs_reference(self) -> bool:
        return bool(self.recipe.get("reference"))

    def _sha(self, reference_sha: str | None) -> str:
        from agent.presets import recipe_sha256

        return recipe_sha256({"base": self.base_sha, "reference": reference_sha})

    def _spec(self, job: Job, *, reference: str | None, is_reference: bool) -> dict[str, Any]:
        output = job.outputs[0]
        if self.recipe.get("export") == "stems":
            output = output.parent
        return {"key": job.key, "inputs": [os.path.abspath(p) for p in job.inputs],
                "output": os.path.abspath(output),
                "recipe": {**self.recipe, "reference": reference},
                "is_reference": is_reference,
                "export": {**self.export, "suffix": job.outputs[0].suffix},
                "limits": dict(self.limits)}

    def _pending(self) -> tuple[list[tuple[Job, str, str, str]], list[Job]]:
        """The jobs to run (with their input and recipe hashes, and why) and those already done.
        With a batch reference, the reference candidates come first in ``run``."""
        todo, done = [], []
        reference_sha = self._fixed_reference_sha()
        for job in self.jobs:
            input_sha = self.manifest.input_sha256(job.key, job.inputs)
            recipe_sha = self._sha(reference_sha)
            why = "forced" if self.args.force else self.manifest.why_run(job.key, input_sha,
                                                                            recipe_sha)
            (todo if why else done).append((job, input_sha, recipe_sha, why) if why else job)
        return todo, done

    def _fixed_reference_sha(self) -> str | None:
        if not self._needs_reference():
            return None
        if self.args.reference:
            return sha256_file(Path(self.args.reference))
        first = self.jobs[0]
        return "first:" + self.manifest.input_sha256(first.key, first.inputs)

    def dry_run(self) -> int:
        todo, done = self._pending()
        for job, _, _, why in todo:
            print(f"run   {job.key} -> {', '.join(str(o) for o in job.outputs)} ({why})")
        for job in done:
            print(f"skip  {job.key} (done)")
        ui.note(f"{len(todo)} to run, {len(done)} done already")
        return 0

    # ------------------------------------------------------------------ running
    def execute(self) -> int:
        todo, done = self._pending()
        self.skipped = len(done)
        self.manifest.set_batch(recipe=self.recipe.get("name") or self.recipe["kind"],
                                jobs=self.args.jobs, ray=self.args.ray)
        with ui.progress_bar(not self.args.quiet) as progress:
            self._bar = progress
            self._tick()
            reference = None
            if self._needs_reference():
                reference, todo = self._reference(todo)
            specs = [self._spec(job, reference=reference, is_reference=False)
                     for job, _, _, _ in todo]
            self._hashes = {job.key: (job, i, r) for job, i, r, _ in todo}
            self._run(specs)
        failed = any(not r.get("ok") for r in self.results)
        return 2 if self.setup_error else 1 if failed else 0

    def _reference(self, todo):
        """The tone reference's path: ``--reference``, else the output of the batch's first
        file that is done already or succeeds now (run here, before the others)."""
        if self.args.reference:
            return str(Path(self.args.reference).resolve()), todo
        pending = {item[0].key: item for item in todo}
        for job in self.jobs:
            if self.setup_error:
                break
            if job.key not in pending:
                entry = self.manifest.files.get(job.key, {})
                if entry.get("outputs"):
                    return str(self.manifest.outdir / entry["outputs"][0]["path"]), todo
                continue
            item = pending[job.key]
            todo = [t for t in todo if t is not item]
            self._hashes = {job.key: item[:3]}
            self._run([self._spec(job, reference=None, is_reference=True)])
            if self.results and self.results[-1].get("ok"):
                return self.results[-1]["outputs"][0], todo
        return None, todo

    def _run(self, specs: list[dict[str, Any]]) -> None:
        if not specs or self.setup_error:
            return
        stop = lambda: bool(self.setup_error)  # noqa: E731
        threads = self.limits["threads"]
        if self.args.ray:
            wants_gpu = any(s["tool"] in _gpu_tools() for s in
                            [*self.recipe.get("steps", []), *self.recipe.get("each", [])])
            jobs = self.args.jobs if self.args.jobs > 1 else None
            options = batch_exec.run_ray(
                specs, address=self.args.ray, num_cpus=jobs * threads if jobs else None,
                cpus_per_job=threads, gpus_per_job=self.args.gpus_per_job, wants_gpu=wants_gpu,
                memory_mb=self.limits["memory_mb"], threads=threads, on_result=self._record,
                should_stop=stop)
            self.cores = float(jobs * threads if jobs else os.cpu_count() or 1)
            self.manifest.set_batch(ray_task=options)
        elif self.args.jobs > 1:
            self.cores = float(min(self.args.jobs * threads, os.cpu_count() or 1))
            batch_exec.run_pool(specs, workers=self.args.jobs, threads=threads,
                                memory_mb=self.limits["memory_mb"], on_result=self._record,
                                should_stop=stop)
        else:
            self.cores = float(min(threads, os.cpu_count() or 1))
            batch_exec.run_inline(specs, on_result=self._record, should_stop=stop)

    def _record(self, result: dict[str, Any]) -> None:
        job, input_sha, recipe_sha = self._hashes[result["key"]]
        self.manifest.record(job.key, inputs=job.inputs, input_sha=input_sha,
                             recipe_sha=recipe_sha, result=result)
        self.results.append(result)
        if result.get("setup"):
            self.setup_error = result["error"]
        self._done += 1
        self._tick()

    def _tick(self) -> None:
        if self._bar is not None:
            total = len(self.jobs) - self.skipped
            self._bar(f"batch ({self.skipped} done before)" if self.skipped else "batch",
                      self._done, max(total, 1))

    # ------------------------------------------------------------------ summary
    def finish(self, wall_s: float) -> dict[str, Any]:
        from agent.batch_checks import check_problems
        from agent.batch_report import print_summary, summarize

        summary = summarize(self.results, skipped=self.skipped, total=len(self.jobs),
                            wall_s=wall_s, cores=self.cores,
                            cost_per_cpu_hour=self.args.cost_per_cpu_hour)
        warnings = [line for r in self.results if r.get("ok")
                    for line in check_problems(r.get("report", {}))]
        summary["check_problems"] = warnings
        self.manifest.set_batch(last_run=summary)
        self.manifest.save()
        if not self.args.quiet or summary["failed"]:
            print_summary(summary, warnings)
        return summary


def _gpu_tools() -> frozenset[str]:
    from agent.batch import GPU_TOOLS

    return GPU_TOOLS
