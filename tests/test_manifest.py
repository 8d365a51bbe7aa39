"""Run manifests, --resume and --shard (issue 16): records, skips, redo reasons and a partition."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from conftest import band_limited
from tdpr_cli.errors import UsageError
from tdpr_cli.restore.manifest import in_shard, parse_shard, read_records


def tdpr(*args, env):
    return subprocess.run([sys.executable, "-m", "tdpr_cli", *map(str, args)], env=env, capture_output=True,
                          timeout=300, check=False)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    (root / "sub").mkdir(parents=True)
    for i, rel in enumerate(("a.wav", "b.wav", "sub/c.flac")):
        sf.write(root / rel, band_limited(1.0, seed=i), 16000)
    return root


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_manifest_records_every_file_and_resume_skips_exactly_those(tiny_env, archive, tmp_path):
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    r = tdpr("restore", archive, "--out", out, "--manifest", log, env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    records = _records(log)
    assert sorted(Path(rec["input"]).name for rec in records) == ["a.wav", "b.wav", "c.flac"]
    for rec in records:
        assert rec["status"] == "ok" and len(rec["output_sha256"]) == 64 and rec["options"]["phase"] == "band"
        assert rec["models"]["tdcnn"].startswith("tiny-seanet@sha256:") and rec["input_size"] > 0
    again = tdpr("restore", archive, "--out", out, "--manifest", log, "--resume", "--json", env=tiny_env)
    assert again.returncode == 0, again.stderr.decode()
    assert {json.loads(line)["message"] for line in again.stdout.decode().splitlines()} == {"done in the manifest"}
    # A file whose output changed is redone; the others are still skipped.
    (out / "a.wav").write_bytes(b"tampered")
    third = tdpr("restore", archive, "--out", out, "--manifest", log, "--resume", "--json", env=tiny_env)
    statuses = {Path(j["input"]).name: j["status"] for j in map(json.loads, third.stdout.decode().splitlines())}
    assert statuses == {"a.wav": "ok", "b.wav": "skipped", "c.flac": "skipped"}
    assert b"output missing or changed" in third.stderr and sf.info(out / "a.wav").frames > 0


def test_resume_names_an_output_written_but_never_recorded(tiny_env, archive, tmp_path):
    # A run killed after renaming an output and before its manifest line: --resume says what
    # happened and how to go on (it said only "exists; pass --overwrite").
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    assert tdpr("restore", archive, "--out", out, "--manifest", log, env=tiny_env).returncode == 0
    lines = log.read_text().splitlines()
    lost = json.loads(lines[-1])
    log.write_text("\n".join(lines[:-1]) + "\n")
    r = tdpr("restore", archive, "--out", out, "--manifest", log, "--resume", env=tiny_env)
    assert r.returncode == 1 and b"the manifest has no record of it" in r.stderr, r.stderr.decode()
    keep = tdpr("restore", archive, "--out", out, "--manifest", log, "--resume", "--skip-existing", "--json",
                env=tiny_env)
    assert keep.returncode == 0 and {json.loads(x)["status"] for x in keep.stdout.decode().splitlines()} == {"skipped"}
    redo = tdpr("restore", archive, "--out", out, "--manifest", log, "--resume", "--overwrite", env=tiny_env)
    assert redo.returncode == 0 and lost["input"] in read_records(log)


def test_single_file_resume_with_an_unrecorded_output_is_exit_4(tiny_env, archive, tmp_path):
    # The folder check above, for one file: it returned an error record and exited 0, silently.
    out, log = tmp_path / "o.wav", tmp_path / "one.jsonl"
    out.write_bytes(b"someone's file")
    r = tdpr("restore", archive / "a.wav", out, "--manifest", log, "--resume", env=tiny_env)
    assert r.returncode == 4 and b"the manifest has no record of it" in r.stderr, r.stderr.decode()
    assert out.read_bytes() == b"someone's file"


def test_format_spelling_is_one_run_option(tiny_env, archive, tmp_path):
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    assert tdpr("restore", archive, "--out", out, "--format", "flac", "--manifest", log, env=tiny_env).returncode == 0
    again = tdpr("restore", archive, "--out", out, "--format", "FLAC", "--manifest", log, "--resume", env=tiny_env)
    assert again.returncode == 0 and b"options changed" not in again.stderr, again.stderr.decode()


def test_a_manifest_name_the_file_system_refuses_is_exit_4(tiny_env, archive, tmp_path):
    r = tdpr("restore", archive / "a.wav", tmp_path / "o.wav", "--manifest", tmp_path / ("m" * 300 + ".jsonl"),
             env=tiny_env)
    assert r.returncode == 4 and b"cannot be a manifest" in r.stderr and not (tmp_path / "o.wav").exists()
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"input": "a.w')  # a first append cut by a full disk: still this run's file
    assert read_records(torn) == {}


def test_a_changed_option_redoes_every_file_and_says_so(tiny_env, archive, tmp_path):
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    assert tdpr("restore", archive, "--out", out, "--manifest", log, env=tiny_env).returncode == 0
    r = tdpr("restore", archive, "--out", out, "--manifest", log, "--resume", "--phase", "none", env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr.decode().count("options changed") == 3
    latest = read_records(log)
    assert len(latest) == 3 and {rec["options"]["phase"] for rec in latest.values()} == {"none"}


def test_resume_needs_a_manifest_and_torn_lines_are_ignored(tiny_env, archive, tmp_path):
    r = tdpr("restore", archive, "--out", tmp_path / "o", "--resume", env=tiny_env)
    assert r.returncode == 2 and b"--manifest" in r.stderr
    log = tmp_path / "torn.jsonl"
    log.write_text('{"input": "x.wav", "status": "ok"}\n{"input": "y.wav", "sta')
    assert list(read_records(log)) == ["x.wav"]


def test_shards_partition_the_files(tiny_env, archive, tmp_path):
    import os

    # A Latin-1 name (undecodable bytes, held as surrogates) made every shard exit 70.
    names = ["a.wav", "b.wav", "sub/c.flac", os.fsdecode(b"caf\xe9.wav"), *(f"d{i}.wav" for i in range(40))]
    for n in (1, 2, 3, 7):
        owners = [[k for k in range(1, n + 1) if in_shard(name, (k, n))] for name in names]
        assert all(len(o) == 1 for o in owners)  # every file in exactly one shard
    outs = set()
    for k in (1, 2):
        r = tdpr("restore", archive, "--out", tmp_path / "out", "--shard", f"{k}/2", "--json", env=tiny_env)
        assert r.returncode == 0, r.stderr.decode()
        outs |= {json.loads(line)["output"] for line in r.stdout.decode().splitlines()}
    assert len(outs) == 3
    for bad in ("0/2", "3/2", "x"):
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_slurm_array_script_covers_every_file_once_after_merge(tiny_env, archive, tmp_path):
    script = Path(__file__).resolve().parent.parent / "examples" / "slurm" / "restore-array.sbatch"
    dst, n = tmp_path / "dst", 3
    for k in range(1, n + 1):
        env = {**tiny_env, "SRC": str(archive), "DST": str(dst), "SLURM_ARRAY_TASK_ID": str(k),
               "SLURM_ARRAY_TASK_COUNT": str(n), "SLURM_CPUS_PER_TASK": "1", "TDPR": f"{sys.executable} -m tdpr_cli"}
        r = subprocess.run(["bash", str(script)], env=env, capture_output=True, timeout=300, check=False)
        assert r.returncode == 0, r.stderr.decode()
    shards = sorted((dst / ".manifests").glob("shard-*.jsonl"))
    merged = tmp_path / "merged.jsonl"
    r = tdpr("manifest", "merge", *shards, "--out", merged, "--expect", archive, "--json", env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    summary = json.loads(r.stdout)
    assert summary["records"] == 3 and not summary["missing"] and not summary["duplicates"]
    assert sorted(Path(rec["input"]).name for rec in _records(merged)) == ["a.wav", "b.wav", "c.flac"]
    # A file no shard recorded is reported, and the merge exits 1.
    sf.write(archive / "late.wav", band_limited(1.0, seed=9), 16000)
    r = tdpr("manifest", "merge", *shards, "--out", merged, "--expect", archive, env=tiny_env)
    assert r.returncode == 1 and b"missing: " in r.stderr and b"late.wav" in r.stderr


def test_sha256_bytes_is_the_file_digest_of_the_same_bytes(tmp_path):
    from tdpr_cli.digest import sha256_bytes, sha256_file

    data = bytes(range(256)) * 5000  # over one 1 MiB read
    (tmp_path / "f").write_bytes(data)
    assert sha256_bytes(data) == sha256_file(tmp_path / "f")
    assert sha256_bytes(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_merge_matches_expected_files_from_any_folder_and_guards_its_output(tiny_env, archive, tmp_path):
    # --expect compared raw path strings: from another working folder every file was "missing";
    # a wrong --expect said "0 missing", exit 0; --out replaced any file, even a shard manifest.
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    assert tdpr("restore", archive, "--out", out, "--manifest", log, env=tiny_env).returncode == 0
    elsewhere = subprocess.run([sys.executable, "-m", "tdpr_cli", "manifest", "merge", str(log), "--out",
                                str(tmp_path / "m.jsonl"), "--expect", str(archive), "--json"],
                               env=tiny_env, capture_output=True, cwd="/", timeout=300, check=False)
    assert elsewhere.returncode == 0, elsewhere.stderr.decode()
    assert json.loads(elsewhere.stdout)["missing"] == []
    r = tdpr("manifest", "merge", log, "--out", tmp_path / "n.jsonl", "--expect", tmp_path / "nowhere", env=tiny_env)
    assert r.returncode == 2 and b"not a folder" in r.stderr and not (tmp_path / "n.jsonl").exists()
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    r = tdpr("manifest", "merge", log, "--out", keep, env=tiny_env)
    assert r.returncode == 4 and b"--overwrite" in r.stderr and keep.read_text() == "mine"
    before = log.read_bytes()
    r = tdpr("manifest", "merge", log, "--out", log, "--overwrite", env=tiny_env)
    assert r.returncode == 2 and log.read_bytes() == before


def test_resume_finds_its_records_from_another_folder_and_never_takes_a_foreign_file(tiny_env, archive, tmp_path):
    # Records were matched by the path as typed: from another working folder every file failed
    # "exists, but no record". And a redo for "another output path" replaced whatever was there.
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    assert tdpr("restore", archive, "--out", out, "--manifest", log, env=tiny_env).returncode == 0
    rel = subprocess.run([sys.executable, "-m", "tdpr_cli", "restore", "archive", "--out", "out", "--manifest",
                          "run.jsonl", "--resume", "--json"], env=tiny_env, capture_output=True, cwd=tmp_path,
                         timeout=300, check=False)
    assert rel.returncode == 0, rel.stderr.decode()
    assert {json.loads(x)["status"] for x in rel.stdout.decode().splitlines()} == {"skipped"}
    precious = out / "a.flac"
    precious.write_text("a hand-made master")
    r = tdpr("restore", archive, "--out", out, "--manifest", log, "--resume", "--format", "flac", env=tiny_env)
    assert r.returncode == 1 and b"does not record writing it" in r.stderr, r.stderr.decode()
    assert precious.read_text() == "a hand-made master"
    assert any(rec["status"] == "error" for rec in read_records(log).values())  # the failure is on record


def test_resume_after_moving_the_project_and_after_a_failed_redo(tiny_env, tmp_path):
    # Two regressions caught in review: outputs compared by real path only refused every file of
    # a moved project; and one error record made the file's own earlier output "foreign".
    import shutil

    project = tmp_path / "p1"
    (project / "in").mkdir(parents=True)
    for i, name in enumerate(("a.wav", "b.wav")):
        sf.write(project / "in" / name, band_limited(1.0, seed=i), 16000)

    def resume(where):
        return subprocess.run([sys.executable, "-m", "tdpr_cli", "restore", "in", "--out", "out", "--manifest",
                               "m.jsonl", "--resume", "--json"], env=tiny_env, capture_output=True, cwd=where,
                              timeout=300, check=False)

    first = subprocess.run([sys.executable, "-m", "tdpr_cli", "restore", "in", "--out", "out", "--manifest",
                            "m.jsonl"], env=tiny_env, capture_output=True, cwd=project, timeout=300, check=False)
    assert first.returncode == 0, first.stderr.decode()
    moved = tmp_path / "p2"
    shutil.move(project, moved)
    r = resume(moved)
    assert r.returncode == 0 and {json.loads(x)["status"] for x in r.stdout.decode().splitlines()} == {"skipped"}
    good = (moved / "in" / "a.wav").read_bytes()
    (moved / "in" / "a.wav").write_bytes(b"garbage")
    assert resume(moved).returncode == 1  # the redo fails and is recorded; out/a.wav stays
    (moved / "in" / "a.wav").write_bytes(good)
    r = resume(moved)
    assert r.returncode == 0, r.stderr.decode()
    statuses = {Path(j["input"]).name: j["status"] for j in map(json.loads, r.stdout.decode().splitlines())}
    assert statuses == {"a.wav": "ok", "b.wav": "skipped"}
