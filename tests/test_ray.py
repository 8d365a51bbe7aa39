"""Folder runs on Ray (issue 16): a local instance, tiny models, every output and record checked."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from conftest import band_limited


def tdpr(*args, env, timeout=600):
    return subprocess.run([sys.executable, "-m", "tdpr_cli", *map(str, args)], env=env, capture_output=True,
                          timeout=timeout, check=False)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    (root / "sub").mkdir(parents=True)
    for i, rel in enumerate(("a.wav", "b.wav", "sub/c.flac", "sub/d.wav")):
        sf.write(root / rel, band_limited(1.0, seed=i), 16000)
    (root / "broken.wav").write_bytes(b"RIFF0000WAVEnot audio")  # a failing file
    return root


def test_ray_run_matches_a_local_run(tiny_env, tree, tmp_path):
    pytest.importorskip("ray")
    local, remote, log = tmp_path / "local", tmp_path / "ray", tmp_path / "run.jsonl"
    assert tdpr("restore", tree, "--out", local, "--threads", "1", env=tiny_env).returncode == 1  # broken.wav
    r = tdpr("restore", tree, "--out", remote, "--ray", "--ray-workers", "2", "--threads", "1",
             "--manifest", log, "--progress", "plain", env=tiny_env)
    assert r.returncode == 1, r.stderr.decode()
    assert b"Ray, 2 workers" in r.stderr and b"failed" in r.stderr and b"broken.wav" in r.stderr
    records = {Path(x["input"]).name: x for x in map(json.loads, log.read_text().splitlines())}
    assert sorted(records) == ["a.wav", "b.wav", "broken.wav", "c.flac", "d.wav"]  # each exactly once
    assert records["broken.wav"]["status"] == "error" and not (remote / "broken.wav").exists()
    for name, rel in (("a.wav", "a.wav"), ("b.wav", "b.wav"), ("c.flac", "sub/c.flac"), ("d.wav", "sub/d.wav")):
        rec = records[name]
        assert rec["status"] == "ok" and rec["models"]["tdcnn"].startswith("tiny")
        assert rec["output_sha256"] == _sha(remote / rel) == _sha(local / rel)  # same bytes as a local run
    assert not list(remote.rglob(".*.part"))


def test_a_killed_worker_s_files_are_redone(tiny_env, tree, tmp_path):
    ray = pytest.importorskip("ray")
    from rich.progress import Progress

    from tdpr_cli.commands.ray_pool import RayOptions, RayPool
    from tdpr_cli.config import RestoreConfig, Subtype
    from tdpr_cli.device import Precision
    from tdpr_cli.restore.load import ModelChoice

    for i in range(6):  # more files than workers, so the dead worker had work to lose or get
        sf.write(tree / f"more{i}.wav", band_limited(1.0, seed=10 + i), 16000)
    inputs = sorted(p for p in tree.rglob("*") if p.is_file() and p.name != "broken.wav")
    work = [(str(p), str(tmp_path / "out" / f"{p.stem}.wav"), False) for p in inputs]
    (tmp_path / "out").mkdir()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        pool = RayPool(RayOptions(workers=2, retries=2), ModelChoice(), RestoreConfig(), "cpu", Precision.FP32)
        with Progress(disable=True) as bar:
            results = pool.run(work, Subtype.PCM_16, bar)
            first = [next(results)]
            victim = pool.actors[0]
            ray.kill(victim, no_restart=True)
            records = first + list(results)
        assert victim not in pool.actors and len(pool.actors) == 2  # replaced
        pool.close()
    finally:
        ray.shutdown()
    assert sorted(r.input for r in records) == sorted(w[0] for w in work)  # every file exactly once
    assert all(r.status == "ok" for r in records), [r.message for r in records if r.status != "ok"]
    for _, out, _ in work:
        x, sr = sf.read(out)
        assert sr == 16000 and len(x) == 16000


def test_ray_without_the_extra_is_a_usage_error(tiny_env, tree, tmp_path):
    blocker = tmp_path / "no-ray"
    (blocker / "ray").mkdir(parents=True)
    (blocker / "ray" / "__init__.py").write_text("raise ImportError('ray is not installed')\n")
    env = {**tiny_env, "PYTHONPATH": f"{blocker}"}
    r = tdpr("restore", tree, "--out", tmp_path / "o", "--ray", env=env)
    assert r.returncode == 2 and b"pip install 'tdpr-cli[ray]'" in r.stderr
    assert not (tmp_path / "o").exists()


def test_ray_is_for_folders(tiny_env, tree, tmp_path):
    r = tdpr("restore", tree / "a.wav", tmp_path / "a.wav", "--ray", env=tiny_env)
    assert r.returncode == 2 and b"--ray is for folder runs" in r.stderr


def test_an_aborted_ray_run_records_or_removes_every_output(tmp_path):
    """close(abort=True): a task that finished as the run stopped gets its record; an output
    written by a task whose record never came back is removed; every actor is killed."""
    from tdpr_cli.commands.pool_books import PoolBooks
    from tdpr_cli.commands.ray_pool import RayPool
    from tdpr_cli.restore.file import FileRecord

    outs = [tmp_path / "a.wav", tmp_path / "b.wav"]

    class FakeRay:  # the three calls close() makes, over two tasks: one done, one not
        killed: list[str] = []

        @staticmethod
        def wait(refs, num_returns, timeout):
            assert timeout == 0 and num_returns == len(refs)
            return [r for r in refs if r == "done"], [r for r in refs if r != "done"]

        @staticmethod
        def get(ref):
            return FileRecord("a.wav", str(outs[0]), status="ok").as_dict()

        @classmethod
        def kill(cls, actor, no_restart):
            cls.killed.append(actor)

    recorded, warnings = [], []
    pool = RayPool.__new__(RayPool)  # no Ray: the books and the fake alone
    pool.ray, pool.actors, pool.started = FakeRay, ["actor0", "actor1"], False
    pool.books = PoolBooks([("a.wav", str(outs[0]), False), ("b.wav", str(outs[1]), False)], recorded.append,
                           warnings.append)
    pool.books.handed_out(0)
    pool.books.handed_out(1)
    pool.pending = {"done": ("actor0", 0, 0), "running": ("actor1", 1, 0)}
    for out in outs:
        out.write_bytes(b"restored")
    pool.close(abort=True)
    assert [(r.output, r.status) for r in recorded] == [(str(outs[0]), "ok")]
    assert outs[0].exists() and not outs[1].exists()
    assert len(warnings) == 1 and "b.wav" in warnings[0] and "--resume" in warnings[0]
    assert FakeRay.killed == ["actor0", "actor1"] and pool.pending == {}
