"""Shared network blocks: RevIN, decomposition, attention projections."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsformer.nn.layers import (AttentionLayer, Dropout, FullAttention, RevIN, SeriesDecomposition, decompose, dropout,
                               moving_average)
from tsformer.nn.layers.dropout import dropout_mask


def test_revin_normalize_denormalize_is_identity_and_stateless():
    torch.manual_seed(0)
    x = torch.randn(4, 32, 3) * 5 + 7
    for affine in (False, True):
        revin = RevIN(3, affine=affine)
        if affine:
            with torch.no_grad():
                revin.weight.uniform_(0.5, 2.0)
                revin.bias.uniform_(-1, 1)
        z, stats = revin.normalize(x)
        torch.testing.assert_close(revin.denormalize(z, stats), x, rtol=1e-5, atol=1e-4)
        if not affine:
            torch.testing.assert_close(z.mean(1), torch.zeros(4, 3), atol=1e-5, rtol=0)
        assert not any(isinstance(v, torch.Tensor) for k, v in vars(revin).items() if not k.startswith("_"))


def test_decomposition_sums_to_input_and_tracks_a_ramp():
    x = torch.randn(2, 50, 3)
    seasonal, trend = SeriesDecomposition(25)(x)
    torch.testing.assert_close(seasonal + trend, x)
    ramp = torch.linspace(0, 10, 60)[None, :, None]
    trend = moving_average(ramp, 25)
    torch.testing.assert_close(trend[:, 12:-12], ramp[:, 12:-12], atol=1e-5, rtol=0)
    # numpy in, numpy out, same shapes
    arr = np.sin(np.arange(40.0))
    s, t = decompose(arr, 5)
    assert isinstance(s, np.ndarray) and s.shape == (40,)
    np.testing.assert_allclose(s + t, arr)
    assert decompose(np.ones((40, 2)), 4)[1].shape == (40, 2)  # even kernels keep the length too


def test_fused_qkv_equals_separate_projections():
    torch.manual_seed(0)
    layer = AttentionLayer(FullAttention(), d_model=16, n_heads=4)
    x = torch.randn(2, 7, 16)
    fused = layer(x, x, x)
    separate = layer(x, x.clone(), x.clone())  # different objects: the split path
    torch.testing.assert_close(fused, separate)
    mem = torch.randn(2, 5, 16)
    assert layer(x, mem, mem).shape == (2, 7, 16)


def test_causal_attention_never_looks_ahead():
    torch.manual_seed(0)
    layer = AttentionLayer(FullAttention(), d_model=8, n_heads=2).eval()
    x = torch.randn(1, 10, 8)
    y = x.clone()
    y[:, 6:] += 1.0
    torch.testing.assert_close(layer(x, x, x, causal=True)[:, :6], layer(y, y, y, causal=True)[:, :6])


def test_revin_denormalizes_a_trailing_outputs_axis():
    x = torch.randn(4, 32, 3) * 5 + 7
    revin = RevIN(3, affine=True)
    z, stats = revin.normalize(x)
    y = torch.stack([z[:, :8], z[:, :8] + 1], dim=-1)  # (B, H, C, 2)
    back = revin.denormalize(y, stats)
    torch.testing.assert_close(back[..., 0], revin.denormalize(z[:, :8], stats))
    torch.testing.assert_close(back[..., 1], revin.denormalize(z[:, :8] + 1, stats))


def test_moving_average_matrix_equals_edge_padded_pooling(monkeypatch):
    import torch.nn.functional as F

    import tsformer.nn.layers.decomposition as dec

    x = torch.randn(3, 50, 4, dtype=torch.float64)
    for k in (1, 2, 5, 24, 25, 60):
        front, back = (k - 1) // 2, k - 1 - (k - 1) // 2
        pooled = F.avg_pool1d(F.pad(x.transpose(1, 2), (front, back), mode="replicate"), k, stride=1).transpose(1, 2)
        torch.testing.assert_close(dec.moving_average(x, k), pooled)
        monkeypatch.setattr(dec, "_MATRIX_MAX_LEN", 10)  # the pooling path for long series
        torch.testing.assert_close(dec.moving_average(x, k), pooled)
        monkeypatch.setattr(dec, "_MATRIX_MAX_LEN", 1024)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # float32 inside autocast, the input's dtype out
        y = dec.moving_average(x.float(), 25)
    assert y.dtype == torch.float32


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5])
def test_dropout_drops_p_and_keeps_the_expectation(p):
    torch.manual_seed(0)
    x = torch.full((1000, 1000), 2.0, requires_grad=True)
    out = dropout(x, p)
    dropped = (out == 0).double().mean().item()
    assert abs(dropped - p) < 5 * (p * (1 - p) / x.numel()) ** 0.5 + 1 / 65536
    _, p_used = dropout_mask((1,), p)
    assert abs(p_used - p) <= 1 / 65536
    torch.testing.assert_close(out[out != 0], torch.full_like(out[out != 0], 2.0 / (1 - p_used)))
    out.sum().backward()  # the gradient is the same mask and scale
    torch.testing.assert_close(x.grad, (out.detach() != 0).float() / (1 - p_used))


def test_dropout_masks_are_independent_across_and_within_draws():
    torch.manual_seed(0)
    drop = 1.0 - dropout_mask((400_000,), 0.5)[0].view(-1, 4).double()  # one 64-bit draw feeds four elements
    corr = torch.corrcoef(drop.T)
    assert (corr - torch.eye(4)).abs().max() < 0.01
    assert (drop.mean(0) - 0.5).abs().max() < 0.005  # every 16-bit lane is uniform


def test_dropout_module_is_seeded_identity_in_eval_and_like_torch_elsewhere():
    x = torch.randn(64, 32)
    layer = Dropout(0.3)
    torch.manual_seed(1)
    a = layer(x)
    torch.manual_seed(1)
    assert torch.equal(a, layer(x)) and not torch.equal(a, x)
    assert torch.equal(layer.eval()(x), x) and torch.equal(dropout(x, 0.0), x)
    assert torch.equal(Dropout(1.0)(x), torch.zeros_like(x))
    assert Dropout(0.3).state_dict() == {}  # model files of nn.Dropout networks load unchanged
    with pytest.raises(ValueError, match="between 0 and 1"):
        dropout(x, 1.5)


def test_attention_dropout_path_matches_the_fused_kernel_without_dropout():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 9, 8) for _ in range(3))
    att = FullAttention(dropout=1e-9).train()  # the explicit CPU path, a dropout that drops nothing
    ref = torch.nn.functional.scaled_dot_product_attention
    for causal in (False, True):
        torch.testing.assert_close(att(q, k, v, causal=causal), ref(q, k, v, is_causal=causal))


def test_dropout_traces_into_one_compiled_graph():
    # inside torch.compile the mask is F.dropout's, which the generated kernels fuse (random_ cannot be traced)
    explained = torch._dynamo.explain(Dropout(0.3).train())(torch.randn(8, 16))
    assert explained.graph_count == 1 and explained.graph_break_count == 0


def test_attention_explicit_and_fused_forms_agree_on_both_sides_of_the_threshold():
    from tsformer.nn.layers.attention import EXPLICIT_MAX_SCORES
    torch.manual_seed(0)
    att = FullAttention().eval()
    for length in (7, int(EXPLICIT_MAX_SCORES ** 0.5) + 1):  # explicit below the threshold, the fused kernel above
        q, k, v = (torch.randn(1, 2, length, 8) for _ in range(3))
        for causal in (False, True):
            torch.testing.assert_close(att(q, k, v, causal=causal),
                                       torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal),
                                       rtol=1e-4, atol=1e-5)
