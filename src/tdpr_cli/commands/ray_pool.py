"""Folder runs on Ray (``tdpr restore SRC --out DST --ray``): the same per-file job on a cluster.

Each Ray actor loads and verifies the models once (``restore.load``), then
restores file after file with ``restore.file.restore_recorded``: a file that
cannot be restored comes back as an error record, as in a local run. The
driver (this process) hands one file at a time to each idle actor, so fast
and slow workers share the folder, and writes the manifest, the JSON records
and the progress itself, in the order files finish.

A worker that dies (killed, out of memory, its node lost) loses the files it
was working on: they are handed to a fresh actor, at most ``retries`` times
each, then recorded as errors. Outputs are written atomically, so a killed
worker leaves no half-written output behind.

Ray is an optional extra (``pip install 'tdpr-cli[ray]'``); without it
``--ray`` is a usage error that names the extra.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tdpr_cli.commands.pool_books import PoolBooks
from tdpr_cli.errors import ModelsUnavailable, TdprError, UsageError

if TYPE_CHECKING:
    from rich.progress import Progress

    from tdpr_cli.commands.progress import PlainProgress
    from tdpr_cli.config import RestoreConfig, Subtype
    from tdpr_cli.device import Precision
    from tdpr_cli.restore.file import FileRecord
    from tdpr_cli.restore.load import ModelChoice

EXTRA = "pip install 'tdpr-cli[ray]'"


def import_ray() -> Any:
    """The ``ray`` module, or a UsageError (exit 2) naming the extra."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"--ray needs the Ray extra: {EXTRA}") from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: ``address`` None starts or joins a local instance (Ray's own rule,
    RAY_ADDRESS included); ``workers`` None: one per ``cpus_per_worker`` CPUs of the cluster."""

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: int = 1
    gpus_per_worker: float = 0.0
    retries: int = 2

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise UsageError("--ray-workers must be >= 1")
        if self.gpus_per_worker < 0 or self.retries < 0 or self.cpus_per_worker < 1:
            raise UsageError("--ray-gpus-per-worker and --ray-retries must be >= 0")


class RayPool:
    """Actors that restore files; ``run`` yields one record per file as workers finish."""

    def __init__(self, opts: RayOptions, choice: ModelChoice, cfg: RestoreConfig, device: str,
                 precision: Precision,
                 warn: Callable[[str], None] = lambda message: None) -> None:
        from tdpr_cli.restore.load import RestoreWorker

        ray = self.ray = import_ray()
        self.opts, self.warn = opts, warn
        self.pending: dict[Any, tuple[Any, int, int]] = {}  # task -> (actor, item index, failed attempts)
        self.books = PoolBooks([], lambda rec: None, warn)
        self.started = not ray.is_initialized()
        if self.started:
            ray.init(address=opts.address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.size = opts.workers or max(1, cpus // opts.cpus_per_worker)
        self.actor_class = ray.remote(num_cpus=opts.cpus_per_worker, num_gpus=opts.gpus_per_worker,
                                      max_restarts=0)(RestoreWorker)
        self.args = (choice, cfg, device, precision, opts.cpus_per_worker)
        self.actors = [self._spawn() for _ in range(self.size)]
        try:  # every actor verifies the models; the first to answer names them for the manifest
            infos = ray.get([a.models.remote() for a in self.actors])
        except ray.exceptions.RayActorError as exc:
            self.close()
            raise ModelsUnavailable(f"Ray workers could not load the models: {_cause(exc)}", _exit_code(exc)) from None
        self.info: dict[str, str] = infos[0]

    def _spawn(self) -> Any:
        return self.actor_class.remote(*self.args)

    def run(self, work: list[tuple[str, str, bool]], subtype: Subtype, bar: Progress | PlainProgress,
            on_done: Callable[[FileRecord], None] = lambda rec: None) -> Iterator[FileRecord]:
        """Restore ``(input, output, overwrite)`` items; each yields exactly one record, after
        ``on_done`` saw it."""
        ray = self.ray
        queue = deque((i, 0) for i in range(len(work)))  # (item index, failed attempts so far)
        idle = deque(self.actors)
        self.pending, self.books = {}, PoolBooks(work, on_done, self.warn)
        task = bar.add_task(f"Ray, {self.size} workers", total=float(len(work)), unit="files")
        finished = 0
        while queue or self.pending:
            while queue and idle:
                (i, tries), actor = queue.popleft(), idle.popleft()
                self.books.handed_out(i)
                # A retried file's output, if any, is this run's own (check_outputs refused older
                # ones): a worker that died after writing it must not make the retry refuse it.
                self.pending[actor.restore.remote(*work[i][:2], subtype, work[i][2] or tries > 0)] = (actor, i, tries)
            [ready], _ = ray.wait(list(self.pending), num_returns=1)
            rec = self._collect(ready, queue, idle)
            if rec is None:
                continue
            finished += 1
            bar.update(task, completed=float(finished), total=float(len(work)))
            self.books.record(self.pending[ready][1], rec)
            del self.pending[ready]  # only now: an interrupt before this line leaves it to close()
            yield rec
        bar.remove_task(task)

    def _collect(self, ready: Any, queue: deque[tuple[int, int]], idle: deque[Any]) -> FileRecord | None:
        """The record of a finished task; None when its worker died and the file is queued again."""
        from tdpr_cli.restore.file import FileRecord

        ray = self.ray
        actor, i, tries = self.pending[ready]
        try:
            rec = FileRecord(**ray.get(ready))
            idle.append(actor)
            return rec
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
            # The worker died or its task crashed: a fresh actor takes its place.
            self.actors = [a for a in self.actors if a is not actor]
            ray.kill(actor, no_restart=True)
            fresh = self._spawn()
            self.actors.append(fresh)
            idle.append(fresh)
            if tries < self.opts.retries:
                del self.pending[ready]
                queue.append((i, tries + 1))
                return None
            inp, out, _ = self.books.work[i]
            return FileRecord(inp, out, status="error", message=f"Ray worker failed {tries + 1} times: {_cause(exc)}")

    def close(self, abort: bool = False) -> None:
        """Stop the actors (at once: Ray kills them either way), and the local Ray instance if this
        pool started it. ``abort``: first settle the run's books (``PoolBooks``): records that
        came back are written, outputs whose records were lost are removed."""
        from tdpr_cli.restore.file import FileRecord

        replies: dict[int, FileRecord] = {}
        if abort and self.pending:
            done, _ = self.ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0)
            for ref in done:
                try:
                    replies[self.pending[ref][1]] = FileRecord(**self.ray.get(ref))
                except Exception:  # noqa: BLE001 - a failed task has no record: its output is settled below
                    pass
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        if abort:
            self.books.settle(replies)
        self.pending = {}
        if self.started:
            self.ray.shutdown()


def _exit_code(exc: BaseException) -> int:
    """The exit code of the tdpr error behind a Ray actor's death (3 for weights, 2 for usage),
    found along the causes Ray keeps; 2 when there is none."""
    todo: list[object] = [exc]
    visited: set[int] = set()
    while todo:
        e = todo.pop()
        if id(e) in visited:
            continue
        visited.add(id(e))
        if isinstance(e, TdprError):
            return e.exit_code
        todo += [c for a in ("cause", "__cause__", "creation_task_error") if (c := getattr(e, a, None)) is not None]
    return 2


def _cause(exc: BaseException) -> str:
    """The first line of a Ray error: what went wrong, without Ray's traceback banner."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
