"""Export a model's networks to a weightless ONNX graph for the torch-free runtime (``graph.py``).

Developer-side, like pinning: it needs torch and the ``onnx`` package, which ``tdpr restore``
never imports. ``scripts/export_graphs.py`` runs it for every model in the lock and rewrites
``models/graphs/index.json``.

What goes into a graph: only the networks. The SEANet TD-CNN's U-Net (``Seanet.body``, with its
FiLM layers when conditioned) and its level head's MLP (``LevelHead.mlp``); the level head's
STFT analysis and gain curve stay in numpy (``level_np.py``), because ONNX's STFT export does
not cover the inverse. The vocoder's ConvNeXt stack up to its head (``Vocoder.frames``); its
inverse STFT is numpy's. Every parameter is an *external* initializer that names its
state-dict key (prefix ``model.``) and holds no data: the runtime supplies it from the verified
safetensors file, so weights are read through safetensors only.
"""

from __future__ import annotations

import copy
import io
import warnings
from typing import Any

import torch
from torch import Tensor, nn

from tdpr_cli.errors import UsageError
from tdpr_cli.models.base import ModelBase
from tdpr_cli.models.graph import PREFIX
from tdpr_cli.models.seanet import Seanet
from tdpr_cli.models.vocoder import Vocoder

OPSET = 17
#: Where the graph says its weights are: a path that cannot exist (not under a directory), so a
#: weight the runtime failed to supply is an error, never a read from some file of that name.
NOWHERE = "/dev/null/tdpr-weights-come-from-safetensors"


class _SeanetGraph(nn.Module):
    """Inputs x (B, in, T), then cutoff_hz (B,) if conditioned, then level_features (B, frames,
    N_FEATURES) with a level head; outputs y (B, out, T), then knots with a level head."""

    def __init__(self, model: Seanet) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        m, it = self.model, iter(inputs)
        x = next(it)
        y = m.body(x, next(it) if m.cfg.condition else None)
        return y if m.level is None else (y, m.level.mlp(next(it)))


class _VocoderGraph(nn.Module):
    def __init__(self, model: Vocoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, mel: Tensor) -> Tensor:
        return self.model.frames(mel)


def _spec(model: ModelBase) -> tuple[nn.Module, tuple[Tensor, ...], list[str], list[str], dict[str, Any]]:
    """(wrapper, example inputs, input names, output names, facts the runtime needs)."""
    if isinstance(model, Seanet):
        stride = model.total_stride
        t = 4 * stride  # aligned: the runtime pads to the stride itself (the U-Net's pad is traced)
        args: list[Tensor] = [torch.randn(2, model.cfg.in_channels, t)]
        names, outs = ["x"], ["y"]
        if model.cfg.condition:
            args.append(torch.full((2,), 3000.0))
            names.append("cutoff_hz")
        if model.level is not None:
            from tdpr_cli.models.level_np import N_FEATURES

            args.append(torch.randn(2, t // 128 + 1, N_FEATURES))
            names.append("level_features")
            outs.append("knots")
        facts = {"total_stride": stride, "conditioned": model.cfg.condition, "level_head": model.level is not None}
        return _SeanetGraph(model), tuple(args), names, outs, facts
    if isinstance(model, Vocoder):
        c = model.cfg
        facts = {"n_fft": c.n_fft, "hop": c.hop, "n_mels": c.n_mels}
        return _VocoderGraph(model), (torch.randn(2, c.n_mels, 9),), ["mel"], ["frames"], facts
    raise UsageError(f"no ONNX graph for {model.arch} models: they run on torch")


def _dynamic_axes(names: list[str]) -> dict[str, dict[int, str]]:
    axes = {"x": {0: "batch", 2: "samples"}, "y": {0: "batch", 2: "samples"}, "cutoff_hz": {0: "batch"},
            "level_features": {0: "batch", 1: "frames"}, "knots": {0: "batch", 1: "frames"},
            "mel": {0: "batch", 2: "frames"}, "frames": {0: "batch", 2: "frames"}}
    return {n: axes[n] for n in names}


def export_graph(model: ModelBase) -> tuple[bytes, dict[str, Any]]:
    """(weightless ONNX graph, its index entry without file and sha256) for ``model``.

    The entry names the model's kind, its external initializers (state-dict keys with
    ``PREFIX``), all its state-dict keys (what a weights file must hold, no more, no less), and
    the facts the runtime needs (stride, conditioning, level head, STFT sizes).
    """
    import onnx

    model = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        # Distinct values in every parameter: the exporter merges initializers with equal data
        # (the ones and zeros of fresh LayerNorms), which would leave parameters unnamed.
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    wrapper, args, inputs, outputs, facts = _spec(model)
    buf = io.BytesIO()
    # No constant folding: every weight stays an initializer named after its parameter
    # (folding would bake transposed copies under generated names).
    with warnings.catch_warnings():
        # Tracer warnings about Python ints (the stride padding): the runtime pads to the stride.
        warnings.simplefilter("ignore")
        # export() writes to a path or a buffer; its annotation names paths only.
        torch.onnx.export(wrapper.eval(), args, buf, dynamo=False, opset_version=OPSET,  # type: ignore[arg-type]
                          input_names=inputs, output_names=outputs, dynamic_axes=_dynamic_axes(inputs + outputs),
                          do_constant_folding=False)
    graph = onnx.load_from_string(buf.getvalue())
    keys = set(model.state_dict())
    external = []
    for t in graph.graph.initializer:
        key = t.name.removeprefix(PREFIX)
        if t.name == key:
            continue  # a constant of the export (a shape, a scale): it stays in the graph
        if key not in keys:
            raise UsageError(f"graph initializer {t.name} names no parameter of the model")
        t.ClearField("raw_data")
        del t.external_data[:]
        t.data_location = onnx.TensorProto.EXTERNAL
        t.external_data.add(key="location", value=NOWHERE)
        external.append(t.name)
    _expand_elu(graph)
    entry = {"arch": model.arch, "kind": model.kind, "initializers": sorted(external),
             "state_keys": sorted(keys), **facts}
    return graph.SerializeToString(), entry


def _expand_elu(model: Any) -> None:
    """Rewrite every ``Elu`` (alpha 1) of an ``onnx.ModelProto`` as ``Max(x, Exp(Min(x, 0)) - 1)``, in place.

    Why: ONNX Runtime's Elu kernel is scalar, 1.8 ns an element on the AVX2 CPU this project
    targets, and SEANet's 58 ELUs were 35 % of the TD-CNN's time; its Min, Exp, Sub and Max are
    vectorised, 0.85 ns for the four (issue 14). The same function: for x > 0 the second operand
    is 0, and for x <= 0, exp(x) - 1 >= x. Differences are float rounding (6e-8).
    """
    import onnx
    from onnx import helper

    def alpha(node: Any) -> float:
        return next((a.f for a in node.attribute if a.name == "alpha"), 1.0)

    graph = model.graph
    nodes = list(graph.node)
    if not any(n.op_type == "Elu" and alpha(n) == 1.0 for n in nodes):
        return
    zero, one = "elu_rewrite_zero", "elu_rewrite_one"
    graph.initializer.extend([helper.make_tensor(zero, onnx.TensorProto.FLOAT, [], [0.0]),
                              helper.make_tensor(one, onnx.TensorProto.FLOAT, [], [1.0])])
    out = []
    for i, n in enumerate(nodes):
        if n.op_type != "Elu" or alpha(n) != 1.0:
            out.append(n)
            continue
        x, y, tag = n.input[0], n.output[0], f"elu_rewrite_{i}"
        out += [helper.make_node("Min", [x, zero], [f"{tag}_neg"], name=f"{tag}_min"),
                helper.make_node("Exp", [f"{tag}_neg"], [f"{tag}_exp"], name=f"{tag}_exp"),
                helper.make_node("Sub", [f"{tag}_exp", one], [f"{tag}_em1"], name=f"{tag}_sub"),
                helper.make_node("Max", [x, f"{tag}_em1"], [y], name=f"{tag}_max")]
    del graph.node[:]
    graph.node.extend(out)
