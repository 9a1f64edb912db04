"""ETSformer trained with salesforce/ETSformer's own training recipe, as its exp_main.py and utils/tools.py run it.

    python benchmarks/etsformer_recipe.py --horizon 720 --threads 2 [--base-lr 1e-4] [ltsf.py's other options]

A trial, not tsformer's training: it replaces the training module's optimizer and rate schedule for this process
and then runs ``ltsf.py`` with the remaining arguments.  The recipe: Adam in three groups (the network, the
exponential smoothing weights ``*alpha_logit`` and the damping factors ``*phi_logit``); epoch 1 trains the network at
``min_lr`` 1e-30 and the smoothing and damping weights at 100x the base rate; from epoch 2 every group takes the
``exponential_with_warmup`` rate (the official ``adjust_learning_rate`` overwrites all groups): base x 1/4, 2/4, 3/4,
1, then halved every epoch; gradient norm clipped at 1.0.  The official defaults, set here as ``ltsf.py`` parameters
(a later ``--param`` or ``--max-epochs`` overrides one): K 3, dropout 0.2, sigmoid, 15 epochs, patience 5; base rate 1e-5 (its ETTm2
script; its grid search spans 1e-5 to 1e-3).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from tsformer.training import module as M  # noqa: E402

MIN_LR, WARMUP = 1e-30, 3
#: the official run.py defaults, as tsformer estimator parameters
SETTINGS = dict(top_k=3, dropout=0.2, activation="sigmoid", gradient_clip_val=1.0, patience=5)
EPOCHS = 15  # --max-epochs, which a later --max-epochs overrides


def rate(epoch: int, base: float) -> float:
    """The official rate of 0-based ``epoch`` >= 1 (set after epoch ``epoch`` by ``adjust_learning_rate(epoch)``)."""
    if epoch <= WARMUP:
        return MIN_LR + (base - MIN_LR) * epoch / (WARMUP + 1)
    return base * 0.5 ** (epoch - WARMUP - 1)


def install(base: float) -> None:
    def configure_optimizers(self):
        named = list(self.network.named_parameters())
        smooth = [p for n, p in named if n.endswith("alpha_logit")]
        damp = [p for n, p in named if n.endswith("phi_logit")]
        special = {id(p) for p in smooth + damp}
        rest = [p for _, p in named if id(p) not in special]
        return torch.optim.Adam([{"params": rest, "lr": MIN_LR}, {"params": smooth, "lr": 100 * base},
                                 {"params": damp, "lr": 100 * base}])

    start = M.ForecastingModule.on_train_epoch_start

    def on_train_epoch_start(self):
        start(self)
        opt = self.optimizers()
        opt = getattr(opt, "optimizer", opt)
        if self.current_epoch >= 1:
            for group in opt.param_groups:
                group["lr"] = rate(self.current_epoch, base)
        print(f"epoch {self.current_epoch + 1}: lrs {[g['lr'] for g in opt.param_groups]}", flush=True)

    M.ForecastingModule.configure_optimizers = configure_optimizers
    M.ForecastingModule.on_train_epoch_start = on_train_epoch_start


def main(argv=None):
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--base-lr", type=float, default=1e-5)
    args, rest = p.parse_known_args(argv)
    install(args.base_lr)
    import ltsf
    settings = [a for k, v in SETTINGS.items() for a in ("--param", f"{k}={v}")]
    return ltsf.main(["--model", "etsformer", "--max-epochs", str(EPOCHS), *settings, *rest])


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
