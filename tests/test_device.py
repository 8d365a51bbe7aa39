"""Process policy of ``tdpr_cli.device``: the allocator setting behind the restore's memory reuse."""

import os
import subprocess
import sys

import pytest

from tdpr_cli.device import glibc, reuse_freed_memory

# Six 10 MB blocks live at once, then all freed, as a chunk's activations are: glibc's defaults
# hand much of the freed 60 MB back to the kernel (past its adaptive trim threshold) and fault it
# back in on the next round.
_ROUNDS = """
import resource, sys
import numpy as np
from tdpr_cli.device import reuse_freed_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
def round_():
    blocks = [np.ones(2_500_000, dtype=np.float32) for _ in range(6)]
    del blocks
round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    round_()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    # 4 KB pages whatever the host's transparent huge pages do, so the counts do not depend on it.
    env["NUMPY_MADVISE_HUGEPAGE"] = "0"
    out = subprocess.run([sys.executable, "-c", _ROUNDS, mode], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(glibc() is None, reason="glibc's mallopt only")
def test_freed_chunks_are_reused_without_page_faults():
    plain, reused = _faults("plain"), _faults("reuse")
    # Measured on the 2-core box: 146,000 faults of 4 KB pages over the 10 rounds, and 0.
    assert plain > 50_000
    assert reused < plain / 20


def test_the_users_own_malloc_tuning_wins(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert reuse_freed_memory() is False
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072")
    assert reuse_freed_memory() is False
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0")  # tunes no malloc: ours applies
    assert reuse_freed_memory() is (glibc() is not None)


def test_device_names_are_parsed_once():
    import torch

    from tdpr_cli.device import names_cuda, pick_device, runs_on_cpu
    from tdpr_cli.errors import UsageError

    assert names_cuda("cuda") and names_cuda("cuda:1") and not names_cuda("cpu") and not names_cuda("auto")
    assert runs_on_cpu("cpu") and not runs_on_cpu("cuda:0")
    assert runs_on_cpu("auto") == (not torch.cuda.is_available())
    assert pick_device("auto")[0].type == ("cpu" if runs_on_cpu("auto") else "cuda")
    for bad in ("gpu", "cuda:x", "CPU", ""):
        with pytest.raises(UsageError, match="--device"):
            runs_on_cpu(bad)


def test_numpy_blas_gets_one_thread_unless_the_user_chose(monkeypatch):
    from tdpr_cli import device

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    device.single_threaded_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    device.single_threaded_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"


def test_auto_device_without_a_gpu_driver_is_the_cpu_without_asking_torch(monkeypatch, tmp_path):
    import subprocess
    import sys

    code = ("import sys\nfrom tdpr_cli import device\ndevice._GPU_NODES = (sys.argv[1],)\n"
            "print(device.runs_on_cpu('auto'), 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "no-such-node")], capture_output=True, text=True)
    assert r.stdout.split() == ["True", "False"], r.stderr
    (tmp_path / "nvidiactl").touch()  # a driver node: now torch decides
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "nvidiactl")], capture_output=True, text=True)
    assert r.stdout.split()[1] == "True", r.stderr


def test_the_cli_sets_the_blas_threads_before_numpy_loads():
    import subprocess
    import sys

    code = ("import os, sys\nfrom tdpr_cli import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(os.environ.get('OPENBLAS_NUM_THREADS'), 'numpy' in sys.modules, file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.stderr.split()[-2:] == ["1", "False"], r.stderr
