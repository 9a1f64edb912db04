"""The GPU paths: every network on a CUDA device computes what it computes on the CPU, the estimators
train there (fp32 and bf16-mixed) with the series moved to the device once, and a model trained there
saves, loads and forecasts on the CPU.  Where mamba_ssm is installed (``tsformer[mamba-cuda]``), its fused
selective scan computes what the torch scan computes, and ``scan="auto"`` takes it.

Skipped where torch sees no CUDA device (the CI machines); run on one with ``pytest tests/test_cuda.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import lightning as L

import tsformer
from tsformer.nn.layers import ssm
from tsformer.nn.layers.ssm import MambaBlock, fused_selective_scan, selective_scan

from .conftest import tiny
from .test_mamba import loop_selective_scan, random_scan_inputs

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

#: what each network needs to be deterministic in eval mode: Informer's ProbSparse attention with every
#: query active (u >= L) is full attention, whatever keys it sampled for the measure
EXACT = {"informer": {"factor": 20}}


@pytest.fixture
def full_fp32():
    """No TF32 in matrix products or convolutions, so that the GPU's fp32 is comparable to the CPU's."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _step(network, inputs):
    """Forward, a squared-error loss and backward: the output and every weight's gradient, on the CPU."""
    network.zero_grad(set_to_none=True)
    out = network(*inputs)
    out.square().mean().backward()
    return out.detach().cpu(), [p.grad.detach().cpu() for p in network.parameters() if p.grad is not None]


def test_every_network_computes_on_the_gpu_what_it_computes_on_the_cpu(model_name, full_fp32):
    est = tiny(model_name, e_layers=2, **EXACT.get(model_name, {}))
    torch.manual_seed(0)
    network = est._build_network(n_vars=3, n_marks=4).eval()  # eval: no dropout, no input augmentation
    inputs = (torch.randn(8, 48, 3), torch.randn(8, 48, 4), torch.randn(8, 12, 4))
    cpu_out, cpu_grads = _step(network, inputs)
    network.to("cuda")
    gpu_out, gpu_grads = _step(network, [t.cuda() for t in inputs])
    torch.testing.assert_close(gpu_out, cpu_out, rtol=1e-4, atol=1e-4)
    assert len(gpu_grads) == len(cpu_grads)
    for g, c in zip(gpu_grads, cpu_grads):
        torch.testing.assert_close(g, c, rtol=1e-3, atol=1e-4)


class _SeriesDevice(L.Callback):
    """Where the training set's series lives when training starts."""

    def on_train_start(self, trainer, pl_module):
        self.device = trainer.train_dataloader.dataset.values.device


def test_every_estimator_trains_on_the_gpu_then_saves_loads_and_forecasts_on_the_cpu(model_name, synthetic,
                                                                                     tmp_path):
    probe = _SeriesDevice()
    est = tiny(model_name, accelerator="gpu").fit(synthetic, trainer_kwargs={"callbacks": [probe]})
    assert probe.device.type == "cuda"  # the whole series went to the GPU once; batches are gathered there
    assert {p.device.type for p in est.network_.parameters()} == {"cpu"}  # back on the CPU after training
    fc = est.predict()
    assert fc.shape == (12, synthetic.shape[1]) and np.isfinite(fc.to_numpy()).all()
    loaded = tsformer.load(est.save(tmp_path / "gpu.tsf")).predict()
    np.testing.assert_array_equal(loaded.to_numpy(), fc.to_numpy())


def test_bf16_mixed_on_the_gpu_trains_and_forecasts_like_fp32(model_name, synthetic):
    fp32 = tiny(model_name, accelerator="gpu").fit(synthetic).predict().to_numpy()
    bf16 = tiny(model_name, accelerator="gpu", precision="bf16-mixed").fit(synthetic).predict().to_numpy()
    assert np.isfinite(bf16).all()
    assert np.abs(bf16 - fp32).mean() < 0.02 * np.abs(fp32).mean()


def test_the_torch_scan_on_the_gpu_equals_the_loop(full_fp32):
    args = [t.detach().cuda().requires_grad_() for t in random_scan_inputs(length=200)]
    u, delta, A, B, C, D, z, bias = args
    kw = dict(D=D, z=z, delta_bias=bias, delta_softplus=True)
    want = loop_selective_scan(*args)
    parallel = selective_scan(u, delta, A, B, C, mode="parallel", **kw)  # training's form
    torch.testing.assert_close(parallel, want, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(want)
    for x, y in zip(torch.autograd.grad((parallel * g).sum(), args), torch.autograd.grad((want * g).sum(), args)):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # inference's form
        torch.testing.assert_close(selective_scan(u, delta, A, B, C, mode="recurrent", **kw), want, rtol=1e-5, atol=1e-5)


needs_fused_kernel = pytest.mark.skipif(fused_selective_scan() is None,
                                        reason="needs mamba_ssm's fused kernel (tsformer[mamba-cuda])")


@needs_fused_kernel
def test_the_fused_kernel_computes_what_the_torch_scan_computes(full_fp32):
    args = [t.detach().cuda().requires_grad_() for t in random_scan_inputs(batch=3, d=6, n=16, length=200)]
    u, delta, A, B, C, D, z, bias = args
    kw = dict(D=D, z=z, delta_bias=bias, delta_softplus=True)
    want = selective_scan(u, delta, A, B, C, mode="parallel", **kw)
    got = fused_selective_scan()(u, delta, A, B, C, **kw)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    g = torch.randn_like(want)
    for x, y in zip(torch.autograd.grad((got * g).sum(), args), torch.autograd.grad((want * g).sum(), args)):
        torch.testing.assert_close(x, y, rtol=1e-3, atol=1e-3)


@needs_fused_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_scan_auto_takes_the_fused_kernel_on_cuda_and_agrees_with_the_torch_scan(dtype, full_fp32, monkeypatch):
    torch.manual_seed(0)
    block = MambaBlock(32, d_state=16, scan="auto").cuda()
    x = torch.randn(4, 40, 32, device="cuda")
    kernel, calls = fused_selective_scan(), []
    monkeypatch.setattr(ssm, "fused_selective_scan", lambda: lambda *a, **k: calls.append(a[0].dtype) or kernel(*a, **k))
    with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
        fused = block(x)
        fused.float().square().mean().backward()
    assert calls == [dtype]  # the kernel ran, on the autocast dtype's inputs
    fused_grads = [p.grad.clone() for p in block.parameters()]
    block.zero_grad()
    block.scan = "torch"
    with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
        plain = block(x)
        plain.float().square().mean().backward()
    pairs = [(fused, plain)] + list(zip(fused_grads, (p.grad for p in block.parameters())))
    if dtype == torch.float32:
        for f, p in pairs:
            torch.testing.assert_close(f, p, rtol=1e-3, atol=1e-4)
    else:  # bf16 inputs: both scans accumulate in float32, the products around them round to bf16
        for f, p in pairs:
            assert (f.float() - p.float()).norm() <= 0.05 * p.float().norm()


@needs_fused_kernel
def test_smamba_trains_on_the_gpu_with_the_fused_kernel_like_with_the_torch_scan(synthetic):
    torch_scan = tiny("mamba", accelerator="gpu", scan="torch").fit(synthetic).predict().to_numpy()
    fused = tiny("mamba", accelerator="gpu", scan="cuda").fit(synthetic).predict().to_numpy()
    assert np.isfinite(fused).all()
    assert np.abs(fused - torch_scan).mean() < 0.02 * np.abs(torch_scan).mean()
