"""The eval suites, by name. One module per suite; add new ones to ``SUITES`` explicitly."""

from __future__ import annotations

from evals.runner import Suite
from evals.suites import (
    asr,
    batch,
    denoise,
    disfluency,
    judges,
    long,
    metrics,
    repair,
    requests,
    separation,
    spine,
    toolbox,
)

SUITES: dict[str, Suite] = {
    "metrics": metrics.run,
    "spine": spine.run,
    "requests": requests.run,
    "long": long.run,
    "denoise": denoise.run,
    "separation": separation.run,
    "disfluency": disfluency.run,
    "repair": repair.run,
    "judges": judges.run,
    "toolbox": toolbox.run,
    "batch": batch.run,
    "asr": asr.run,
}


def describe(name: str) -> str:
    """The first line of the suite's docstring."""
    doc = (SUITES[name].__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""
