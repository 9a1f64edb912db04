"""What a training step costs beyond the network: tsformer's fit loop against a bare PyTorch loop.

    python benchmarks/step_overhead.py [--threads 2] [--epochs 3] [--accelerator cpu|gpu]

On a GPU the papers' small networks spend most of a step outside their arithmetic (RESULTS.md, "Time per epoch
on a GPU"), so the loop's own cost per step sets the epoch time there. This measures it with a network whose
arithmetic is negligible (an iTransformer of width 8, one layer) on ETTh1 windows (lookback 96, horizon 96,
batch 32): seconds per training step of

* ``fit``: the estimator's fit (Lightning's loop, validation, early stopping, tsformer's data path);
* ``loop``: the same network, windows and optimizer in a plain ``for`` loop over the same ``DataLoader``;
* ``loop, no loader``: the plain loop over batches gathered beforehand (the network and optimizer alone).

``fit`` minus ``loop`` is what Lightning and the estimator add to a step; ``loop`` minus ``loop, no loader``
is the data path's share. Each figure is the median of ``--epochs`` epochs after one warm-up epoch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

import tsformer.training
from tsformer import ITransformerForecaster
from tsformer.datasets import load_dataset
from tsformer.training.trainer import make_loader

ROWS = 8640 + 2880  # ETTh1's train + validation rows


def recording_datasets():
    """Wrap ``tsformer.training.train_network`` (what ``fit`` calls) to keep the windows it is given."""
    seen = {}
    train_network = tsformer.training.train_network

    def spy(module, train_set, val_set, **kw):
        seen.update(train=train_set, val=val_set)
        return train_network(module, train_set, val_set, **kw)

    tsformer.training.train_network = spy
    return seen


def bare_loop(est, train_set, device, epochs: int, *, preload: bool) -> list[float]:
    """Seconds per step of a plain training loop over the estimator's windows, with a fresh copy of its network."""
    train_set = train_set.to(device)
    network = est._build_network(n_vars=7, n_marks=est.n_marks_).to(device)
    opt = torch.optim.AdamW(network.parameters(), lr=1e-4, weight_decay=0.0)
    loader = make_loader(train_set, batch_size=32, shuffle=True)
    batches = list(loader) if preload else None
    per_step = []
    for epoch in range(epochs + 1):
        n = 0
        t0 = time.perf_counter()
        for batch in (batches if preload else loader):
            y_hat = network(batch["x"], batch["x_mark"], batch["y_mark"])
            loss = torch.nn.functional.mse_loss(y_hat, batch["y"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        if epoch:  # the first is warm-up
            per_step.append((time.perf_counter() - t0) / n)
    return per_step


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.accelerator == "gpu" else "cpu")
    df = load_dataset("ETTh1").iloc[:ROWS]

    est = ITransformerForecaster(lookback=96, horizon=96, d_model=8, n_heads=1, e_layers=1, d_ff=8,
                                 max_epochs=args.epochs + 1, patience=None, val_size=2880, accelerator=args.accelerator,
                                 random_state=0)
    seen = recording_datasets()
    est.fit(df)
    train_steps = -(-len(seen["train"]) // 32)
    val_steps = -(-len(seen["val"]) // 32)
    # an epoch of fit also validates: its seconds over its training steps carry that pass too (the table says so)
    fit_step = [h["seconds"] / train_steps for h in est.history_[1:]]
    loop = bare_loop(est, seen["train"], device, args.epochs, preload=False)
    preloaded = bare_loop(est, seen["train"], device, args.epochs, preload=True)
    print(f"machine: {torch.__version__}, {torch.get_num_threads()} threads, {device}; {train_steps} training and "
          f"{val_steps} validation steps an epoch")
    print("| path | ms per training step (median) |")
    print("|---|---:|")
    print(f"| fit (training + validation, per training step) | {1e3 * statistics.median(fit_step):.2f} |")
    print(f"| plain loop over the same DataLoader | {1e3 * statistics.median(loop):.2f} |")
    print(f"| plain loop, batches gathered beforehand | {1e3 * statistics.median(preloaded):.2f} |")
    print(f"fit / plain loop: {statistics.median(fit_step) / statistics.median(loop):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
