"""The command line as a user meets it: exit codes, stderr, stdout, files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import band_limited


def tdpr(*args, env, stdin=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tdpr_cli", *map(str, args)],
        env=env, input=stdin, capture_output=True, cwd=cwd, timeout=300,
    )


def test_help_and_version_import_no_torch():
    # Nor numpy, scipy or rich (issue 14: `tdpr --help` under 0.3 s; rich alone costs ~60 ms).
    code = (
        "import sys\nfrom tdpr_cli.cli import main\n"
        "for argv in (['--help'], ['--version'], ['restore', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0, e.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'numpy', 'scipy', 'rich'})\n"
        "print('HEAVY', heavy if heavy else 'NONE')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("HEAVY NONE")
    assert "tdpr 0.1.0" in out.stdout


def test_shell_completion(tiny_env):
    # Typer names the shell by walking up the process tree: start tdpr from bash, as a user does.
    cmd = f"{sys.executable} -m tdpr_cli --show-completion; exit $?"  # not exec: bash stays the parent
    r = subprocess.run(["bash", "-c", cmd], env=tiny_env, capture_output=True, timeout=60)
    assert r.returncode == 0 and b"complete -o default -F _tdpr_completion tdpr" in r.stdout
    # What bash asks for when the user presses TAB after `tdpr restore --pha`.
    env = {**tiny_env, "COMP_WORDS": "tdpr restore --pha", "COMP_CWORD": "2", "_TDPR_COMPLETE": "complete_bash"}
    r = tdpr(env=env)
    assert r.returncode == 0 and r.stdout.split() == [b"--phase"]
    env |= {"COMP_WORDS": "tdpr res", "COMP_CWORD": "1"}
    assert tdpr(env=env).stdout.split() == [b"restore"]


def test_restore_file(tiny_env, wav_in, tmp_path):
    out = tmp_path / "out.wav"
    r = tdpr("restore", wav_in, out, env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b""  # stdout carries data only
    assert b"detected bandwidth" in r.stderr
    y, sr = sf.read(out)
    x, _ = sf.read(wav_in)
    assert sr == 16000 and y.shape == x.shape
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp files left


def test_restore_resamples_and_keeps_channels(tiny_env, tmp_path):
    src = tmp_path / "in.flac"
    sf.write(src, band_limited(2.0, 44100, 3000, channels=2), 44100)
    out = tmp_path / "out.flac"
    r = tdpr("restore", src, out, "--json", env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    rec = json.loads(r.stdout)
    assert rec["status"] == "ok" and abs(rec["cutoff_hz"] - 3000) < 400
    assert set(rec["models"]) == {"tdcnn", "vocoder"} and "sha256:" in rec["models"]["tdcnn"]
    info = sf.info(out)
    assert info.samplerate == 16000 and info.channels == 2 and info.frames == 32000


def test_stdin_to_stdout(tiny_env, wav_in):
    r = tdpr("restore", "-", "-", env=tiny_env, stdin=wav_in.read_bytes())
    assert r.returncode == 0, r.stderr.decode()
    import io

    y, sr = sf.read(io.BytesIO(r.stdout))
    assert sr == 16000 and len(y) == sf.info(wav_in).frames


def test_exit_codes(tiny_env, wav_in, tmp_path):
    out = tmp_path / "o.wav"
    missing = tdpr("restore", tmp_path / "nope.wav", out, env=tiny_env)
    assert missing.returncode == 4 and b"no such file" in missing.stderr
    assert b"Traceback" not in missing.stderr
    same = tdpr("restore", wav_in, wav_in, env=tiny_env)
    assert same.returncode == 4 and b"never writes over its input" in same.stderr
    usage = tdpr("restore", wav_in, out, "--phase", "bogus", env=tiny_env)
    assert usage.returncode == 2
    bad_ext = tdpr("restore", wav_in, tmp_path / "o.xyz", env=tiny_env)
    assert bad_ext.returncode == 2 and b"unsupported output extension" in bad_ext.stderr
    assert tdpr("restore", wav_in, out, env=tiny_env).returncode == 0
    exists = tdpr("restore", wav_in, out, env=tiny_env)
    assert exists.returncode == 4 and b"--overwrite" in exists.stderr
    assert tdpr("restore", wav_in, out, "--overwrite", env=tiny_env).returncode == 0


def test_tampered_weights_exit_3(tiny_env, wav_in, tmp_path):
    w = Path(tiny_env["TDPR_CONFIG_DIR"]) / "models" / "tiny-seanet.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    r = tdpr("restore", wav_in, tmp_path / "o.wav", env=tiny_env)
    assert r.returncode == 3 and b"sha256" in r.stderr
    assert not (tmp_path / "o.wav").exists()


def test_wideband_passes_through_unless_forced(tiny_env, tmp_path):
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((16000, 1))).astype(np.float32)
    src = tmp_path / "wide.wav"
    sf.write(src, x, 16000, subtype="FLOAT")
    r = tdpr("restore", src, tmp_path / "a.wav", "--json", "--subtype", "FLOAT", env=tiny_env)
    rec = json.loads(r.stdout)
    assert rec["status"] == "passthrough" and rec["music_top_hz"] == 8000.0
    # White noise never changes level: it cannot be told from a noise floor, and the record says so.
    assert rec["detection_confidence"] == 0.0 and "unsure" in rec["message"]
    np.testing.assert_array_equal(sf.read(tmp_path / "a.wav", dtype="float32")[0], x[:, 0])
    r = tdpr("restore", src, tmp_path / "b.wav", "--json", "--force", env=tiny_env)
    assert r.returncode == 2 and b"--cutoff HZ" in r.stderr and not (tmp_path / "b.wav").exists()
    assert f"tdpr: error: {src}: detection found music up to 8000 Hz" in r.stderr.decode()
    rec = json.loads(r.stdout)  # --json also records a single file's failure, with what detection found
    assert rec["status"] == "error" and "--cutoff" in rec["message"]
    assert rec["detected_cutoff_hz"] == 8000.0 and rec["music_top_hz"] == 8000.0
    r = tdpr("restore", src, tmp_path / "c.wav", "--json", "--cutoff", "3100", env=tiny_env)
    rec = json.loads(r.stdout)
    assert rec["status"] == "ok" and rec["cutoff_hz"] == 3100.0 and rec["detected_cutoff_hz"] == 8000.0
    assert b"--cutoff" in r.stderr
    for bad in ("abc", "9000"):
        r = tdpr("restore", src, tmp_path / "d.wav", "--cutoff", bad, env=tiny_env)
        assert r.returncode == 2 and b"--cutoff" in r.stderr and not (tmp_path / "d.wav").exists()


def test_force_in_a_folder_fails_the_wideband_file_only(tiny_env, tmp_path):
    root = tmp_path / "archive"
    root.mkdir()
    sf.write(root / "narrow.wav", band_limited(1.0), 16000)
    sf.write(root / "wide.wav", (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32), 16000)
    for jobs in ("1", "2"):  # in this process, and in worker processes
        out = tmp_path / f"out{jobs}"
        r = tdpr("restore", root, "--out", out, "--force", "--json", "--jobs", jobs, env=tiny_env)
        assert r.returncode == 1, r.stderr.decode()
        recs = {Path(j["input"]).name: j for j in map(json.loads, r.stdout.decode().splitlines())}
        assert recs["narrow.wav"]["status"] == "ok" and (out / "narrow.wav").exists()
        wide = recs["wide.wav"]
        assert wide["status"] == "error" and wide["detected_cutoff_hz"] == 8000.0 and wide["cutoff_hz"] is None
        assert not (out / "wide.wav").exists()
        failed = [line for line in r.stderr.decode().splitlines() if line.startswith("failed:")]
        assert len(failed) == 1 and failed[0].count("wide.wav") == 1 and "--cutoff HZ" in failed[0]


def test_folder_mode_keeps_going(tiny_env, tmp_path):
    root = tmp_path / "archive"
    (root / "sub").mkdir(parents=True)
    sf.write(root / "a.wav", band_limited(1.0), 16000)
    sf.write(root / "sub" / "b.flac", band_limited(1.0, seed=2), 16000)
    (root / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    out = tmp_path / "restored"
    r = tdpr("restore", root, "--out", out, "--json", env=tiny_env)
    assert r.returncode == 1, r.stderr.decode()
    recs = {Path(j["input"]).name: j for j in map(json.loads, r.stdout.decode().splitlines())}
    assert recs["broken.wav"]["status"] == "error" and recs["broken.wav"]["message"]
    assert recs["a.wav"]["status"] == "ok" and recs["b.flac"]["status"] == "ok"
    assert (out / "a.wav").exists() and (out / "sub" / "b.flac").exists()
    assert not (out / "broken.wav").exists()
    failed = [line for line in r.stderr.decode().splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and failed[0].count("broken.wav") == 1  # the file is named once
    rerun = tdpr("restore", root, "--out", out, "--json", env=tiny_env)  # outputs exist: said once, up front
    assert rerun.returncode == 4 and rerun.stdout == b""  # exit 4, as for one existing output
    assert b"2 of 3 outputs exist" in rerun.stderr and b"--skip-existing" in rerun.stderr
    again = tdpr("restore", root, "--out", out, "--skip-existing", "--json", env=tiny_env)
    statuses = {Path(j["input"]).name: j["status"] for j in map(json.loads, again.stdout.decode().splitlines())}
    assert statuses["a.wav"] == "skipped" and statuses["b.flac"] == "skipped"
    quiet = tdpr("restore", root, "--out", tmp_path / "q", "--quiet", env=tiny_env)  # errors only
    assert quiet.returncode == 1 and quiet.stderr.decode().splitlines()[0].startswith("failed: ")
    assert b"tdpr: 3 files" not in quiet.stderr and len(quiet.stderr.splitlines()) == 2  # no table
    (tmp_path / "empty").mkdir()
    none = tdpr("restore", tmp_path / "empty", "--out", tmp_path / "e", env=tiny_env)
    assert none.returncode == 0 and b"no audio files to restore" in none.stderr


def test_refuses_audio_to_terminal_and_json_clash(tiny_env, wav_in):
    r = tdpr("restore", wav_in, "-", "--json", env=tiny_env)
    assert r.returncode == 2


def test_folder_into_an_unwritable_place_fails_up_front(tiny_env, tmp_path):
    root = tmp_path / "archive"
    root.mkdir()
    sf.write(root / "a.wav", band_limited(1.0), 16000)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = tdpr("restore", root, "--out", blocker / "out", env=tiny_env)
    assert r.returncode == 4 and f"{blocker / 'out'}: cannot create output folder: {blocker} is a file" in r.stderr.decode()
    # A folder whose modes allow writing (to root) but whose file system refuses files: kernel
    # file systems, read-only mounts. It is refused up front too, not file by file (exit 1).
    # Refused before anything is made: no output folder is left behind by a run that fails.
    r = tdpr("restore", root, "--out", tmp_path / "new" / "out", "--cutoff", "9000", env=tiny_env)
    assert r.returncode == 2 and not (tmp_path / "new").exists()
    if Path("/sys/kernel").is_dir():
        r = tdpr("restore", root, "--out", "/sys/kernel", env=tiny_env)
        assert r.returncode == 4 and b"/sys/kernel: output folder /sys/kernel is not writable" in r.stderr


def test_passthrough_loads_no_model(tiny_env, tmp_path, wav_in):
    # Issue 14: a file that passes through needs no model, so torch is never imported for it;
    # the models are still resolved and verified first (they name the record), and a file
    # that is restored builds them.
    rng = np.random.default_rng(0)
    wide = tmp_path / "wide.wav"
    sf.write(wide, (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
    code = (
        "import sys\nfrom tdpr_cli.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print('TORCH', 'torch' in sys.modules, file=sys.stderr)\n"
    )
    for src, status, torch_used in ((wide, "passthrough", False), (wav_in, "ok", True)):
        out = tmp_path / f"{src.stem}-out.wav"
        r = subprocess.run([sys.executable, "-c", code, "restore", str(src), str(out), "--json"],
                           env=tiny_env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        rec = json.loads(r.stdout)
        assert rec["status"] == status and "sha256:" in rec["models"]["tdcnn"] and rec["device"] == "cpu"
        assert f"TORCH {torch_used}" in r.stderr
        assert sf.info(out).frames == 16000 if src == wide else out.exists()


def _misfit_weights(tmp_path: Path) -> Path:
    """Tiny TD-CNN weights beside the config of a wider one: they verify (trusted) but cannot load."""
    from tdpr_cli.models.load import export
    from tdpr_cli.models.seanet import Seanet, SeanetConfig

    folder = tmp_path / "misfit"
    export(Seanet(SeanetConfig(channels=4, strides=(2, 4, 8, 8))), folder, "w")
    export(Seanet(SeanetConfig(channels=6, strides=(2, 4, 8, 8))), tmp_path / "wider", "w")
    (folder / "w.json").write_bytes((tmp_path / "wider" / "w.json").read_bytes())
    return folder / "w.safetensors"


def test_models_that_cannot_be_built_end_the_run_with_their_exit_code(tiny_env, tmp_path):
    # The models are built when the first file needs them; if that fails no file can be restored,
    # so the run ends there with the weights error's exit code, instead of failing every file.
    weights = _misfit_weights(tmp_path)
    root, out = tmp_path / "in", tmp_path / "out"
    root.mkdir()
    for i in range(2):
        sf.write(root / f"{i}.wav", band_limited(1.0, seed=i), 16000)
    r = tdpr("restore", root, "--out", out, "--weights", weights, "--trust-local", "--jobs", "1", env=tiny_env)
    assert r.returncode == 3, r.stderr.decode()
    assert b"cannot build the models" in r.stderr and b"do not fit" in r.stderr
    assert b"internal error" not in r.stderr and not list(out.rglob("*.wav"))
    # Worker processes report the same cause with the same exit code (it was 2, a usage error).
    r = tdpr("restore", root, "--out", out, "--weights", weights, "--trust-local", "--jobs", "2", env=tiny_env)
    assert r.returncode == 3, r.stderr.decode()
    assert b"worker processes could not load the models" in r.stderr and b"do not fit" in r.stderr
    assert not list(out.rglob("*.wav"))
    r = tdpr("restore", root / "0.wav", tmp_path / "one.wav", "--weights", weights, "--trust-local", "--json",
             env=tiny_env)
    rec = json.loads(r.stdout)
    assert r.returncode == 3 and rec["status"] == "error" and rec["message"].startswith("cannot build the models")
    assert not (tmp_path / "one.wav").exists()


def test_a_subtype_ogg_cannot_store_is_warned_about(tiny_env, wav_in, tmp_path):
    r = tdpr("restore", wav_in, tmp_path / "a.ogg", "--json", "--subtype", "PCM_24", env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout)["warnings"] == ["OGG stores VORBIS (lossy) samples; --subtype PCM_24 does not apply"]
    assert b"--subtype PCM_24 does not apply" in r.stderr and sf.info(tmp_path / "a.ogg").subtype == "VORBIS"
    r = tdpr("restore", wav_in, tmp_path / "b.ogg", "--json", env=tiny_env)  # the default asks for nothing
    assert r.returncode == 0 and json.loads(r.stdout)["warnings"] == []


def test_short_help_option(tiny_env):
    for args in (["-h"], ["restore", "-h"]):
        r = tdpr(*args, env=tiny_env)
        assert r.returncode == 0 and b"Usage: tdpr" in r.stdout and b"--help" in r.stdout


def test_folder_options_on_a_file_name_what_was_given(tiny_env, wav_in, tmp_path):
    r = tdpr("restore", wav_in, tmp_path / "a.flac", "--format", "flac", env=tiny_env)
    assert r.returncode == 2 and b"--format is for folder runs; a file's format follows its OUT name" in r.stderr
    r = tdpr("restore", wav_in, tmp_path / "a.wav", "--shard", "1/2", env=tiny_env)
    assert r.returncode == 2 and b"--shard is for folder runs" in r.stderr and b"--format" not in r.stderr
    r = tdpr("restore", wav_in, env=tiny_env)
    assert r.returncode == 2 and b"missing OUT: `tdpr restore IN OUT`" in r.stderr


def test_thread_count_follows_omp_num_threads_and_is_recorded(tiny_env, wav_in, tmp_path):
    # The user's OMP_NUM_THREADS wins over the idle-core guess (3 is more than the idle cores of
    # a 2-core machine, so only the variable can give it); --threads wins over both; the record
    # states the count, since the output's bytes depend on it.
    for extra, env, threads in (([], {"OMP_NUM_THREADS": "3"}, 3), (["--threads", "2"], {"OMP_NUM_THREADS": "3"}, 2)):
        r = tdpr("restore", wav_in, tmp_path / f"t{threads}.wav", "--json", *extra, env={**tiny_env, **env})
        assert r.returncode == 0, r.stderr.decode()
        assert json.loads(r.stdout)["threads"] == threads


def test_passthrough_line_has_no_speed(tiny_env, tmp_path):
    rng = np.random.default_rng(1)
    src = tmp_path / "wide.wav"
    sf.write(src, (0.1 * rng.standard_normal((16000, 1))).astype(np.float32), 16000)
    r = tdpr("restore", src, tmp_path / "o.wav", env=tiny_env)
    assert r.returncode == 0 and b"passed through" in r.stderr and b"real time" not in r.stderr


def test_progress_plain_in_logs_and_none(tiny_env, wav_in, tmp_path):
    r = tdpr("restore", wav_in, tmp_path / "a.wav", env=tiny_env)  # stderr is a pipe: auto -> plain
    assert r.returncode == 0 and b": started" in r.stderr
    r = tdpr("restore", wav_in, tmp_path / "b.wav", "--progress", "none", env=tiny_env)
    assert r.returncode == 0 and b": started" not in r.stderr and b"real time" in r.stderr
    r = tdpr("restore", wav_in, tmp_path / "c.wav", "--progress", "fancy", env=tiny_env)
    assert r.returncode == 2 and b"--progress" in r.stderr and not (tmp_path / "c.wav").exists()


def test_plain_progress_prints_a_line_per_interval():
    import io

    from rich.console import Console

    from tdpr_cli.commands.progress import PlainProgress

    buf = io.StringIO()
    bar = PlainProgress(Console(file=buf, width=200), every_s=0.0)
    task = bar.add_task("long.wav", total=60.0)
    bar.update(task, completed=12.0, total=60.0)
    bar.remove_task(task)
    assert buf.getvalue().splitlines() == ["long.wav: started", "long.wav: 12.0/60.0 s audio"]


def test_progress_names_files_by_their_path(tiny_env, tmp_path):
    # Two takes of the same name in different subfolders, one with brackets: each "started"
    # line names the file as its result line does, as plain text (no markup escapes).
    root = tmp_path / "archive"
    for sub in ("side a", "side b"):
        (root / sub).mkdir(parents=True)
        sf.write(root / sub / "take[1].wav", band_limited(1.0), 16000)
    r = tdpr("restore", root, "--out", tmp_path / "out", "--progress", "plain", "--jobs", "1", env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    started = sorted(line for line in r.stderr.decode().splitlines() if line.endswith(": started"))
    assert started == [f"{root / sub / 'take[1].wav'}: started" for sub in ("side a", "side b")]


def test_keep_input_band_flag_changes_only_what_it_says(tiny_env, wav_in, tmp_path):
    outs = {}
    for flag in ("--keep-input-band", "--no-keep-input-band"):
        r = tdpr("restore", wav_in, tmp_path / f"{flag}.wav", "--phase", "none", "--subtype", "FLOAT", flag, env=tiny_env)
        assert r.returncode == 0, r.stderr.decode()
        outs[flag] = sf.read(tmp_path / f"{flag}.wav", dtype="float32")[0]
    x = sf.read(wav_in, dtype="float32")[0]

    def low_error(y):  # below 2 kHz, the band the flag keeps (cutoff ~3 kHz - 500 Hz - crossfade)
        spec = lambda s: np.fft.rfft(s[4000:-4000])  # noqa: E731
        return float(np.abs(spec(y) - spec(x))[: int(2000 * (len(x) - 8000) / 16000)].sum())

    assert low_error(outs["--keep-input-band"]) < 0.2 * low_error(outs["--no-keep-input-band"])


def test_skip_existing_works_for_one_file_and_excludes_overwrite(tiny_env, tmp_path):
    # A shell loop over files (`for f in *.wav; do tdpr restore "$f" out/"$f" --skip-existing`)
    # got exit 4 "exists; pass --overwrite" for each file already done.
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, band_limited(1.0), 16000)
    out.write_bytes(b"done earlier")
    r = tdpr("restore", src, out, "--skip-existing", "--json", env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout)["status"] == "skipped" and b"skipped, output exists" in r.stderr
    assert out.read_bytes() == b"done earlier"
    both = tdpr("restore", src, out, "--skip-existing", "--overwrite", env=tiny_env)
    assert both.returncode == 2 and b"give one" in both.stderr and out.read_bytes() == b"done earlier"


def test_folder_format_converts_every_output_without_collisions(tiny_env, tmp_path):
    from tdpr_cli.restore.file import discover

    root = tmp_path / "archive"
    root.mkdir()
    sf.write(root / "a.wav", band_limited(1.0), 16000)
    sf.write(root / "a.flac", band_limited(1.0, seed=3), 16000)
    out = tmp_path / "flac"
    assert sorted(o.name for _, o in discover(root, out, "flac")) == ["a.flac", "a.wav.flac"]
    # The fallback name may itself be another input's output: c.flac and c.flac.wav beside c.wav,
    # all to WAV, made two outputs named c.flac.wav (one restoration lost with --overwrite).
    stems = tmp_path / "stems"
    stems.mkdir()
    for name in ("c.flac", "c.flac.wav", "c.wav"):
        (stems / name).write_bytes(b"")
    outs = [o.name for _, o in discover(stems, tmp_path / "w", "wav")]
    assert sorted(outs) == ["c.flac.2.wav", "c.flac.wav", "c.wav"] and len(set(outs)) == 3
    r = tdpr("restore", root, "--out", out, "--format", "flac", env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    assert {p.name: sf.info(p).format for p in out.iterdir()} == {"a.flac": "FLAC", "a.wav.flac": "FLAC"}
    bad = tdpr("restore", root, "--out", tmp_path / "x", "--format", "mp4", env=tiny_env)
    assert bad.returncode == 2 and b"--format" in bad.stderr
    one = tdpr("restore", root / "a.wav", tmp_path / "one.wav", "--format", "flac", env=tiny_env)
    assert one.returncode == 2 and b"folder runs" in one.stderr
    # A format that cannot hold the subtype: one usage error before any file is read (it was
    # each file failing after its analysis, exit 1, and an empty output folder left behind).
    for args in ([root, "--out", tmp_path / "y", "--format", "flac"], [root / "a.wav", tmp_path / "one.flac"]):
        r = tdpr("restore", *args, "--subtype", "FLOAT", env=tiny_env)
        assert r.returncode == 2 and b"FLAC cannot store FLOAT samples" in r.stderr, r.stderr.decode()
        assert b"started" not in r.stderr
    assert not (tmp_path / "y").exists() and not (tmp_path / "one.flac").exists()


def test_a_short_file_is_read_once_and_restores_the_same(tiny_env, tmp_path, monkeypatch):
    # Issue 14: the analysis pass keeps a short file's 16 kHz blocks for the restore pass; the
    # output is byte for byte what reading the file twice gives.
    import tdpr_cli.restore.file as restore_file
    from tdpr_cli.cli import main

    src = tmp_path / "in.flac"
    sf.write(src, band_limited(2.0, 44100, 3000, channels=2), 44100)
    real, calls = restore_file.resampled, []
    monkeypatch.setattr(restore_file, "resampled", lambda s: (calls.append(s), real(s))[1])
    runs = {}
    for keep in (restore_file.KEEP_BYTES, 0):
        monkeypatch.setattr(restore_file, "KEEP_BYTES", keep)
        calls.clear()
        out = tmp_path / f"out-{keep}.wav"
        try:
            main(["restore", str(src), str(out), "--quiet"])
        except SystemExit as exc:
            assert exc.code in (0, None)
        runs[keep] = (len(calls), out.read_bytes())
    (once, kept), (twice, read_again) = runs.values()
    assert (once, twice) == (1, 2)
    assert kept == read_again


def test_manifest_and_report_destinations_are_checked_before_any_file(tiny_env, tmp_path):
    # Each of these used to restore (some) audio first and then fail with exit 4, leaving a
    # written file without its record, or appended JSON lines to an audio file.
    src = tmp_path / "in.wav"
    sf.write(src, band_limited(1.0), 16000)
    take = tmp_path / "take.wav"
    sf.write(take, band_limited(0.5), 16000)
    before = take.read_bytes()
    (tmp_path / "plain").write_text("not a folder")
    cases = [
        (["--manifest", take], 2, b"not a tdpr manifest"),
        (["--manifest", tmp_path / "plain" / "m.jsonl"], 4, b"manifest folder"),
        (["--report", tmp_path / "plain" / "r.png"], 4, b"report folder"),
    ]
    for extra, code, text in cases:
        out = tmp_path / "o.wav"
        r = tdpr("restore", src, out, *extra, env=tiny_env)
        assert r.returncode == code and text in r.stderr, r.stderr.decode()
        assert not out.exists() and b"started" not in r.stderr
    assert take.read_bytes() == before
    merge = tdpr("manifest", "merge", take, "--out", tmp_path / "m.jsonl", env=tiny_env)
    assert merge.returncode == 2 and b"not a tdpr manifest (not UTF-8 text)" in merge.stderr


def test_json_records_reach_a_text_only_stdout(tiny_env, tmp_path, wav_in):
    # contextlib.redirect_stdout into a StringIO (no .buffer, no descriptor): exit 70 after the
    # file was written; the record must arrive as text.
    import contextlib
    import io

    from tdpr_cli.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit) as done:
        main(["restore", str(wav_in), str(tmp_path / "o.wav"), "--json", "-q"])
    assert done.value.code == 0
    assert json.loads(buf.getvalue())["status"] in ("ok", "passthrough")


def test_a_mixed_folder_that_cannot_hold_the_subtype_is_told_the_way_on(tiny_env, tmp_path):
    root = tmp_path / "mixed"
    root.mkdir()
    sf.write(root / "a.wav", band_limited(1.0), 16000)
    sf.write(root / "b.flac", band_limited(1.0, seed=2), 16000)
    r = tdpr("restore", root, "--out", tmp_path / "o", "--subtype", "FLOAT", env=tiny_env)
    assert r.returncode == 2 and b"--format wav" in r.stderr
    ok = tdpr("restore", root, "--out", tmp_path / "o", "--subtype", "FLOAT", "--format", "wav", env=tiny_env)
    assert ok.returncode == 0, ok.stderr.decode()


def test_a_report_name_the_file_system_refuses_fails_before_the_audio(tiny_env, tmp_path, wav_in):
    out = tmp_path / "o.wav"
    r = tdpr("restore", wav_in, out, "--report", tmp_path / ("r" * 300 + ".png"), env=tiny_env)
    assert r.returncode == 4 and b"cannot be a report" in r.stderr and not out.exists()


def test_a_folder_run_says_what_it_passes_over(tiny_env, tmp_path):
    # Hidden files and folders, folders behind symlinks, dangling links: not read, and no line said so.
    root, real = tmp_path / "in", tmp_path / "real"
    (root / ".hid").mkdir(parents=True)
    real.mkdir()
    for path in (root / "a.wav", root / ".hid" / "b.wav", root / ".c.wav", real / "d.wav"):
        sf.write(path, band_limited(0.5), 16000)
    (root / "linked").symlink_to(real)
    (root / "dangling.wav").symlink_to(tmp_path / "nowhere.wav")
    r = tdpr("restore", root, "--out", tmp_path / "out", "--json", env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    assert [json.loads(x)["input"] for x in r.stdout.decode().splitlines()] == [str(root / "a.wav")]
    assert b"not read: 4 hidden or symlinked entries" in r.stderr
    quiet = tdpr("restore", root, "--out", tmp_path / "q", "-q", env=tiny_env)
    assert quiet.returncode == 0 and quiet.stderr == b""
