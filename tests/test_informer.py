"""Informer's mechanisms: ProbSparse attention, self-attention distilling, the generative decoder."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from tsformer.datasets import make_synthetic
from tsformer.nn import Informer
from tsformer.nn.informer import decoder_input
from tsformer.nn.layers import AttentionLayer, DistillingLayer, Encoder, EncoderLayer, FullAttention, ProbSparseAttention
from tsformer.nn.layers.probsparse import _running_top_u, n_active_queries, n_sampled_keys, sparsity_measure

from .conftest import tiny


def qkv(B=2, H=2, L=20, S=None, E=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    S = L if S is None else S
    return (torch.randn(B, H, L, E, generator=g), torch.randn(B, H, S, E, generator=g),
            torch.randn(B, H, S, E, generator=g))


def full(q, k, v, causal=False):
    return FullAttention()(q, k, v, causal=causal)


def test_sizes_follow_factor_times_log_length():
    assert n_active_queries(5, 96) == 5 * math.ceil(math.log(96)) == 25
    assert n_sampled_keys(5, 48) == 20
    assert n_active_queries(5, 10) == 10  # never more than the queries


@pytest.mark.parametrize("causal", [False, True])
def test_every_query_active_and_every_key_sampled_equals_full_attention(causal):
    q, k, v = qkv(L=16)
    attn = ProbSparseAttention(n_top=16, n_sample=16).eval()
    torch.testing.assert_close(attn(q, k, v, causal=causal), full(q, k, v, causal), rtol=1e-5, atol=1e-5)
    # also when u >= L_Q comes from the factor (c ceil(ln L) = 15 >= L = 12)
    q, k, v = qkv(L=12)
    torch.testing.assert_close(ProbSparseAttention(factor=5)(q, k, v, causal=causal), full(q, k, v, causal),
                               rtol=1e-5, atol=1e-5)


def test_cross_attention_with_more_keys_than_queries():
    q, k, v = qkv(L=12, S=30)
    out = ProbSparseAttention(n_top=12, n_sample=30).eval()(q, k, v)
    torch.testing.assert_close(out, full(q, k, v), rtol=1e-5, atol=1e-5)


def test_only_the_top_u_queries_differ_from_the_mean_of_v():
    q, k, v = qkv(L=40)
    u = 5
    attn = ProbSparseAttention(n_top=u, n_sample=40).eval()  # exact measurement: the selection is known
    out = attn(q, k, v)
    mean_v = v.mean(dim=-2, keepdim=True)
    differs = ~torch.isclose(out, mean_v.expand_as(out), atol=1e-6).all(-1)  # (B, H, L)
    assert (differs.sum(-1) == u).all()
    scores = q @ k.transpose(-2, -1)
    expected = (scores.amax(-1) - scores.mean(-1)).topk(u, dim=-1).indices
    assert (differs.gather(-1, expected)).all()  # exactly the queries with the largest max-mean measure
    # and the active rows are full attention for those queries
    ref = full(q, k, v)
    rows = expected[..., None].expand(-1, -1, -1, 8)
    torch.testing.assert_close(out.gather(2, rows), ref.gather(2, rows), rtol=1e-5, atol=1e-5)


def test_sampled_measure_approximates_the_exact_one():
    q, k, v = qkv(L=200, E=16)
    scores = q @ k.transpose(-2, -1)
    exact = sparsity_measure(scores)
    torch.testing.assert_close(ProbSparseAttention(n_sample=200).measure(q, k), exact)
    sampled = ProbSparseAttention(n_sample=40).eval().measure(q, k)
    assert sampled.shape == exact.shape == (2, 2, 200) and not torch.allclose(sampled, exact)
    corr = torch.corrcoef(torch.stack([sampled.flatten(), exact.flatten()]))[0, 1]
    assert corr > 0.5, corr
    # evaluation mode samples reproducibly; training mode draws new keys
    torch.testing.assert_close(ProbSparseAttention(n_sample=40).eval().measure(q, k), sampled)
    assert not torch.allclose(ProbSparseAttention(n_sample=40).train().measure(q, k), sampled)


def test_causal_variant_never_looks_ahead():
    q, k, v = qkv(L=64)
    attn = ProbSparseAttention(factor=2)  # u = U = 10 of 64: sparse and sampled
    t = 37
    q2, k2, v2 = q.clone(), k.clone(), v.clone()
    for x in (q2, k2, v2):
        x[:, :, t:] += torch.randn_like(x[:, :, t:]) * 3
    for mode in (attn.eval(), attn.train()):
        torch.manual_seed(1)
        a = mode(q, k, v, causal=True)
        torch.manual_seed(1)
        b = mode(q2, k2, v2, causal=True)
        torch.testing.assert_close(a[:, :, :t], b[:, :, :t], rtol=0, atol=1e-6)
        assert not torch.allclose(a[:, :, t:], b[:, :, t:])


@pytest.mark.parametrize("causal", [False, True])
def test_the_measure_keeps_no_autograd_graph(causal):
    """The query ranking reaches the output only as indices: its sampled scores are never saved for backward."""
    q, k, v = (t.requires_grad_() for t in qkv(L=96))
    attn = ProbSparseAttention(factor=2).train()
    grads_on = []
    measure = attn.measure
    attn.measure = lambda *a, **kw: grads_on.append(torch.is_grad_enabled()) or measure(*a, **kw)
    attn(q, k, v, causal=causal).sum().backward()
    assert grads_on == [False]
    assert q.grad is not None and k.grad is not None and v.grad is not None


def test_causal_row_rounding_changes_no_output(monkeypatch):
    """The causal variant computes a multiple of 8 query rows (fewer tensor sizes); the extra rows are lazy ones."""
    import tsformer.nn.layers.probsparse as probsparse

    q, k, v = qkv(L=64)
    attn = ProbSparseAttention(factor=2).eval()
    rounded = attn(q, k, v, causal=True)
    monkeypatch.setattr(probsparse, "_ROW_MULTIPLE", 1)
    torch.testing.assert_close(attn(q, k, v, causal=True), rounded, rtol=0, atol=1e-6)


def test_causal_lazy_queries_take_the_cumulative_sum_of_v():
    q, k, v = qkv(L=64)
    attn = ProbSparseAttention(n_top=3, n_sample=64).eval()
    out = attn(q, k, v, causal=True)
    lazy = torch.isclose(out, v.cumsum(-2), atol=1e-5).all(-1)
    assert lazy.sum(-1).min() > 30  # most queries are lazy
    assert not lazy[..., 1:3].any()  # the first u are always active (at 0, attention and the sum agree: v_0)


def test_running_top_u_matches_its_definition():
    torch.manual_seed(0)
    m = torch.randn(2, 3, 150)
    for u in (1, 4, 70):
        active = _running_top_u(m, u, chunk=16)
        greater_before = ((m[..., None, :] >= m[..., :, None]) & torch.ones(150, 150, dtype=torch.bool).tril(-1)).sum(-1)
        assert torch.equal(active, greater_before < u)


@pytest.mark.parametrize("length", [96, 97, 7, 1])
def test_distilling_halves_the_length(length):
    layer = DistillingLayer(8)
    assert layer(torch.randn(2, length, 8)).shape == (2, math.ceil(length / 2), 8)


def test_distilling_encoder_halves_at_every_layer():
    d = 16
    layers = [EncoderLayer(AttentionLayer(ProbSparseAttention(), d_model=d, n_heads=2), d, 32) for _ in range(3)]
    encoder = Encoder(layers, between=[DistillingLayer(d) for _ in range(2)])
    seen = []
    for layer in encoder.layers:
        layer.register_forward_hook(lambda mod, inp, out: seen.append(out.shape[1]))
    assert encoder(torch.randn(2, 95, d)).shape == (2, 24, d)
    assert seen == [95, 48, 24]


def net(**kw):
    torch.manual_seed(0)
    return Informer(**{"n_vars": 3, "lookback": 48, "horizon": 12, "n_marks": 4, "label_len": 24, "d_model": 16,
                       "n_heads": 2, "e_layers": 2, "d_layers": 1, "d_ff": 32, "dropout": 0.0, **kw}).eval()


def test_decoder_input_is_start_token_then_placeholders():
    x = torch.randn(2, 48, 3)
    dec = decoder_input(x, 12, 24)
    assert dec.shape == (2, 36, 3)
    torch.testing.assert_close(dec[:, :24], x[:, -24:])
    assert (dec[:, 24:] == 0).all()


def test_informer_forecasts_the_horizon_from_the_lookback_and_future_timestamps():
    model = net()
    x, x_mark, y_mark = torch.randn(4, 48, 3), torch.randn(4, 48, 4), torch.randn(4, 12, 4)
    y = model(x, x_mark, y_mark)
    assert y.shape == (4, 12, 3)
    # the future steps' calendar features reach the forecast through the decoder
    assert not torch.allclose(model(x, x_mark, y_mark + 1), y)
    # only the decoder's start token and the encoder see the lookback: history before it is irrelevant
    assert net(n_outputs=3)(x, x_mark, y_mark).shape == (4, 12, 3, 3)
    assert net(label_len=0)(x, x_mark, y_mark).shape == (4, 12, 3)
    with pytest.raises(ValueError, match="label_len"):
        net(label_len=49)


def test_probsparse_layers_drop_nothing_and_cross_attention_drops_out_as_in_the_reference_code():
    model = net(dropout=0.3)
    prob = [m for m in model.modules() if isinstance(m, ProbSparseAttention)]
    full = [m for m in model.modules() if isinstance(m, FullAttention)]
    assert len(prob) == 3 and len(full) == 1                      # 2 encoder + 1 decoder self-attention; 1 cross
    assert all(m.dropout.p == 0 for m in prob) and full[0].dropout == 0.3


def test_informer_without_distilling_or_marks():
    assert net(distil=False, n_marks=0)(torch.randn(2, 48, 3)).shape == (2, 12, 3)


def test_the_papers_informer_learns_a_seasonal_series():
    # no instance normalization (the paper's setting): data without a trend, so the test rows stay in range
    df = make_synthetic(n_steps=1500, n_series=3, freq="h", seed=3, periods=(24,), noise=0.05, trend=0.0)
    est = tiny("informer", use_norm=False, max_epochs=4, val_size=120, lookback=48, horizon=12).fit(df.iloc[:1200])
    model = est.evaluate(df, start=1200, scale="standardized")
    z = est.scaler_.transform(df.to_numpy())
    starts = np.arange(1200 - 48, len(df) - 48 - 12 + 1)
    naive = np.mean([(z[s + 48:s + 60] - z[s + 47]) ** 2 for s in starts])
    assert model["mse"] < 0.5 * naive, (model, naive)


def test_sampled_scores_are_the_same_on_the_dense_and_the_gathered_path(monkeypatch):
    import tsformer.nn.layers.probsparse as ps

    q, k, v = qkv(L=120, E=8)
    attn = ProbSparseAttention(n_sample=20).eval()
    dense = attn.measure(q, k), attn.measure(q, k, causal=True)
    monkeypatch.setattr(ps, "_DENSE_RATIO", 0)
    monkeypatch.setattr(ps, "_GATHER_ELEMENTS", 2 * 2 * 20 * 8 * 7)  # blocks of 7 queries
    gathered = attn.measure(q, k), attn.measure(q, k, causal=True)
    for a, b in zip(dense, gathered):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


class _Values(torch.nn.Module):
    """An inner attention that returns the values: the layer's head merge is then all there is to see."""

    def forward(self, q, k, v, *, causal=False):
        return v


def test_mix_reads_each_samples_head_outputs_in_row_major_order():
    B, L, H, E = 2, 10, 4, 3
    layer = AttentionLayer(_Values(), d_model=H * E, n_heads=H, mix=True)
    layer.out = torch.nn.Identity()
    x = torch.randn(B, L, H * E)
    v = layer.project(x, x, x)[2]  # (B, H, L, E)
    expected = torch.empty(B, L, H * E)
    for l in range(L):
        for j in range(H):  # the j-th block of output step l is element l*H + j of the (H*L) head-major rows
            h, t = divmod(l * H + j, L)
            expected[:, l, j * E:(j + 1) * E] = v[:, h, t]
    torch.testing.assert_close(layer(x, x, x), expected, rtol=0, atol=0)
    layer.mix = False  # the textbook merge: step l holds every head's output for step l
    torch.testing.assert_close(layer(x, x, x), v.transpose(1, 2).reshape(B, L, H * E), rtol=0, atol=0)


def test_mix_places_the_head_merge_in_the_encoder_and_decoder_self_attention_only():
    x, x_mark, y_mark = torch.randn(2, 48, 3), torch.randn(2, 48, 4), torch.randn(2, 12, 4)
    nets = {mix: net(mix=mix) for mix in ("all", "decoder", "none")}
    for mix, model in nets.items():
        assert [layer.attention.mix for layer in model.encoder.layers] == [mix == "all"] * 2
        assert model.decoder.layers[0].self_attention.mix == (mix != "none")
        assert not model.decoder.layers[0].cross_attention.mix
        model.load_state_dict(nets["none"].state_dict())  # no weights of its own: the same network otherwise
    memory = {mix: model.encoder(model.enc_embedding(x, x_mark)) for mix, model in nets.items()}
    torch.testing.assert_close(memory["decoder"], memory["none"], rtol=0, atol=0)
    assert not torch.allclose(memory["all"], memory["none"])
    out = {mix: model(x, x_mark, y_mark) for mix, model in nets.items()}
    assert not torch.allclose(out["decoder"], out["none"]) and not torch.allclose(out["all"], out["decoder"])
    with pytest.raises(ValueError, match="mix"):
        net(mix="encoder")


def test_informer_forecaster_checks_mix_and_reads_older_files_as_unmixed(synthetic, tmp_path):
    from tsformer import load
    from tsformer.errors import ConfigError
    from tsformer.modelfile import read_model_file, write_model_file

    with pytest.raises(ConfigError, match="mix='both' is not supported"):
        tiny("informer", mix="both").fit(synthetic)
    est = tiny("informer", mix="none").fit(synthetic)
    est.save(tmp_path / "m.tsf")
    config, tensors = read_model_file(tmp_path / "m.tsf")
    del config["params"]["mix"]  # as written before the parameter existed
    write_model_file(tmp_path / "old.tsf", config, tensors)
    old = load(tmp_path / "old.tsf")
    assert old.mix == "none"
    pd.testing.assert_frame_equal(old.predict(), est.predict())
