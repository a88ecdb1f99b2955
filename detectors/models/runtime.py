"""One load per process, warm-up at start-up, and inference off the event loop in a bounded pool."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

log = logging.getLogger("railguard.models")

T = TypeVar("T")


def limit_blas_threads() -> None:
    """Keep numpy's BLAS (OpenBLAS, in numpy's and scipy's copies) on the calling thread, for the whole process.

    Why: the encoder runs on torch's own threads, and the heads then do small numpy products (a few rows by 384-768
    columns). OpenBLAS spreads even those over threads of its own, which stay spinning afterwards and take the cores
    from the next encoder pass: on 2 cores an injection check of 1,000 characters took 32 ms instead of 16
    (`python -m detectors.injection.bench`). Serving and measuring processes call this once (the app and the CLI);
    training scripts leave BLAS alone, where large products do gain from threads. torch's own threads are unaffected.
    Call it from the main thread: threadpoolctl lets only the first thread that sets OpenBLAS's limit change it.
    """
    import numpy  # noqa: F401  # load both OpenBLAS copies first: threadpoolctl limits the libraries loaded so far
    import scipy.linalg  # type: ignore[import-untyped]  # noqa: F401
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _default_workers() -> int:
    return int(os.environ.get("RAILGUARD_INFERENCE_THREADS", max(1, min(4, os.cpu_count() or 1))))


class ModelRuntime:
    """Process-wide cache of loaded models plus the inference thread pool.

    ``get(key, loader)`` runs ``loader`` at most once per key, even under concurrent first use.
    ``run(fn, ...)`` awaits ``fn`` in the bounded pool so torch never blocks the event loop.
    """

    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers or _default_workers()
        self._executor: ThreadPoolExecutor | None = None
        self._loaded: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def executor(self) -> ThreadPoolExecutor:
        with self._guard:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="railguard-infer")
            return self._executor

    def get(self, key: str, loader: Callable[[], T]) -> T:
        value = self._loaded.get(key)
        if value is not None:
            return value  # type: ignore[no-any-return]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._loaded:
                log.info("loading model %s", key)
                self._loaded[key] = loader()
            return self._loaded[key]  # type: ignore[no-any-return]

    def is_loaded(self, key: str) -> bool:
        return key in self._loaded

    def loaded(self) -> list[str]:
        return sorted(self._loaded)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, *args)

    def shutdown(self) -> None:
        with self._guard:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None


runtime = ModelRuntime()
