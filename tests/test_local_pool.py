"""Folder runs on local worker processes: ``tdpr restore DIR --out OUT --jobs N``."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import band_limited
from reliability_helpers import spawn
from tdpr_cli.commands.local_pool import AUTO_MIN_AUDIO_S, LocalPool, choose_jobs
from tdpr_cli.commands.pool_books import PoolBooks
from tdpr_cli.errors import UsageError


def tdpr(*args, env, **kw):
    return subprocess.run([sys.executable, "-m", "tdpr_cli", *map(str, args)], env=env, capture_output=True,
                          timeout=300, check=False, **kw)


def _folder(root: Path, n: int, seconds: float = 2.0) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        sf.write(root / f"take{i}.wav", band_limited(seconds, seed=i), 16000, subtype="PCM_16")
    return root


def test_choose_jobs_numbers_and_errors(tmp_path):
    assert choose_jobs("3", [], "cpu") == 3 and choose_jobs(" 1 ", [], "cuda") == 1
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(UsageError):
            choose_jobs(bad, [], "cpu")


def test_auto_jobs_needs_enough_audio_idle_cores_and_the_cpu(tmp_path):
    half = AUTO_MIN_AUDIO_S / 2
    files = []
    for i in range(3):  # 8 kHz silence: long enough, small on disk
        files.append(str(tmp_path / f"{i}.wav"))
        sf.write(files[-1], np.zeros(int(8000 * (half + 1)), np.float32), 8000)
    assert choose_jobs("auto", files, "cpu", cores=2, load=0.0) == 2
    assert choose_jobs("auto", files, "cpu", cores=8, load=0.0) == 3  # at most one per file
    assert choose_jobs("auto", files, "cpu", cores=2, load=1.2) == 1  # the other core is busy
    assert choose_jobs("AUTO", files[:1], "cpu", cores=2, load=0.0) == 1  # one file
    assert choose_jobs("auto", files[:2] + [str(tmp_path / "missing.wav")], "cpu", cores=2, load=0.0) == 2
    short = str(tmp_path / "short.wav")
    sf.write(short, np.zeros(8000, np.float32), 8000)
    assert choose_jobs("auto", [files[0], short], "cpu", cores=2, load=0.0) == 1  # under the minimum
    assert choose_jobs("auto", files, "cuda", cores=2, load=0.0) == 1
    assert choose_jobs("auto", files, "cpu", threads=2, cores=2, load=0.0) == 1  # --threads 2 fills both cores
    assert choose_jobs("auto", files, "cpu", threads=2, cores=8, load=0.0) == 3


def test_jobs_gives_the_same_outputs_and_records_in_order(tiny_env, tmp_path):
    src = _folder(tmp_path / "in", 4)
    (src / "bad.wav").write_text("not audio")
    one = tdpr("restore", src, "--out", tmp_path / "one", "--jobs", "1", "--threads", "1", "--json", env=tiny_env)
    two = tdpr("restore", src, "--out", tmp_path / "two", "--jobs", "2", "--json", env=tiny_env)
    assert one.returncode == two.returncode == 1, two.stderr.decode()
    recs = [[json.loads(line) for line in r.stdout.decode().splitlines()] for r in (one, two)]
    assert [r["input"] for r in recs[0]] == [r["input"] for r in recs[1]] == sorted(r["input"] for r in recs[0])
    assert [r["status"] for r in recs[1]] == ["error", "ok", "ok", "ok", "ok"]
    assert "not readable audio" in recs[1][0]["message"]
    assert recs[1][1]["models"] == recs[0][1]["models"] and recs[1][1]["models"]
    for i in range(4):
        a, _ = sf.read(tmp_path / "one" / f"take{i}.wav", dtype="int16")
        b, _ = sf.read(tmp_path / "two" / f"take{i}.wav", dtype="int16")
        assert np.array_equal(a, b)
    err = two.stderr.decode()
    assert "2 worker processes" in err and "1 of 5 files failed" in err


@pytest.mark.parametrize("extra", [
    ["--jobs", "2"],  # one file
    ["--jobs", "0"],
])
def test_jobs_usage_errors_single_file(tiny_env, tmp_path, wav_in, extra):
    r = tdpr("restore", wav_in, tmp_path / "o.wav", *extra, env=tiny_env)
    assert r.returncode == 2 and "--jobs" in r.stderr.decode()
    assert not (tmp_path / "o.wav").exists()


def test_jobs_with_report_dir_or_ray_is_a_usage_error(tiny_env, tmp_path):
    src = _folder(tmp_path / "in", 2)
    r = tdpr("restore", src, "--out", tmp_path / "o", "--jobs", "2", "--report-dir", tmp_path / "rep", env=tiny_env)
    assert r.returncode == 2 and "--jobs 1" in r.stderr.decode()
    r = tdpr("restore", src, "--out", tmp_path / "o", "--jobs", "2", "--ray", env=tiny_env)
    assert r.returncode == 2 and "--ray-workers" in r.stderr.decode()
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def _workers(pid: int) -> list[int]:
    """The pool's worker processes: children of ``pid`` started by multiprocessing's spawn."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmd:
            out.append(int(entry.name))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_killed_worker_loses_no_file(tiny_env, tmp_path):
    src = _folder(tmp_path / "in", 8, seconds=20.0)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "tdpr_cli", "restore", str(src), "--out", str(out), "--jobs", "2",
                             "--json", "--cutoff", "3000"], env=tiny_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        workers = _workers(proc.pid)
        if len(workers) == 2 and out.exists() and any(out.glob("*.wav")):
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.01)
    stdout, stderr = proc.communicate(timeout=300)
    assert killed is not None, "the run ended before a worker could be killed"
    assert proc.returncode == 0, stderr.decode()
    recs = [json.loads(line) for line in stdout.decode().splitlines()]
    assert [r["status"] for r in recs] == ["ok"] * 8
    for i in range(8):
        y, sr = sf.read(out / f"take{i}.wav")
        assert sr == 16000 and len(y) == 20 * 16000
    assert not list(out.glob("*.part*"))
    assert "a worker process died; restarting the pool and retrying: " in stderr.decode()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("how", ["sigterm-driver", "ctrl-c-group"])
def test_an_interrupt_stops_the_workers_and_leaves_nothing_half_written(tiny_env, tmp_path, how):
    src = _folder(tmp_path / "in", 8, seconds=20.0)
    out = tmp_path / "out"
    # spawn() gives the driver SIGINT's default back: a test runner started in the background
    # (`cmd &` in a script) passes SIGINT on ignored, and tdpr rightly keeps it so.
    proc = spawn(["restore", src, "--out", out, "--jobs", "2", "--cutoff", "3000"], tiny_env,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        workers = _workers(proc.pid)
        if len(workers) == 2 and out.exists() and any(out.glob("*.wav")):
            break
        time.sleep(0.01)
    assert len(workers) == 2, "the run ended before it could be interrupted"
    t0 = time.monotonic()
    if how == "sigterm-driver":
        os.kill(proc.pid, signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr.decode()
    assert time.monotonic() - t0 < 20  # the files in flight were abandoned, not finished
    assert "Traceback" not in stderr.decode() and "interrupted" in stderr.decode()
    assert not [p for p in workers if Path(f"/proc/{p}").exists()]
    written = sorted(out.glob("*"))
    assert len(written) < 8 and all(p.suffix == ".wav" for p in written), written
    for p in written:
        y, _ = sf.read(p)
        assert len(y) == 20 * 16000


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_workers_end_with_a_killed_driver(tiny_env, tmp_path):
    src = _folder(tmp_path / "in", 8, seconds=20.0)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "tdpr_cli", "restore", str(src), "--out", str(out), "--jobs", "2",
                             "--cutoff", "3000"], env=tiny_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and len(workers) < 2:
        workers = _workers(proc.pid)
        time.sleep(0.01)
    assert len(workers) == 2
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in workers):
        time.sleep(0.1)
    alive = [p for p in workers if Path(f"/proc/{p}").exists() and b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert not alive, "workers outlived their driver"
    assert not [p for p in out.glob("*") if p.suffix != ".wav"] if out.exists() else True


def test_an_abort_records_or_removes_every_output_the_pool_wrote(tmp_path):
    """After an interrupt no output is left that the records do not know: a file whose reply came
    back is recorded; one written by a worker whose reply was lost is removed, also when the file
    was waiting for a retry; an output that was there before (its file not yet written) and one
    already recorded are left alone."""
    from concurrent.futures import Future

    from tdpr_cli.restore.file import FileRecord

    outs = [tmp_path / f"o{i}.wav" for i in range(5)]
    outs[2].write_bytes(b"an older output")
    pool = LocalPool.__new__(LocalPool)  # the bookkeeping alone: no worker processes
    recorded, warnings = [], []
    pool.books = PoolBooks([(f"in{i}.wav", str(o), False) for i, o in enumerate(outs)], recorded.append,
                           warnings.append)
    for i in range(5):
        pool.books.handed_out(i)
    outs[4].write_bytes(b"restored and recorded")
    pool.books.record(4, FileRecord("in4.wav", str(outs[4]), status="ok"))
    replied, lost, untouched = Future(), Future(), Future()
    replied.set_result(FileRecord("in0.wav", str(outs[0]), status="ok").as_dict())
    pool.pending = {replied: (0, 0), lost: (1, 0), untouched: (2, 0)}  # 3: queued for a retry
    for i in (0, 1, 3):
        outs[i].write_bytes(b"restored")
    pool._settle()
    assert [(r.output, r.status) for r in recorded] == [(str(outs[4]), "ok"), (str(outs[0]), "ok")]
    assert [o.exists() for o in outs] == [True, False, True, False, True]
    assert outs[2].read_bytes() == b"an older output"
    assert len(warnings) == 2 and all("--resume" in w for w in warnings)
    assert str(outs[1]) in warnings[0] and str(outs[3]) in warnings[1]
    assert pool.pending == {}


def test_interrupted_pool_run_resumes_exactly(tiny_env, tmp_path):
    """Every finished file is in the manifest at once, even when its record waits for an earlier,
    slower file: `--resume` then redoes only what was not done, and trips over no output."""
    src = _folder(tmp_path / "in", 6, seconds=20.0)
    out, manifest = tmp_path / "out", tmp_path / "run.jsonl"
    args = ["restore", str(src), "--out", str(out), "--jobs", "2", "--cutoff", "3000", "--manifest", str(manifest)]
    proc = subprocess.Popen([sys.executable, "-m", "tdpr_cli", *args], env=tiny_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and len(list(out.glob("*.wav"))) < 2:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    finished = {p.name for p in out.glob("*.wav")}
    recorded = {Path(json.loads(line)["output"]).name for line in manifest.read_text().splitlines()}
    assert finished and finished == recorded  # nothing on disk that the manifest does not know
    again = tdpr(*args, "--resume", "--json", env=tiny_env)
    assert again.returncode == 0, again.stderr.decode()
    recs = [json.loads(line) for line in again.stdout.decode().splitlines()]
    assert sorted(r["status"] for r in recs) == sorted(["skipped"] * len(finished) + ["ok"] * (6 - len(finished)))
