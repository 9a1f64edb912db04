"""ETSformer trained with salesforce/ETSformer's own training recipe, as its exp_main.py and utils/tools.py run it.

    python benchmarks/etsformer_recipe.py --horizon 720 --threads 2 [--base-lr 1e-4] [ltsf.py's other options]

``ltsf.py`` with the recipe's settings as estimator parameters (a later ``--param`` or ``--max-epochs`` overrides
one): K 3, dropout 0.2, sigmoid, gradient norm clipped at 1.0, 15 epochs, patience 5, base rate ``--base-lr``
(default 1e-4, Time-Series-Library's ETTh1 rate; salesforce/ETSformer's grid search spans 1e-5 to 1e-3, its ETTm2
script uses 1e-5), and ``lr_schedule="warmup"``: epoch 1 trains the exponential smoothing weights
(``*alpha_logit``) and damping factors (``*phi_logit``) alone at 100x the base rate, the rest of the network at
rate 0 (the reference: ``min_lr`` 1e-30); from epoch 2 every weight takes the ``exponential_with_warmup`` rate
(the reference's ``adjust_learning_rate`` overwrites all its groups): base x 1/4, 2/4, 3/4, 1, then halved every
epoch.  These are ``ETSformerForecaster``'s own defaults; ``ltsf.py --model etsformer`` instead trains at
Time-Series-Library's ETTh1 settings (K 5, dropout 0.1, gelu, the common schedule), the source of the published
figures, which this script replaces.

Until commit ``ce0dcf0`` this script replaced the training module's optimizer (Adam in the reference's three
groups) and rate schedule for its process; the training module's ``"warmup"`` schedule now does the same with
AdamW at weight decay 0 (the same update as Adam) in two groups (the rates of the reference's smoothing and
damping groups are equal in every epoch).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

#: the official run.py defaults, as tsformer estimator parameters
SETTINGS = dict(top_k=3, dropout=0.2, activation="sigmoid", gradient_clip_val=1.0, patience=5, lr_schedule="warmup")
EPOCHS = 15  # --max-epochs, which a later --max-epochs overrides


def main(argv=None):
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--base-lr", type=float, default=1e-4)
    args, rest = p.parse_known_args(argv)
    import ltsf
    if any(a in ("-h", "--help") for a in rest):  # this script's one option, then ltsf.py's (which exits)
        print(__doc__.split("\n\n")[0] + "\n\n  --base-lr BASE_LR     the recipe's base learning rate (default: 1e-4)\n\n"
              "ltsf.py's options follow (--model is etsformer here):\n")
    settings = {**SETTINGS, "learning_rate": args.base_lr}
    params = [a for k, v in settings.items() for a in ("--param", f"{k}={v}")]
    return ltsf.main(["--model", "etsformer", "--max-epochs", str(EPOCHS), *params, *rest])


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
