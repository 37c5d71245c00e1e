"""The service's app factory with another garbage-collector set-up, for bench/peer.py --gc.

    BENCH_GC=none uvicorn bench.gc_variants:app_from_environment --factory

The service (service/app.py, `_freeze_startup_objects`) collects once after start-up, freezes
what survives (gc.freeze) and raises the gen-0 threshold to 50,000. Each variant here replaces
that step, so that its effect on throughput and p99 can be measured rather than assumed.
With BENCH_GC_STATS=<directory>, each process also reports its collections (record_collections).
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import service.app as service_app


def _setup(freeze: bool, threshold: tuple[int, int, int] | None, enabled: bool = True) -> Callable[[], None]:
    def apply() -> None:
        if freeze:
            gc.collect()
            gc.freeze()
        if threshold is not None:
            gc.set_threshold(*threshold)
        if not enabled:
            gc.disable()

    return apply


VARIANTS: dict[str, Callable[[], None] | None] = {
    "service": None,  # as committed: collect, freeze, threshold (50,000, 20, 20)
    "none": _setup(False, None),  # CPython's defaults: no freeze, (700, 10, 10)
    "freeze": _setup(True, None),  # freeze only, default thresholds
    "nofreeze": _setup(False, (50_000, 20, 20)),  # the service's threshold without the freeze
    "t10k": _setup(True, (10_000, 20, 20)),
    "t200k": _setup(True, (200_000, 20, 20)),
    "off": _setup(True, None, enabled=False),  # no cyclic collection at all (memory grows: reference only)
}


def record_collections(directory: Path) -> None:
    """Count this process's collections and the CPU time they take (thread CPU time, so that
    other processes on a busy machine do not inflate it), per generation; a thread writes the
    running totals to `directory/gc-<pid>.json` twice a second for bench/peer.py to read."""
    totals = {"collections": [0, 0, 0], "cpu_ms": [0.0, 0.0, 0.0], "over_10ms": 0}
    started = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.thread_time()
            return
        generation, spent = info["generation"], (time.thread_time() - started[0]) * 1000
        totals["collections"][generation] += 1
        totals["cpu_ms"][generation] += spent
        totals["over_10ms"] += spent > 10

    def write() -> None:
        path = directory / f"gc-{os.getpid()}.json"
        while True:
            path.write_text(json.dumps(totals))
            time.sleep(0.5)

    gc.callbacks.append(callback)
    threading.Thread(target=write, name="bench-gc-stats", daemon=True).start()


def app_from_environment() -> Any:
    if directory := os.environ.get("BENCH_GC_STATS"):
        record_collections(Path(directory))
    variant = os.environ.get("BENCH_GC", "service")
    if variant not in VARIANTS:
        raise SystemExit(f"BENCH_GC={variant!r}: one of {', '.join(VARIANTS)}")
    setup = VARIANTS[variant]
    if setup is not None:
        service_app._freeze_startup_objects = setup  # called once per process in the lifespan
    return service_app.app_from_environment()
