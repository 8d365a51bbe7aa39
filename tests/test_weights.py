"""weights.lock parsing, hub download through a local fake Hub, sha256 verification.

Every test builds its own tiny model files and locks in a temporary folder;
the Hugging Face client talks to a ``ThreadingHTTPServer`` on 127.0.0.1 that
answers the Hub's ``/{repo}/resolve/{revision}/{file}`` endpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from typer.testing import CliRunner

from tdpr_cli.commands.weights import app
from tdpr_cli.errors import OutputError, UsageError, WeightsError
from tdpr_cli.weights import resolve as weights
from tdpr_cli.weights import verify as hashing
from tdpr_cli.weights.lock import FileEntry, HfSource, ModelEntry
from tdpr_cli.weights.lock_render import render_lock

REPO, REV = "org/tiny", "0123456789abcdef0123456789abcdef01234567"
ROOT = Path(__file__).resolve().parents[1]


def model_files(kind: str, seed: int = 0) -> tuple[bytes, bytes]:
    """Bytes of a tiny weights file and its architecture config."""
    weights_bytes = hashlib.sha256(f"{kind}{seed}".encode()).digest() * 8
    cfg = {"kind": kind, "arch": "seanet", "params": {"ch": 4 + seed}, "sample_rate": 16000,
           "training": {"seed": seed}}
    return weights_bytes, json.dumps(cfg, indent=1).encode()


def write_model(folder: Path, name: str, kind: str, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    w, c = model_files(kind, seed)
    (folder / f"{name}.safetensors").write_bytes(w)
    (folder / f"{name}.json").write_bytes(c)


def hf_entry(name: str, kind: str, seed: int = 0) -> ModelEntry:
    w, c = model_files(kind, seed)
    files = (FileEntry(f"{name}.safetensors", hashlib.sha256(w).hexdigest(), len(w)),
             FileEntry(f"{name}.json", hashlib.sha256(c).hexdigest(), len(c)))
    cfg_sha = hashing.canonical_config_sha256(json.loads(c))
    return ModelEntry(name, kind, cfg_sha, HfSource(REPO, REV), files)


class FakeHub:
    """Serves files of one repository at one commit, counting requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.altered = False
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                hub.answer(self, body=False)

            def do_GET(self) -> None:
                hub.answer(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def answer(self, req: BaseHTTPRequestHandler, *, body: bool) -> None:
        self.requests.append(f"{req.command} {req.path}")
        found = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", req.path)
        data = None
        if found and found[1] == REPO and found[2] == REV:
            data = self.files.get(unquote(found[3]))
        if data is None:
            req.send_response(404)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        served = bytes([data[0] ^ 1]) + data[1:] if self.altered else data
        req.send_response(200)
        # The headers huggingface_hub 2.4 needs: the commit, and an ETag naming the blob
        # (the Hub sends the LFS sha256 of the genuine file); the size comes from Content-Length.
        req.send_header("X-Repo-Commit", REV)
        req.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        req.send_header("Content-Length", str(len(served)))
        req.end_headers()
        if body:
            req.wfile.write(served)


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Private config, verification cache and hub cache for every test."""
    monkeypatch.setenv("TDPR_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("TDPR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for var in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_ENDPOINT", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    hashing.clear_memory_cache()
    return tmp_path


@pytest.fixture
def bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A packaged lock in tmp with default tdcnn and vocoder models, made by pin."""
    lock = tmp_path / "pkg" / "weights.lock"
    lock.parent.mkdir()
    lock.write_text(render_lock([], {}))
    for name, kind in (("tiny-cnn", "tdcnn"), ("tiny-voc", "vocoder")):
        write_model(lock.parent / "weights", name, kind)
        weights.write_pin(name, kind, lock.parent / "weights", lock=lock, default=True)
    monkeypatch.setattr(weights, "PACKAGED_LOCK", lock)
    return lock


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch):
    hub = FakeHub()
    for name, kind in (("hub-cnn", "tdcnn"),):
        w, c = model_files(kind)
        hub.files.update({f"{name}.safetensors": w, f"{name}.json": c})
    thread = threading.Thread(target=hub.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    yield hub
    hub.server.shutdown()
    hub.server.server_close()


@pytest.fixture
def hf_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lock = tmp_path / "hfpkg" / "weights.lock"
    lock.parent.mkdir()
    lock.write_text(render_lock([hf_entry("hub-cnn", "tdcnn")], {"tdcnn": "hub-cnn"}))
    monkeypatch.setattr(weights, "PACKAGED_LOCK", lock)
    return lock


def cache_files(env: Path) -> list[Path]:
    """Blobs and snapshot links left in the hub cache."""
    repo = env / "hf" / "hub" / "models--org--tiny"
    return [p for sub in ("blobs", "snapshots") for p in (repo / sub).rglob("*")
            if p.is_file() or p.is_symlink()]


def count_hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = hashing.sha256_file
    monkeypatch.setattr(hashing, "sha256_file", lambda p: calls.append(Path(p)) or real(p))
    return calls


# --- the lock itself ----------------------------------------------------------------------


def test_packaged_lock_is_identical_to_top_level_and_canonical() -> None:
    packaged = ROOT / "src" / "tdpr_cli" / "weights.lock"
    assert packaged.read_bytes() == (ROOT / "weights.lock").read_bytes()
    lock = weights.load_lock(packaged, user=None)
    text = render_lock(list(lock.models.values()), lock.defaults)
    assert text == packaged.read_text()


def test_pin_writes_a_lock_that_resolves(bundled: Path) -> None:
    lock = weights.load_lock(user=None)
    assert lock.defaults == {"tdcnn": "tiny-cnn", "vocoder": "tiny-voc"}
    model = weights.resolve(lock, None, "vocoder", offline=True)
    w, c = model_files("vocoder")
    assert model.weights_path.read_bytes() == w and model.config_path.read_bytes() == c
    assert model.sha256 == hashlib.sha256(w).hexdigest()
    folder = bundled.parent / "weights"
    block = weights.pin_bundled("tiny-cnn", "tdcnn", folder, lock_dir=bundled.parent)
    assert hashlib.sha256(model_files("tdcnn")[0]).hexdigest() in block


def _tdpr(args: list[str]) -> int:
    """Run ``tdpr ARGS`` in this process; return the exit code."""
    from tdpr_cli.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


def test_repin_replaces_entry_and_cli_command(bundled: Path, capsys: pytest.CaptureFixture) -> None:
    write_model(bundled.parent / "weights", "tiny-cnn", "tdcnn", seed=1)
    args = ["weights", "pin", "tiny-cnn", "--kind", "tdcnn", "--dir", str(bundled.parent / "weights")]
    assert _tdpr([*args, "--lock", str(bundled)]) == 0
    new_sha = hashlib.sha256(model_files("tdcnn", 1)[0]).hexdigest()
    out, err = capsys.readouterr()
    assert new_sha in out and "wrote" in err and "wrote" not in out
    lock = weights.load_lock(user=None)
    assert len(lock.models) == 2 and lock.models["tiny-cnn"].weights_file.sha256 == new_sha
    assert _tdpr(["weights", "pin", "nope", "--kind", "tdcnn", "--dir", str(bundled.parent),
                  "--lock", str(bundled)]) == 3
    assert "tdpr: error:" in capsys.readouterr().err


def test_pin_keeps_the_top_level_twin_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tdpr_cli.weights import pin

    tmp_path = tmp_path.resolve()
    pkg = tmp_path / "repo" / "src" / "tdpr_cli"
    write_model(pkg / "weights", "tiny-cnn", "tdcnn")
    (tmp_path / "repo" / "pyproject.toml").write_text("")
    (pkg / "weights.lock").write_text(render_lock([], {}))
    monkeypatch.setattr(pin, "PACKAGED_LOCK", pkg / "weights.lock")
    written = pin.write_pin("tiny-cnn", "tdcnn", pkg / "weights", lock=pkg / "weights.lock")
    assert written == [pkg / "weights.lock", tmp_path / "repo" / "weights.lock"]
    assert written[0].read_bytes() == written[1].read_bytes()
    assert 'source = { type = "bundled", path = "weights/" }' in written[0].read_text()


LOCK_TEMPLATE = """version = 1

[[model]]
name = "m"
kind = "tdcnn"
config_sha256 = "{a64}"
source = {{ type = "hf", repo_id = "o/r", revision = "{rev}" }}

[[model.file]]
filename = "m.safetensors"
sha256 = "{a64}"
size = 3

[[model.file]]
filename = "m.json"
sha256 = "{a64}"
size = 2
""".format(a64="a" * 64, rev=REV)

BAD_LOCKS = {  # case: (text, line the message must name)
    "toml syntax": (LOCK_TEMPLATE.replace('kind = "tdcnn"', "kind = tdcnn"), 5),
    "short config sha": (LOCK_TEMPLATE.replace(f'config_sha256 = "{"a" * 64}"',
                                               'config_sha256 = "abc123"'), 6),
    "branch revision": (LOCK_TEMPLATE.replace(REV, "main"), 7),
    "unknown kind": (LOCK_TEMPLATE.replace('"tdcnn"', '"gan"'), 5),
    "long file sha": (LOCK_TEMPLATE.replace(f'sha256 = "{"a" * 64}"\nsize = 3',
                                            f'sha256 = "{"a" * 65}"\nsize = 3'), 11),
    "bad version": (LOCK_TEMPLATE.replace("version = 1", "version = 2"), 1),
}


def test_lock_template_is_valid(tmp_path: Path) -> None:
    (tmp_path / "ok.lock").write_text(LOCK_TEMPLATE)
    assert list(weights.load_lock(tmp_path / "ok.lock", user=None).models) == ["m"]


@pytest.mark.parametrize("case", sorted(BAD_LOCKS))
def test_malformed_lock_names_the_line(case: str, tmp_path: Path) -> None:
    text, line = BAD_LOCKS[case]
    path = tmp_path / "weights.lock"
    path.write_text(text)
    with pytest.raises(WeightsError) as err:
        weights.load_lock(path, user=None)
    assert f"{path}:{line}:" in str(err.value) and err.value.exit_code == 3


def test_duplicate_names_and_user_shadowing_refused(bundled: Path, env: Path) -> None:
    entry = bundled.read_text().split("[[model]]")[1]
    dup = env / "dup.lock"
    dup.write_text(bundled.read_text() + "\n[[model]]" + entry)
    with pytest.raises(WeightsError, match=r"dup\.lock:\d+: duplicate model name 'tiny-cnn'"):
        weights.load_lock(dup, user=None)
    user = env / "user.lock"
    user.write_text("version = 1\n\n[[model]]" + entry)
    with pytest.raises(WeightsError, match="already defined"):
        weights.load_lock(user=user)


# --- bundled files and the verification cache ---------------------------------------------


def test_tampered_bundled_file_is_refused_with_both_hashes(bundled: Path) -> None:
    lock = weights.load_lock(user=None)
    path = bundled.parent / "weights" / "tiny-cnn.safetensors"
    data = path.read_bytes()
    path.write_bytes(b"\0" + data[1:])
    with pytest.raises(WeightsError) as err:
        weights.resolve(lock, "tiny-cnn", "tdcnn")
    message = str(err.value)
    assert str(path) in message
    assert hashlib.sha256(data).hexdigest() in message
    assert hashlib.sha256(b"\0" + data[1:]).hexdigest() in message


def test_verified_files_are_not_rehashed_until_they_change(
    bundled: Path, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_hashes(monkeypatch)
    lock = weights.load_lock(user=None)
    weights.resolve(lock, "tiny-cnn", "tdcnn")
    assert len(calls) == 2 and (env / "cache" / "verified.json").is_file()
    weights.resolve(lock, "tiny-cnn", "tdcnn")
    hashing.clear_memory_cache()  # a new process: only verified.json remembers
    weights.resolve(lock, "tiny-cnn", "tdcnn")
    assert len(calls) == 2
    path = bundled.parent / "weights" / "tiny-cnn.safetensors"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    weights.resolve(lock, "tiny-cnn", "tdcnn")
    assert calls[2:] == [path]
    path.write_bytes(path.read_bytes()[::-1])
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        weights.resolve(lock, "tiny-cnn", "tdcnn")


def test_resolve_errors_for_unknown_names_and_kinds(bundled: Path) -> None:
    lock = weights.load_lock(user=None)
    with pytest.raises(WeightsError, match="unknown model 'nope'"):
        weights.resolve(lock, "nope", "tdcnn")
    with pytest.raises(WeightsError, match="is a vocoder model"):
        weights.resolve(lock, "tiny-voc", "tdcnn")
    with pytest.raises(WeightsError, match="no default tdcnn"):
        weights.resolve(weights.Lock(), None, "tdcnn")


# --- Hugging Face sources through the fake Hub ---------------------------------------------


def test_fresh_download_is_verified_then_served_from_cache(
    fake_hub: FakeHub, hf_lock: Path, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = weights.load_lock(user=None)
    model = weights.resolve(lock, None, "tdcnn")
    assert model.weights_path.is_relative_to(env / "hf" / "hub")
    assert model.weights_path.read_bytes() == model_files("tdcnn")[0]
    resolves = sorted(r.split()[0] for r in fake_hub.requests if "/resolve/" in r)
    assert resolves == ["GET", "GET", "HEAD", "HEAD"]
    fake_hub.requests.clear()
    hashing.clear_memory_cache()
    calls = count_hashes(monkeypatch)
    again = weights.resolve(lock, "hub-cnn", "tdcnn")
    assert again == model and fake_hub.requests == [] and calls == []
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert weights.resolve(lock, "hub-cnn", "tdcnn") == model


def test_altered_download_is_refused_and_removed(
    fake_hub: FakeHub, hf_lock: Path, env: Path, tmp_path: Path
) -> None:
    fake_hub.altered = True
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["fetch", "hub-cnn", "--to", str(out)])
    err = result.exception
    assert isinstance(err, WeightsError) and err.exit_code == 3
    good = hashlib.sha256(model_files("tdcnn")[0]).hexdigest()
    assert good in str(err) and "sha256 mismatch" in str(err) and "removed" in str(err)
    assert cache_files(env) == []
    assert not out.exists() or list(out.iterdir()) == []
    fake_hub.altered = False  # the next try downloads again and succeeds
    model = weights.resolve(weights.load_lock(user=None), "hub-cnn", "tdcnn")
    assert model.weights_path.read_bytes() == model_files("tdcnn")[0]


def test_offline_without_cache_says_how_to_fetch(
    fake_hub: FakeHub, hf_lock: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = weights.load_lock(user=None)
    with pytest.raises(WeightsError, match=r"not in the cache and --offline; run `tdpr weights fetch hub-cnn`"):
        weights.resolve(lock, "hub-cnn", "tdcnn", offline=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the message names the variable: the same command would fail again
    with pytest.raises(WeightsError, match=r"HF_HUB_OFFLINE is set; run `tdpr weights fetch hub-cnn`.*unset"):
        weights.resolve(lock, "hub-cnn", "tdcnn")
    assert fake_hub.requests == []


def test_fetch_to_copies_verified_files(fake_hub: FakeHub, hf_lock: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["fetch", "hub-cnn", "--to", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["hub-cnn.json", "hub-cnn.safetensors"]
    assert result.stdout.split() == [str(out / "hub-cnn.safetensors"), str(out / "hub-cnn.json")]
    assert (out / "hub-cnn.safetensors").read_bytes() == model_files("tdcnn")[0]
    blocked = tmp_path / "plain"
    blocked.write_text("a file where the folder would go")
    requests = len(fake_hub.requests)
    result = CliRunner().invoke(app, ["fetch", "hub-cnn", "--to", str(blocked / "sub")])
    assert isinstance(result.exception, OutputError) and "is a file" in str(result.exception)
    assert len(fake_hub.requests) == requests  # refused before any download (it said "File exists", exit 3)


def test_add_hf_entry_pins_into_the_user_lock(
    fake_hub: FakeHub, bundled: Path, env: Path
) -> None:
    w, c = model_files("vocoder", seed=3)
    fake_hub.files.update({"sub/voc.safetensors": w, "sub/voc.json": c})
    user = env / "config" / "weights.lock"
    uri = f"hf://{REPO}@{REV}/sub/voc.safetensors"
    entry = weights.add_hf_entry(uri, "my-voc", "vocoder", user)
    sha = hashlib.sha256(w).hexdigest()
    assert entry.weights_file == FileEntry("sub/voc.safetensors", sha, len(w))
    lock = weights.load_lock()  # the default user lock is $TDPR_CONFIG_DIR/weights.lock
    assert lock.models["my-voc"] == weights.load_lock(user=user).models["my-voc"]
    assert weights.resolve(lock, "my-voc", "vocoder").config_path.read_bytes() == c
    with pytest.raises(UsageError, match="already"):
        weights.add_hf_entry(uri, "my-voc", "vocoder", user)
    with pytest.raises(UsageError, match="40-hex"):
        weights.add_hf_entry(f"hf://{REPO}@main/sub/voc.safetensors", "v2", "vocoder", user)
    result = CliRunner().invoke(app, ["add", uri, "--name", "cli-voc", "--kind", "vocoder"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(user) and "cli-voc" in weights.load_lock().models


# --- local files, verify, list -------------------------------------------------------------


def test_resolve_local_needs_a_hash_or_trust(tmp_path: Path) -> None:
    write_model(tmp_path, "mine", "tdcnn")
    path = tmp_path / "mine.safetensors"
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(WeightsError, match=f"--sha256 {good}.*--trust-local"):
        weights.resolve_local(path)
    model = weights.resolve_local(path, sha256=good.upper())
    assert (model.kind, model.sha256, model.config_path) == ("tdcnn", good, tmp_path / "mine.json")
    assert weights.resolve_local(path, trust_local=True).sha256 == good
    with pytest.raises(WeightsError, match="mismatch"):
        weights.resolve_local(path, sha256="0" * 64, trust_local=True)
    with pytest.raises(UsageError):
        weights.resolve_local(path, sha256="abc")
    with pytest.raises(WeightsError, match="not found"):
        weights.resolve_local(path, config=tmp_path / "other.json", trust_local=True)


def test_verify_all_rehashes_and_reports(bundled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = weights.load_lock(user=None)
    weights.resolve(lock, "tiny-cnn", "tdcnn")
    calls = count_hashes(monkeypatch)
    assert {r.status for r in weights.verify_all(lock)} == {"ok"} and len(calls) == 4
    path = bundled.parent / "weights" / "tiny-voc.json"
    path.write_text(path.read_text().replace("16000", "16001"))
    rows = {r.filename: r for r in weights.verify_all(lock)}
    assert rows["tiny-voc.json"].status == "mismatch" and rows["tiny-cnn.json"].status == "ok"
    result = CliRunner().invoke(app, ["verify"])
    assert isinstance(result.exception, WeightsError) and "tiny-voc.json" in str(result.exception)
    (bundled.parent / "weights" / "tiny-cnn.safetensors").unlink()
    rows = {r.filename: r for r in weights.verify_all(lock)}
    assert rows["tiny-cnn.safetensors"].status == "missing"


def test_verify_reports_uncached_hub_files_without_failing(hf_lock: Path) -> None:
    rows = weights.verify_all(weights.load_lock(user=None))
    assert {r.status for r in rows} == {"not-cached"}
    assert CliRunner().invoke(app, ["verify"]).exit_code == 0


def test_list_json(bundled: Path) -> None:
    weights.resolve(weights.load_lock(user=None), "tiny-cnn", "tdcnn")
    result = CliRunner().invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["tiny-cnn"]["verified"] and rows["tiny-cnn"]["default"]
    assert rows["tiny-voc"]["present"] and not rows["tiny-voc"]["verified"]
    assert rows["tiny-cnn"]["source"] == "bundled:weights/"


def test_list_table_keeps_whole_names_in_an_80_column_log() -> None:
    # stderr to a file or a pipe: rich lays the table out at 80 columns, where it used to cut
    # the shipped models' names short ("seanet-piano-16…"), the one thing a reader copies.
    src = str(ROOT / "src")
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = [sys.executable, "-m", "tdpr_cli", "weights", "list"]
    names = [r["name"] for r in json.loads(subprocess.run([*run, "--json"], capture_output=True, text=True,
                                                           env=env, check=True).stdout)]
    table = subprocess.run(run, capture_output=True, text=True, env=env, check=True).stderr
    assert len(names) > 3 and max(map(len, names)) > 20
    cells = {cell.strip() for line in table.splitlines() for cell in line.split("│")}
    assert set(names) <= cells, sorted(set(names) - cells)
    assert max(map(len, table.splitlines())) <= 80


def test_command_module_imports_no_heavy_libraries() -> None:
    code = ("import sys, tdpr_cli.commands.weights, tdpr_cli.weights.resolve; "
            "print([m for m in ('torch', 'huggingface_hub', 'numpy') if m in sys.modules])")
    src = str(ROOT / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "[]", out.stderr


def test_load_vocoders_gives_lock_and_local_vocoders_by_key_and_no_tdcnn():
    from pathlib import Path

    from tdpr_cli.models.vocoder import Vocoder
    from tdpr_cli.restore.load import load_vocoders

    local = Path(__file__).resolve().parents[1] / "src/tdpr_cli/weights/bundled/vocoder-piano-16k-gan-lock.safetensors"
    got = load_vocoders(["vocoder-piano-16k"], [local])
    assert list(got) == ["vocoder-piano-16k", str(local)] and all(isinstance(m, Vocoder) for m in got.values())


def test_a_deferred_load_refuses_weights_changed_since_verification(tiny_env):
    # restore verifies the models up front and loads them when a file first needs them
    # (restore.load.LazyRestorer); a file replaced in between is refused, not loaded.
    from tdpr_cli.config import RestoreConfig
    from tdpr_cli.device import Precision
    from tdpr_cli.errors import ModelsUnavailable
    from tdpr_cli.restore.load import LazyRestorer, ModelChoice, still_verified
    from tdpr_cli.weights import verify as hashing

    lazy = LazyRestorer(ModelChoice(offline=True), RestoreConfig(), "cpu", Precision.FP32, 1)
    assert lazy._restorer is None and set(lazy.info) == {"tdcnn", "vocoder"}
    model = lazy.found.vocoder
    data = bytearray(model.weights_path.read_bytes())
    data[-1] ^= 0xFF
    model.weights_path.write_bytes(bytes(data))
    with pytest.raises(ModelsUnavailable, match="changed since it was verified") as err:
        lazy.get()
    assert err.value.exit_code == 3  # a weights error's code
    data[-1] ^= 0xFF
    model.weights_path.write_bytes(bytes(data))  # the verified bytes again, in a touched file
    assert not hashing.is_verified(model.weights_path, model.sha256)
    still_verified(model)  # re-hashed, accepted, and remembered
    assert hashing.is_verified(model.weights_path, model.sha256)


def test_a_failed_build_is_raised_again_not_retried(tiny_env, tmp_path, monkeypatch):
    from tdpr_cli.config import RestoreConfig
    from tdpr_cli.device import Precision
    from tdpr_cli.errors import ModelsUnavailable, WeightsError
    from tdpr_cli.restore import load
    from tdpr_cli.restore.load import LazyRestorer, ModelChoice

    calls = []

    def broken(*args):
        calls.append(args)
        raise WeightsError("weights do not fit")

    monkeypatch.setattr(load, "build_restorer", broken)
    lazy = LazyRestorer(ModelChoice(offline=True), RestoreConfig(), "cpu", Precision.FP32, 1)
    with pytest.raises(ModelsUnavailable) as first:
        lazy.get()
    with pytest.raises(ModelsUnavailable) as second:
        lazy.get()
    assert first.value is second.value and first.value.exit_code == 3 and len(calls) == 1


def test_pin_refuses_a_user_entry_that_would_shadow_a_packaged_model(tmp_path: Path) -> None:
    # Such a user lock made every later command fail (load_lock refuses it) until edited by hand.
    from tdpr_cli.errors import UsageError
    from tdpr_cli.weights.pin import write_pin

    lock = tmp_path / "weights.lock"
    lock.write_text("version = 1\n")
    with pytest.raises(UsageError, match="packaged model"):
        write_pin("vocoder-piano-16k", "vocoder", tmp_path / "mine", lock=lock)
    assert lock.read_text() == "version = 1\n"
