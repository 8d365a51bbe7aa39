"""Folder runs on local worker processes (``tdpr restore SRC --out DST --jobs N``).

On a small CPU, N processes with one thread each restore a folder faster than
one process with N threads (2 cores: 6.60x against 5.44x real time on 20 files
of 30 s, docs/benchmarks.md), because each file's work is serial and torch's
threads wait on each other. Each worker is a fresh interpreter (``spawn``: no
fork of a process that holds torch's thread pools) that loads and verifies the
models once (``restore.load.RestoreWorker``) and restores file after file.

The driver hands one file at a time to each worker, so fast and slow files
share the pool, and records come back in the folder's order whatever order
they finish in. A worker that dies (killed, out of memory) breaks the pool:
the files it held are handed to a fresh pool, at most ``retries`` times each,
then recorded as errors. Outputs are written atomically, so a killed worker
leaves nothing half-written.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from tdpr_cli.commands.pool_books import PoolBooks
from tdpr_cli.errors import ModelsUnavailable, UsageError

if TYPE_CHECKING:
    from rich.progress import Progress

    from tdpr_cli.commands.progress import PlainProgress
    from tdpr_cli.config import RestoreConfig, Subtype
    from tdpr_cli.device import Precision
    from tdpr_cli.restore.file import FileRecord
    from tdpr_cli.restore.load import ModelChoice, RestoreWorker

_WORKER: RestoreWorker | None = None  # this worker process's models, set by _start
_FAILED: ModelsUnavailable | None = None  # why they could not be loaded, with its exit code


def _stop(signum: int, frame: Any) -> None:
    # SIGTERM from the driver (LocalPool.close on an interrupt) while a file is in progress takes
    # the path of Ctrl-C: the file cleans up after itself before the worker exits.
    raise KeyboardInterrupt


def _start(*args: Any) -> None:
    """Worker initialiser: load the models; keep the error (an initialiser that raises kills the pool)."""
    global _WORKER, _FAILED
    # Ctrl-C reaches the whole process group: the driver alone answers it, and stops the workers.
    # An idle worker keeps SIGTERM's default and simply ends: a Python handler would run only
    # when the main thread wakes, and an idle one sleeps on the queue while another thread
    # (the queue's, torch's) takes the signal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _end_with_parent()
    from tdpr_cli.restore.load import RestoreWorker

    try:
        _WORKER = RestoreWorker(*args)
    except Exception as exc:  # reported by _models, in the driver, with the cause's exit code
        _FAILED = ModelsUnavailable(str(exc) or type(exc).__name__, getattr(exc, "exit_code", 1))


def _end_with_parent() -> None:
    """Linux: SIGTERM this worker when the driver dies (killed with SIGKILL, say), instead of
    leaving it waiting on the pool's queue with the models in memory."""
    parent = multiprocessing.parent_process()  # the driver, as spawn recorded it
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the driver's own shutdown is all there is
        return
    if parent is not None and not parent.is_alive():  # it died before the request took hold
        os._exit(130)


def _worker() -> RestoreWorker:
    """This process's models, or why there are none (raised into the driver's future)."""
    if _WORKER is None:
        raise _FAILED or RuntimeError("the worker has no models")
    return _WORKER


def _models() -> dict[str, str]:
    return _worker().info


def _restore(inp: str, out: str, subtype: Subtype, overwrite: bool) -> dict[str, Any]:
    worker = _worker()
    signal.signal(signal.SIGTERM, _stop)  # busy: the main thread runs, and cleans up on SIGTERM
    try:
        return worker.restore(inp, out, subtype, overwrite)
    except KeyboardInterrupt:  # that SIGTERM: the file has removed what it began; the worker ends
        os._exit(130)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


#: ``--jobs auto`` starts workers only for this much audio: each costs a Python start, the
#: runtime's import and a model load (about 2.5 s on the 2-core box with torch, about 0.3 s with
#: ONNX Runtime), which short folders do not earn back. Set when torch ran every CPU restore and
#: not re-tuned since; with ONNX Runtime and the width-8 default the pool is still the faster way
#: for 20 files of 30 s (22.7 s against 27.6 s for one two-thread process; docs/benchmarks.md, s33).
AUTO_MIN_AUDIO_S = 60.0


def choose_jobs(text: str, inputs: list[str], device: str, threads: int = 1, cores: int | None = None,
                load: float | None = None) -> int:
    """``--jobs``: ``auto`` -> as many workers of ``threads`` threads as the idle cores hold, for a
    CPU folder run with at least ``AUTO_MIN_AUDIO_S`` of audio (at most one per file), else 1;
    or a number >= 1."""
    if text.strip().lower() != "auto":
        try:
            jobs = int(text)
        except ValueError:
            raise UsageError(f"--jobs must be auto or a number, got {text!r}") from None
        if jobs < 1:
            raise UsageError("--jobs must be >= 1")
        return jobs
    from tdpr_cli.device import auto_threads, runs_on_cpu

    # The audio total first: the device check imports torch, which a small run may never need.
    if len(inputs) < 2 or _audio_seconds(inputs) < AUTO_MIN_AUDIO_S or not runs_on_cpu(device):
        return 1
    return max(1, min(len(inputs), auto_threads(cores, load) // max(1, threads)))


def _audio_seconds(inputs: list[str]) -> float:
    """Total duration from the files' headers (unreadable files count 0: they fail later, as records)."""
    import soundfile as sf

    total = 0.0
    for path in inputs:
        try:
            total += sf.info(os.fsencode(path)).duration
        except (RuntimeError, OSError, sf.LibsndfileError):
            continue
    return total


class LocalPool:
    """``jobs`` worker processes that restore files; ``run`` yields one record per file, in order."""

    def __init__(self, jobs: int, choice: ModelChoice, cfg: RestoreConfig, device: str,
                 precision: Precision, threads: int, retries: int = 2,
                 warn: Callable[[str], None] = lambda message: None) -> None:
        if jobs < 2:
            raise UsageError("a worker pool needs --jobs 2 or more")
        self.size, self.retries, self.warn = jobs, retries, warn
        self.args = (choice, cfg, device, precision, threads)
        # The run in progress, for close(abort=True): its files in the pool, and its books.
        self.pending: dict[Future[dict[str, Any]], tuple[int, int]] = {}
        self.books = PoolBooks([], lambda rec: None, warn)
        self.executor = self._spawn()
        try:  # one worker names the models; a worker that cannot load them fails the run up front
            self.info: dict[str, str] = self.executor.submit(_models).result()
        except ModelsUnavailable as exc:  # the cause's exit code: 3 for weights, 2 for usage
            self.close()
            raise ModelsUnavailable(f"worker processes could not load the models: {exc}", exc.exit_code) from None
        except (RuntimeError, BrokenProcessPool) as exc:
            self.close()
            raise UsageError(f"worker processes could not load the models: {exc}") from None

    def _spawn(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.size, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start, initargs=self.args)

    def run(self, work: list[tuple[str, str, bool]], subtype: Subtype, bar: Progress | PlainProgress,
            on_done: Callable[[FileRecord], None] = lambda rec: None) -> Iterator[FileRecord]:
        """Restore ``(input, output, overwrite)`` items; each yields exactly one record, in the
        items' order, and ``on_done`` sees each record as soon as its file is done."""
        from tdpr_cli.restore.file import FileRecord

        queue = deque((i, 0) for i in range(len(work)))  # (item index, failed attempts so far)
        pending: dict[Future[dict[str, Any]], tuple[int, int]] = {}
        self.pending, self.books = pending, PoolBooks(work, on_done, self.warn)
        done: dict[int, FileRecord] = {}
        task = bar.add_task(f"{self.size} worker processes", total=float(len(work)), unit="files")
        emitted = 0
        while queue or pending:
            broken = not self._fill(queue, pending, work, subtype)
            if not broken:
                wait(pending, return_when=FIRST_COMPLETED)
            for fut in [f for f in pending if f.done()]:
                exc = fut.exception()
                if isinstance(exc, BrokenProcessPool):
                    broken = True
                    continue
                i, _ = pending[fut]
                # restore_recorded turns file errors into records; an exception here is the worker's own.
                done[i] = FileRecord(**fut.result()) if exc is None else FileRecord(
                    work[i][0], work[i][1], status="error", message=f"worker failed: {exc}")
                self.books.record(i, done[i])
                del pending[fut]  # only now: an interrupt before this line leaves it to _settle
            if broken:
                for i, rec in self._recover(queue, pending, work).items():
                    done[i] = rec
                    self.books.record(i, rec)
            bar.update(task, completed=float(emitted + len(done)), total=float(len(work)))
            while emitted in done:
                yield done.pop(emitted)
                emitted += 1
        bar.remove_task(task)

    def _fill(self, queue: deque[tuple[int, int]], pending: dict[Future[dict[str, Any]], tuple[int, int]],
              work: list[tuple[str, str, bool]], subtype: Subtype) -> bool:
        """Give every idle worker a file; False when the pool turns out to be broken."""
        while queue and len(pending) < self.size:
            i, tries = queue[0]
            inp, out, overwrite = work[i]
            # A retried file's output, if any, is this run's own (check_outputs refused older ones).
            self.books.handed_out(i)
            try:
                pending[self.executor.submit(_restore, inp, out, subtype, overwrite or tries > 0)] = (i, tries)
            except BrokenProcessPool:
                return False
            queue.popleft()
        return True

    def _recover(self, queue: deque[tuple[int, int]], pending: dict[Future[dict[str, Any]], tuple[int, int]],
                 work: list[tuple[str, str, bool]]) -> dict[int, FileRecord]:
        """A worker died: every file in the pool went down with it, and any of them may be the
        cause, so each counts a failed attempt and goes to a fresh pool (or, out of attempts,
        becomes an error record, returned)."""
        from tdpr_cli.restore.file import FileRecord

        failed: dict[int, FileRecord] = {}
        names = ", ".join(work[i][0] for i, _ in sorted(pending.values()))
        self.warn(f"warning: a worker process died; restarting the pool and retrying: {names}")
        for i, tries in sorted(pending.values()):
            if tries < self.retries:
                queue.append((i, tries + 1))
            else:
                failed[i] = FileRecord(work[i][0], work[i][1], status="error",
                                       message=f"worker process died {tries + 1} times")
        pending.clear()
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.executor = self._spawn()
        return failed

    def close(self, abort: bool = False) -> None:
        """Stop the workers once their files are done; ``abort`` (an interrupt, an error) stops
        them now: each gets SIGTERM, abandons its file and removes what it had begun to write."""
        if abort:
            for proc in multiprocessing.active_children():
                if proc.name.startswith("SpawnProcess"):
                    proc.terminate()
        self.executor.shutdown(wait=True, cancel_futures=True)
        if abort:
            self._settle()

    def _settle(self) -> None:
        """After an abort, leave no output that the run's records do not know (``PoolBooks``)."""
        from tdpr_cli.restore.file import FileRecord

        replies = {i: FileRecord(**fut.result()) for fut, (i, _) in self.pending.items()
                   if fut.done() and not fut.cancelled() and fut.exception() is None}
        self.books.settle(replies)
        self.pending.clear()
