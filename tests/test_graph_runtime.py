"""The torch-free CPU runtime (issue 14): numpy DSP twins, ONNX graphs, and the restore on them.

Every numpy function is checked against the torch function it stands in for, each exported
graph against its torch module, and the whole restore against the torch pipeline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from tdpr_cli.config import PhaseMode, RestoreConfig, Runtime, StftConfig
from tdpr_cli.device import Precision
from tdpr_cli.dsp import phase as phase_t
from tdpr_cli.dsp import phase_np
from tdpr_cli.dsp.spectral import LogMel, Stft
from tdpr_cli.dsp.stft_np import NpStft, hann, log_mel, mel_filterbank, stft
from tdpr_cli.errors import UsageError, WeightsError

RNG = np.random.default_rng(0)


def _wave(rows: int, length: int, seed: int = 0) -> np.ndarray:
    return (0.2 * np.random.default_rng(seed).standard_normal((rows, length))).astype(np.float32)


@pytest.mark.parametrize("length", [1024, 4097, 16000, 24577])
def test_numpy_stft_and_inverse_match_torch(length):
    cfg, x = StftConfig(), _wave(2, length)
    t, n = Stft(cfg), NpStft(cfg)
    spec_t = t(torch.from_numpy(x)).numpy()
    spec_n = n(x)
    assert spec_n.shape == spec_t.shape and spec_n.dtype == np.complex64
    assert np.abs(spec_n - spec_t).max() < 1e-4 * np.abs(spec_t).max()
    back = n.inverse(spec_n, length)
    assert back.shape == (2, length) and np.abs(back - t.inverse(torch.from_numpy(spec_t), length).numpy()).max() < 1e-5
    assert np.abs(back - x).max() < 1e-5  # the pair is the identity
    longer = n.inverse(spec_n, length + 300)  # past the frames: torch's zero padding
    want = t.inverse(torch.from_numpy(spec_t), length + 300).numpy()
    assert longer.shape == want.shape and np.abs(longer - want).max() < 1e-5


def test_reflect_padded_stft_and_log_mel_match_torch():
    x = _wave(2, 9000)
    ref = torch.stft(torch.from_numpy(x), 512, 128, window=torch.hann_window(512), center=True, return_complex=True)
    assert np.abs(stft(x, 512, 128, hann(512), pad="reflect") - ref.numpy()).max() < 1e-4
    cfg = StftConfig()
    mag = np.abs(NpStft(cfg)(x))
    want = LogMel(cfg).from_magnitude(torch.from_numpy(mag)).numpy()
    assert np.abs(log_mel(mel_filterbank(cfg), mag) - want).max() < 1e-5


def test_mel_filterbank_is_slaney_normalised_triangles():
    cfg = StftConfig()
    fb = mel_filterbank(cfg).astype(np.float64)
    hz = np.linspace(0.0, 8000.0, cfg.n_fft // 2 + 1)
    assert fb.shape == (80, 513) and fb.min() == 0.0
    peaks = hz[fb.argmax(axis=1)]
    assert np.all(np.diff(peaks) >= 0) and peaks[0] < 60 and peaks[-1] > 7500  # spread over the band
    assert np.all(np.diff(peaks[:12]) < 80) and np.diff(peaks[-5:]).min() >= 240  # linear below 1 kHz, log above
    # Equal area: each triangle integrates to 1 over Hz, where it spans enough bins to sample it.
    area = fb.sum(axis=1) * (hz[1] - hz[0])
    wide = (fb > 0).sum(axis=1) >= 6
    assert wide.sum() > 50 and np.allclose(area[wide], 1.0, atol=0.05)


@pytest.mark.parametrize("cutoff,top", [(None, None), (3000.0, None), (3000.0, 4200.0), (100.0, None)])
def test_band_mask_matches_torch(cutoff, top):
    cfg = StftConfig()
    want = phase_t.band_mask(cfg, cutoff, 250.0, top).numpy()
    assert np.abs(phase_np.band_mask(cfg, cutoff, 250.0, top) - want).max() < 1e-6


@pytest.mark.parametrize("phase,consistency", [(PhaseMode.BAND, 0), (PhaseMode.PAPER, 0), (PhaseMode.BAND, 2)])
def test_phase_repair_and_kept_band_match_torch(phase, consistency):
    cfg = RestoreConfig(phase=phase, consistency=consistency)
    y, v, x = _wave(2, 12000, 1), _wave(2, 12000, 2), _wave(2, 12000, 3)
    st, ns = Stft(cfg.stft), NpStft(cfg.stft)
    want = phase_t.repair(torch.from_numpy(y), torch.from_numpy(v), 3000.0, cfg, st, top_hz=3600.0)
    got = phase_np.repair(y, v, 3000.0, cfg, ns, ns(y), top_hz=3600.0)
    assert np.abs(got - want.numpy()).max() < 1e-4
    kept_t = phase_t.keep_input_band(torch.from_numpy(x), want, 3000.0, cfg, st).numpy()
    kept_n = phase_np.keep_input_band(x, got, 3000.0, cfg, ns)
    assert np.abs(kept_n - kept_t).max() < 1e-4
    assert phase_np.repair(y, None, 3000.0, cfg, ns, ns(y)) is y


def test_level_head_numpy_matches_torch():
    from tdpr_cli.models import level_np
    from tdpr_cli.models.level import LevelHead

    torch.manual_seed(0)
    head = LevelHead()
    torch.nn.init.normal_(head.out.weight, std=0.05)  # a zero-started head would hide the gains
    x = _wave(2, 30000, 4) * np.linspace(0.01, 1.0, 30000, dtype=np.float32)
    y = x + _wave(2, 30000, 5) * 0.5
    with torch.no_grad():
        want_f = head.features(torch.from_numpy(x)[:, None]).numpy().transpose(0, 2, 1)
        feats = level_np.features(x)
        knots = head.mlp(torch.from_numpy(feats)).numpy()
        want = head(torch.from_numpy(x)[:, None], torch.from_numpy(y)[:, None])[:, 0].numpy()
    assert np.abs(feats - want_f).max() < 1e-5
    got = level_np.apply(y, knots)
    assert np.abs(got - want).max() < 1e-5 * max(1.0, float(np.abs(want).max()))
    assert np.abs(got - y).max() > 1e-3  # the head did something


def _graph_of(model, tmp_path, name):
    """(Graph, safetensors path) for ``model``: exported, weights written as tdpr exports them."""
    from tdpr_cli.digest import sha256_bytes
    from tdpr_cli.models.graph import Graph
    from tdpr_cli.models.graph_export import export_graph
    from tdpr_cli.models.load import export, load_model

    weights, config = export(model, tmp_path, name)
    model = load_model(weights, config)  # the fp16 round trip the runtime will read
    data, entry = export_graph(model)
    return Graph(data, {"file": f"{name}.onnx", "sha256": sha256_bytes(data), **entry}), weights, model


@pytest.mark.parametrize("condition,level_head", [(False, False), (True, True)])
def test_exported_seanet_graph_matches_torch(tmp_path, condition, level_head):
    pytest.importorskip("onnx")
    from tdpr_cli.models.graph import GraphTdcnn
    from tdpr_cli.models.seanet import Seanet, SeanetConfig

    torch.manual_seed(1)
    model = Seanet(SeanetConfig(channels=4, condition=condition, level_head=level_head))
    with torch.no_grad():
        for p in model.parameters():  # zero-started layers would make every model the identity
            p.add_(0.05 * torch.randn_like(p))
    graph, weights, model = _graph_of(model, tmp_path, "s")
    run = GraphTdcnn(graph, weights, 1)
    for length in (4000, 16384, 20001):  # under, on and off the stride grid
        x = _wave(2, length, length)[:, None]
        with torch.no_grad():
            want = model(torch.from_numpy(x), torch.full((2,), 3200.0)).numpy()
        got = run(x, 3200.0)
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-5


def test_elu_rewrite_is_elu_and_leaves_no_elu_in_shipped_graphs():
    """ONNX Runtime's scalar Elu is rewritten as Max(x, Exp(Min(x, 0)) - 1) (issue 14): the same
    function to float rounding, everywhere (nan, inf, large negative, tiny, zero, positive)."""
    onnx = pytest.importorskip("onnx")
    import onnxruntime as ort
    from onnx import helper

    from tdpr_cli.models.graph import GRAPH_DIR
    from tdpr_cli.models.graph_export import _expand_elu

    elu = helper.make_node("Elu", ["x"], ["y"], alpha=1.0)
    kept = helper.make_node("Elu", ["y"], ["z"], alpha=0.5)  # not alpha 1: left as it is
    io = [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [None]) for n in ("x", "z")]
    model = helper.make_model(helper.make_graph([elu, kept], "g", io[:1], io[1:]),
                              opset_imports=[helper.make_opsetid("", 17)])
    _expand_elu(model)
    assert [n.op_type for n in model.graph.node] == ["Min", "Exp", "Sub", "Max", "Elu"]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.concatenate([[np.nan, -np.inf, -1e4, -80.0, -1e-8, -0.0, 0.0, 1e-8, 1e4, np.inf],
                        np.linspace(-20, 20, 100_001)]).astype(np.float32)
    want = torch.nn.functional.elu(torch.nn.functional.elu(torch.from_numpy(x)), alpha=0.5).numpy()
    got = sess.run(None, {"x": x})[0]
    assert np.array_equal(np.isinf(got), np.isinf(want)) and np.array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    assert np.all(np.abs(got[finite] - want[finite]) <= 2e-7 * np.maximum(1.0, np.abs(want[finite])))
    for path in GRAPH_DIR.glob("*.onnx"):
        assert "Elu" not in {n.op_type for n in onnx.load_from_string(path.read_bytes()).graph.node}, path


def test_exported_vocoder_graph_matches_torch(tmp_path):
    pytest.importorskip("onnx")
    from tdpr_cli.models.graph import GraphVocoder
    from tdpr_cli.models.vocoder import Vocoder, VocoderConfig

    torch.manual_seed(2)
    graph, weights, model = _graph_of(Vocoder(VocoderConfig(dim=32, intermediate=64, layers=2)), tmp_path, "v")
    assert len(graph.entry["initializers"]) == len(list(model.parameters()))  # none merged away
    mel = np.random.default_rng(3).standard_normal((2, 80, 40)).astype(np.float32) - 3.0
    with torch.no_grad():
        want = model(torch.from_numpy(mel), 39 * 256).numpy()
    got = GraphVocoder(graph, weights, 1)(mel, 39 * 256)
    assert np.abs(got - want).max() < 1e-5


def test_shipped_graphs_are_pinned_and_cover_the_lock():
    from tdpr_cli.digest import sha256_file
    from tdpr_cli.models.graph import GRAPH_DIR, _index, has_graph
    from tdpr_cli.weights import resolve as W

    index = _index()
    for entry in index.values():
        assert sha256_file(GRAPH_DIR / entry["file"]) == entry["sha256"]
    assert {p.name for p in GRAPH_DIR.glob("*.onnx")} == {e["file"] for e in index.values()}
    for model in W.load_lock().models.values():
        cfg = json.loads(W.resolve(W.load_lock(), model.name, model.kind, offline=True).config_path.read_text())
        if cfg["arch"] in ("seanet", "vocos"):  # the architectures the runtime serves
            assert has_graph(model.config_sha256), f"{model.name}: run scripts/export_graphs.py"


def _shipped(phase: PhaseMode, runtime: Runtime):
    from tdpr_cli.restore.load import ModelChoice, build_restorer, resolve_models

    cfg = RestoreConfig(phase=phase, runtime=runtime)
    found = resolve_models(ModelChoice(offline=True), phase)
    return build_restorer(found, cfg, "cpu", Precision.FP32, 1), found


@pytest.mark.parametrize("phase", list(PhaseMode))
def test_restore_on_the_graph_runtime_matches_torch(phase):
    from conftest import band_limited

    x = np.ascontiguousarray(band_limited(seconds=6.0, channels=2).T)
    graph, _ = _shipped(phase, Runtime.AUTO)
    torch_r, _ = _shipped(phase, Runtime.TORCH)
    assert (graph.runtime, torch_r.runtime) == ("onnxruntime", "torch") and graph.threads == 1
    assert graph.cfg.chunk == torch_r.cfg.chunk
    got, want = graph.restore(x, 3000.0, 3500.0), torch_r.restore(x, 3000.0, 3500.0)
    assert got.shape == want.shape == x.shape
    # Float32 rounding. Paper mode takes the vocoder's phase in every bin, also where the
    # TD-CNN output is faint and its phase moves with the last bits (measured: max 1.1e-4,
    # rms 7e-6 against signal rms 0.15; band 4e-6, none 3e-7).
    err = got - want
    assert np.abs(err).max() < (5e-4 if phase is PhaseMode.PAPER else 2e-5)
    assert np.sqrt(np.mean(err**2)) < 5e-5 * np.sqrt(np.mean(want**2))


def test_graph_runtime_refuses_what_it_cannot_serve(tmp_path, monkeypatch):
    from tdpr_cli.models import graph as G
    from tdpr_cli.restore.load import ModelChoice, resolve_models, use_graphs

    found = resolve_models(ModelChoice(offline=True), PhaseMode.BAND)
    with pytest.raises(UsageError, match="fp32 only"):
        use_graphs(found, Runtime.ONNX, "cpu", Precision.BF16)
    assert not use_graphs(found, Runtime.AUTO, "cpu", Precision.BF16)  # auto falls back to torch
    assert not use_graphs(found, Runtime.TORCH, "cpu", Precision.FP32)
    with pytest.raises(UsageError, match="CPU only"):
        use_graphs(found, Runtime.ONNX, "cuda", Precision.FP32)
    # A graph changed after it was pinned is refused, not run.
    copy = tmp_path / "graphs"
    shutil.copytree(G.GRAPH_DIR, copy)
    monkeypatch.setattr(G, "GRAPH_DIR", copy)
    monkeypatch.setattr(G, "INDEX", copy / "index.json")
    target = copy / G._index()[found.tdcnn.config_sha256]["file"]
    target.write_bytes(target.read_bytes() + b"\0")
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        G.load_graph(found.tdcnn.config_sha256, "tdcnn")
    # Weights that lack a parameter the graph names are refused.
    from safetensors.numpy import load_file, save_file

    state = load_file(str(found.vocoder.weights_path))
    state.pop(sorted(state)[0])
    save_file(state, str(tmp_path / "short.safetensors"))
    with pytest.raises(WeightsError, match="do not fit"):
        G.session(G.load_graph(found.vocoder.config_sha256, "vocoder"), tmp_path / "short.safetensors", 1)
    state = load_file(str(found.vocoder.weights_path))
    state["stray"] = np.zeros(3, np.float32)  # torch's strict load refuses it too
    save_file(state, str(tmp_path / "long.safetensors"))
    with pytest.raises(WeightsError, match="unexpected stray"):
        G.session(G.load_graph(found.vocoder.config_sha256, "vocoder"), tmp_path / "long.safetensors", 1)
    with pytest.raises(WeightsError, match="is a vocoder, expected a tdcnn"):
        G.load_graph(found.vocoder.config_sha256, "tdcnn")
    monkeypatch.setattr(G, "INDEX", tmp_path / "none.json")
    assert not use_graphs(found, Runtime.AUTO, "cpu", Precision.FP32)  # no graph: torch
    with pytest.raises(UsageError, match="no graph"):
        use_graphs(found, Runtime.ONNX, "cpu", Precision.FP32)


def test_cli_restore_runs_without_torch(tmp_path):
    # The shipped models on the CPU: the whole restore runs on ONNX Runtime and never imports
    # torch; --runtime torch gives the same samples to one step of 16-bit PCM.
    from conftest import band_limited

    src = tmp_path / "in.wav"
    sf.write(src, band_limited(seconds=2.0, sr=44100, channels=2), 44100, subtype="PCM_16")
    code = ("import sys\nfrom tdpr_cli.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    assert e.code in (0, None), e.code\nprint('TORCH', 'torch' in sys.modules, file=sys.stderr)\n")
    outs = {}
    for runtime, torch_used in (("auto", False), ("torch", True)):
        out = outs[runtime] = tmp_path / f"{runtime}.wav"
        r = subprocess.run([sys.executable, "-c", code, "restore", str(src), str(out), "--json", "--offline",
                            "--device", "auto", "--runtime", runtime, "--threads", "1"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        rec = json.loads(r.stdout)
        assert rec["runtime"] == ("onnxruntime" if runtime == "auto" else "torch") and rec["threads"] == 1
        if not torch_used:  # auto on a machine with a GPU driver asks torch for CUDA
            from tdpr_cli.device import gpu_driver_present

            torch_used = gpu_driver_present()
        assert f"TORCH {torch_used}" in r.stderr
    a, b = (sf.read(outs[k], dtype="int16")[0].astype(int) for k in ("auto", "torch"))
    assert a.shape == b.shape and np.abs(a - b).max() <= 1


def test_every_lock_model_with_a_graph_matches_torch():
    # Each shipped architecture's graph against its torch module, on its own weights.
    from tdpr_cli.models.graph import GraphTdcnn, GraphVocoder, has_graph, load_graph
    from tdpr_cli.models.load import load_model
    from tdpr_cli.weights import resolve as W

    lock, checked = W.load_lock(), 0
    x = _wave(2, 8192, 7)
    mel = np.random.default_rng(8).standard_normal((2, 80, 33)).astype(np.float32) - 3.0
    for entry in lock.models.values():
        if not has_graph(entry.config_sha256):
            continue
        found = W.resolve(lock, entry.name, entry.kind, offline=True)
        model = load_model(found.weights_path, found.config_path, entry.kind)
        graph = load_graph(entry.config_sha256, entry.kind)
        with torch.no_grad():
            if entry.kind == "tdcnn":
                want = model(torch.from_numpy(x)[:, None], torch.full((2,), 3000.0)).numpy()
                got = GraphTdcnn(graph, found.weights_path, 1)(x[:, None], 3000.0)
            else:
                want = model(torch.from_numpy(mel), 32 * 256).numpy()
                got = GraphVocoder(graph, found.weights_path, 1)(mel, 32 * 256)
        assert np.abs(got - want).max() < 1e-5, entry.name
        checked += 1
    assert checked >= 2


def test_shipped_graphs_name_exactly_the_weights_they_are_given():
    # A weight the graph marks external but the index forgets would be looked for on disk;
    # the export points such weights nowhere, and here the lists must agree exactly.
    onnx = pytest.importorskip("onnx")
    from safetensors.numpy import load_file

    from tdpr_cli.models.graph import GRAPH_DIR, PREFIX, _index
    from tdpr_cli.models.graph_export import NOWHERE
    from tdpr_cli.weights import resolve as W

    lock = W.load_lock()
    for config_sha, entry in _index().items():
        graph = onnx.load_from_string((GRAPH_DIR / entry["file"]).read_bytes())
        external = {t.name for t in graph.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL}
        assert external == set(entry["initializers"])
        assert all(d.value == NOWHERE for t in graph.graph.initializer for d in t.external_data if d.key == "location")
        for model in (m for m in lock.models.values() if m.config_sha256 == config_sha):
            keys = set(load_file(str(W.resolve(lock, model.name, model.kind, offline=True).weights_path)))
            assert keys == set(entry["state_keys"]) and {n.removeprefix(PREFIX) for n in external} <= keys


def test_weights_the_graph_runtime_cannot_read_run_on_torch(tmp_path, monkeypatch):
    # bf16 weights (numpy has no bf16) and a missing onnxruntime: auto takes torch, an explicit
    # --runtime onnxruntime is refused with the reason.
    import dataclasses

    from safetensors.torch import load_file, save_file

    from tdpr_cli.models.graph import session
    from tdpr_cli.restore.load import ModelChoice, resolve_models, use_graphs

    found = resolve_models(ModelChoice(offline=True), PhaseMode.BAND)
    bf16 = tmp_path / "bf16.safetensors"
    save_file({k: v.to(torch.bfloat16) if v.is_floating_point() else v
               for k, v in load_file(str(found.tdcnn.weights_path)).items()}, str(bf16))
    odd = dataclasses.replace(found, tdcnn=dataclasses.replace(found.tdcnn, weights_path=bf16))
    assert not use_graphs(odd, Runtime.AUTO, "cpu", Precision.FP32)
    with pytest.raises(UsageError, match="BF16 weights"):
        use_graphs(odd, Runtime.ONNX, "cpu", Precision.FP32)
    from tdpr_cli.models.graph import load_graph

    with pytest.raises(WeightsError, match="BF16"):
        session(load_graph(found.tdcnn.config_sha256, "tdcnn"), bf16, 1)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # an import of it now fails
    assert not use_graphs(found, Runtime.AUTO, "cpu", Precision.FP32)
    with pytest.raises(UsageError, match="onnxruntime package"):
        use_graphs(found, Runtime.ONNX, "cpu", Precision.FP32)


def test_graph_runtime_loads_only_weights_still_verified(tmp_path, monkeypatch):
    # The deferred build re-checks the resolved files on the graph path too.
    import dataclasses

    from tdpr_cli.restore.load import ModelChoice, build_restorer, resolve_models

    found = resolve_models(ModelChoice(offline=True), PhaseMode.BAND)
    copy = tmp_path / "w.safetensors"
    shutil.copy(found.tdcnn.weights_path, copy)
    moved = dataclasses.replace(found, tdcnn=dataclasses.replace(found.tdcnn, weights_path=copy))
    build_restorer(moved, RestoreConfig(runtime=Runtime.ONNX), "cpu", Precision.FP32, 1)
    data = bytearray(copy.read_bytes())
    data[-1] ^= 1  # the file changes after it was verified
    copy.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="changed since it was verified"):
        build_restorer(moved, RestoreConfig(runtime=Runtime.ONNX), "cpu", Precision.FP32, 1)


def test_short_chunks_in_batches_match_torch():
    # Several chunks per forward pass, a last chunk shorter than the rest, a file shorter than
    # one chunk: the two runtimes still agree.
    import dataclasses

    from conftest import band_limited
    from tdpr_cli.config import ChunkConfig

    graph, _ = _shipped(PhaseMode.BAND, Runtime.AUTO)
    torch_r, _ = _shipped(PhaseMode.BAND, Runtime.TORCH)
    cfg = dataclasses.replace(graph.cfg, batch_size=3, chunk=ChunkConfig.from_seconds(0.7, align=graph.cfg.chunk.align))
    graph.cfg, torch_r.cfg = cfg, dataclasses.replace(torch_r.cfg, batch_size=3, chunk=cfg.chunk)
    for seconds in (2.3, 0.4):
        x = np.ascontiguousarray(band_limited(seconds=seconds, channels=2).T)
        got, want = graph.restore(x, 3000.0), torch_r.restore(x, 3000.0)
        assert got.shape == want.shape == x.shape and np.abs(got - want).max() < 2e-5


def test_cli_refuses_a_runtime_that_cannot_serve_before_any_work(tmp_path, wav_in):
    out = tmp_path / "o.wav"
    r = subprocess.run([sys.executable, "-m", "tdpr_cli", "restore", str(wav_in), str(out), "--offline",
                        "--runtime", "onnxruntime", "--precision", "bf16"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--runtime onnxruntime runs in fp32 only, not bf16" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("runtime", [Runtime.ONNX, Runtime.TORCH])
def test_the_restorer_runs_the_callers_chunk_plan(runtime):
    # A custom plan (here no context) used to be dropped for one rebuilt from 4.8 s defaults.
    from tdpr_cli.config import ChunkConfig
    from tdpr_cli.restore.load import ModelChoice, build_restorer, resolve_models

    plan = ChunkConfig(hop=24_576, fade=2_048, context=0)
    cfg = RestoreConfig(phase=PhaseMode.NONE, runtime=runtime, chunk=plan)
    restorer = build_restorer(resolve_models(ModelChoice(offline=True), cfg.phase), cfg, "cpu", Precision.FP32, 1)
    assert restorer.cfg.chunk == plan


@pytest.mark.parametrize("runtime", [Runtime.ONNX, Runtime.TORCH])
def test_models_are_built_from_the_bytes_that_were_hashed(tmp_path, monkeypatch, runtime):
    # A file swapped after the last check (still_verified) and before the load is refused by
    # the load itself: the weights are read once, hashed, and built from those bytes.
    import dataclasses

    from tdpr_cli.restore import load
    from tdpr_cli.restore.load import ModelChoice, build_restorer, resolve_models

    found = resolve_models(ModelChoice(offline=True), PhaseMode.BAND)
    copy = tmp_path / "w.safetensors"
    data = bytearray(found.tdcnn.weights_path.read_bytes())
    data[-1] ^= 1  # a valid safetensors file still, with other weights
    copy.write_bytes(bytes(data))
    moved = dataclasses.replace(found, tdcnn=dataclasses.replace(found.tdcnn, weights_path=copy))
    monkeypatch.setattr(load, "still_verified", lambda model: None)  # the window after the check
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        build_restorer(moved, RestoreConfig(runtime=runtime), "cpu", Precision.FP32, 1)
    copy.write_bytes(found.tdcnn.weights_path.read_bytes())
    assert build_restorer(moved, RestoreConfig(runtime=runtime), "cpu", Precision.FP32, 1) is not None
