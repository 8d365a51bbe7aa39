import numpy as np
import pytest

from tdpr_cli.config import ChunkConfig
from tdpr_cli.dsp.chunking import Chunker, OverlapAdd, fade_window, run_chunked

CFG = ChunkConfig(hop=2048, fade=512, context=1024, align=512)


def _run(x, cfg, process, block=777):
    blocks = [x[:, i : i + block] for i in range(0, x.shape[1], block)]
    parts = list(run_chunked(blocks, cfg, x.shape[0], process))
    return np.concatenate(parts, axis=1)


@pytest.mark.parametrize("length", [1, 100, 2047, 2048, 2560, 2561, 5000, 33333])
def test_identity_reproduces_input(length):
    x = np.random.default_rng(length).standard_normal((2, length)).astype(np.float32)
    y = _run(x, CFG, lambda chunks: [c.data for c in chunks])
    assert y.shape == x.shape  # the last partial chunk is not dropped
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_empty_stream_gives_empty_output():
    parts = list(run_chunked([], CFG, 1, lambda chunks: [c.data for c in chunks]))
    assert sum(p.shape[1] for p in parts) == 0


def test_context_is_real_neighbouring_audio():
    x = np.arange(10000, dtype=np.float32)[None]
    chunker = Chunker(CFG, 1)
    chunks = list(chunker.feed(x)) + list(chunker.finish())
    for c in chunks:
        lo = c.start - CFG.context
        expect = np.array([v if 0 <= v < 10000 else 0 for v in range(lo, lo + c.data.shape[1])], np.float32)
        np.testing.assert_array_equal(c.data[0], expect)
        assert (c.start - CFG.context) % CFG.align == 0


def test_chunked_local_filter_matches_one_shot():
    # A causal-free FIR shorter than the context: chunked output equals one-shot everywhere.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 20000)).astype(np.float32)
    h = rng.standard_normal(301).astype(np.float32)
    full = np.convolve(x[0], h, mode="same")[None]
    y = _run(x, CFG, lambda chunks: [np.convolve(c.data[0], h, mode="same")[None] for c in chunks])
    np.testing.assert_allclose(y, full, atol=1e-4)


def test_fade_windows_sum_to_one():
    w = fade_window(2560, 512, True, True)
    overlap = w[-512:] + w[:512]
    np.testing.assert_allclose(overlap, 1.0, atol=1e-12)
    assert fade_window(2560, 512, False, False).min() == 1.0


def test_memory_is_bounded():
    chunker, ola = Chunker(CFG, 1), OverlapAdd(CFG, 1)
    peak = 0
    for _ in range(200):
        for c in chunker.feed(np.zeros((1, 4096), np.float32)):
            ola.add(c, c.data)
        peak = max(peak, chunker.buf.shape[1], ola.acc.shape[1])
    assert peak < 4 * (CFG.hop + CFG.fade + 2 * CFG.context)


def test_chunk_config_validates():
    from tdpr_cli.errors import UsageError

    with pytest.raises(UsageError):
        ChunkConfig(hop=1000)
    with pytest.raises(UsageError):
        ChunkConfig(hop=512, fade=1024)
    cfg = ChunkConfig.from_seconds(5.0)
    assert cfg.hop % 512 == 0 and cfg.hop % 256 == 0


@pytest.mark.parametrize("grid", [512, 1024, 2048, 4096])
@pytest.mark.parametrize("seconds", [0.3, 1.0, 2.5, 4.8, 7.77, 14.4])
def test_aligned_plan_is_within_a_grid_step_of_the_plan_made_on_that_grid(seconds, grid):
    # The restore builds its plan once (--chunk-seconds, 512-sample grid) and moves it onto the
    # model's grid; rounding twice may move a length by one grid step, never more, and the
    # default 4.8 s plan not at all.
    moved, direct = ChunkConfig.from_seconds(seconds).aligned(grid), ChunkConfig.from_seconds(seconds, align=grid)
    assert moved.align == grid
    for name in ("hop", "fade", "context"):
        assert abs(getattr(moved, name) - getattr(direct, name)) <= grid
    if seconds == 4.8:
        assert moved == direct


def test_aligned_keeps_a_custom_context_and_fade():
    plan = ChunkConfig(hop=20_480, fade=1_024, context=0, align=512).aligned(1024)
    assert (plan.hop, plan.fade, plan.context, plan.align) == (20_480, 1_024, 0, 1024)
    assert ChunkConfig(hop=512, fade=512, context=512, align=512).aligned(2048) == ChunkConfig(2048, 2048, 0, 2048)
    assert plan.aligned(256) is plan  # already on a finer grid: nothing moves
