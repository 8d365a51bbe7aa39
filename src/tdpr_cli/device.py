"""``--device`` and ``--precision``: the one parser for every command (restore, eval, report, train).

``check_device_name`` validates the text without importing torch, so typed
configs can check it at construction; ``pick_device`` resolves ``auto`` and
checks that the device exists on this machine. The process's CPU policy lives here
too: ``auto_threads``, ``quiet_openmp`` and ``reuse_freed_memory`` (glibc's malloc).
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from enum import Enum
from typing import TYPE_CHECKING

from tdpr_cli.errors import UsageError

if TYPE_CHECKING:
    import torch

_NAME = re.compile(r"auto|cpu|cuda(:\d+)?")


class Precision(str, Enum):
    """Autocast dtype of the models."""

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"


def check_device_name(name: str) -> str:
    """``name`` if it is auto, cpu, cuda or cuda:N; UsageError otherwise (no torch import)."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"--device {name!r}: use auto, cpu, cuda or cuda:N")
    return name


def names_cuda(name: str) -> bool:
    """Whether ``--device name`` asks for a GPU by name (cuda, cuda:N); no torch import."""
    return check_device_name(name).startswith("cuda")


#: Device nodes of GPU drivers that torch's CUDA (NVIDIA; /dev/dxg under WSL2) or ROCm (AMD)
#: builds talk to.
_GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version", "/dev/dxg", "/dev/kfd")


def gpu_driver_present() -> bool:
    """Whether this machine has a GPU driver torch could use; without one, CUDA is surely
    unavailable and nobody needs to import torch (1-1.5 s) to ask."""
    return any(os.path.exists(node) for node in _GPU_NODES)


def runs_on_cpu(name: str) -> bool:
    """Whether ``--device name`` runs on the CPU; only ``auto`` on a machine with a GPU driver
    imports torch, to ask for CUDA."""
    if names_cuda(name):  # checks the name too
        return False
    if name == "cpu" or not gpu_driver_present():
        return True
    import torch

    return not torch.cuda.is_available()


def pick_device(name: str, precision: Precision = Precision.FP32) -> tuple[torch.device, torch.dtype | None]:
    """torch.device and autocast dtype (None: fp32) for ``--device`` and ``--precision``."""
    import torch

    name = "cpu" if runs_on_cpu(name) else ("cuda" if name == "auto" else name)
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine")
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
    if precision is Precision.FP16 and dev.type == "cpu":
        raise UsageError("--precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    dtypes = {Precision.FP32: None, Precision.FP16: torch.float16, Precision.BF16: torch.bfloat16}
    return dev, dtypes[precision]


def auto_threads(cores: int | None = None, load: float | None = None) -> int:
    """Threads for one process that do not oversubscribe the CPU: idle cores, at least one.

    Idle cores are the usable cores minus the 1-minute load average. On this
    project's 2-core box two threads run 1.4x faster than one when idle, and
    3-6x slower when the other core is busy (docs/benchmarks.md).
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # no load average on this platform: assume a busy machine
            load = float(cores)
    return max(1, min(cores, cores - round(load)))


def user_threads() -> int | None:
    """The thread count the user set in ``OMP_NUM_THREADS`` (its first level when it lists
    several), or None when it is unset or not a positive whole number. It wins over
    ``auto_threads``: whoever sets it has planned the machine's cores (a job scheduler, a shell
    running several tdpr at once)."""
    text = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def quiet_openmp() -> None:
    """Let idle OpenMP threads sleep instead of spinning (before torch is imported; the user's
    own OMP_WAIT_POLICY wins). Spinning threads cost 1.8-4.2x on a shared CPU."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def single_threaded_blas() -> None:
    """Give numpy's BLAS one thread unless the user set one (before numpy is imported; OpenBLAS
    reads it once). The matrix products numpy runs in a restore (the log-mel, the level head's
    gain curve) are small; OpenBLAS's idle workers spin after each, and took 1.5 s of a second
    core's CPU in a 7.5 s single-thread restore of 60 s of stereo without shortening it
    (docs/benchmarks.md). ``--threads`` goes to the networks."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


#: glibc's mallopt parameters (malloc.h) and the values set.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for its adaptive threshold on 64-bit
_TRIM_THRESHOLD = 1 << 30
#: The user's own malloc tuning, which wins over ours.
_USER_MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def glibc() -> ctypes.CDLL | None:
    """The process's C library where it is glibc (Linux), else None (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None)  # the C library this process already runs on
    return libc if hasattr(libc, "gnu_get_libc_version") else None


def reuse_freed_memory() -> bool:
    """Keep memory the models free for the next chunk instead of handing it back to the kernel.

    With glibc's defaults a chunk's activations (about 10 MB each) go back to the kernel when
    freed and come back as fresh zeroed pages for the next chunk: a 60 s stereo restore took
    0.9 M page faults and 2.5-4 s of system time out of 17-25 s. Serving blocks under 32 MB from
    the heap and trimming it only past a large threshold cut that to 0.1 M faults and 0.6 s
    (measured with glibc's equivalent environment variables) and the whole restore 1.17x, with
    peak RSS 453-509 MB against 446-472 MB (docs/benchmarks.md, 2026-12-07). glibc only, and
    not where the user tunes malloc themselves. Returns whether the setting was made.
    """
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    libc = glibc()
    if libc is None or "glibc.malloc." in tunables or any(k in os.environ for k in _USER_MALLOC_ENV):
        return False
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Both at once: setting either one alone turns off glibc's adaptive mmap threshold, and the
    # trim threshold alone then maps every block over 128 KB afresh (4.6 M faults, measured).
    if not libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD):
        return False
    return bool(libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
