"""Seconds per epoch of every model at its paper's ETTh1 size, on the accelerator torch sees.

    python benchmarks/gpu_epochs.py [--horizons 96 720] [--precisions 32-true bf16-mixed] [--models ...]
                                    [--param scan=cuda] [--compile [reduce-overhead]]

Meant for a machine with a GPU (issue 7: "measure time per epoch on it for every model"): each case is
``ltsf.py --max-epochs 2`` in a fresh process (its result line, with the GPU's name and peak GPU memory, is
appended to ``--results``), and a Markdown table is printed at the end. The first epoch includes the
warm-up (CUDA context, cuDNN/cuBLAS heuristics), so the table gives both epochs; the test MSE after two
epochs only shows that the run trained, it is not the early-stopped figure of the ltsf table.
Without a GPU it runs the same cases on the CPU (slowly: Informer takes 5-15 minutes an epoch there).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
MODELS = ["itransformer", "informer", "autoformer", "etsformer", "xlstmtime", "mamba"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    p.add_argument("--horizons", nargs="+", type=int, default=[96])
    p.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed"])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--results", default=str(HERE / "results.jsonl"))
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a model parameter for every case (ltsf.py's --param), e.g. scan=cuda for S-Mamba")
    p.add_argument("--compile", nargs="?", const="default", default=None, metavar="MODE",
                   help="train through torch.compile (ltsf.py's --compile [MODE])")
    p.add_argument("--timeout", type=float, default=1800, help="seconds for one case before it is abandoned")
    args = p.parse_args(argv)

    rows, failures = [], []
    for horizon in args.horizons:
        for model in args.models:
            for precision in args.precisions:
                cmd = [sys.executable, str(HERE / "ltsf.py"), "--model", model, "--horizon", str(horizon),
                       "--max-epochs", str(args.epochs), "--precision", precision, "--results", args.results]
                cmd += [a for kv in args.param for a in ("--param", kv)] + (["--compile", args.compile] if args.compile else [])
                try:
                    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
                except subprocess.TimeoutExpired:
                    failures.append(f"{model} H={horizon} {precision}: over {args.timeout:.0f} s")
                    print(failures[-1], flush=True)
                    continue
                if r.returncode != 0:
                    failures.append(f"{model} H={horizon} {precision}: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
                    print(failures[-1], flush=True)
                    continue
                print(r.stdout.strip().splitlines()[-1], flush=True)
                with open(args.results) as f:
                    result = json.loads(f.readlines()[-1])
                rows.append(result)

    if rows:
        print(f"\nmachine: {rows[0]['machine']}, commit {rows[0]['commit']}\n")
        extra = " ".join(args.param + ([f"compile ({args.compile})"] if args.compile else []))
        if extra:
            print(f"every case with {extra}\n")
        print("| model | horizon | precision | epoch 1 s | epoch 2 s | peak GPU MB | peak RSS MB | test MSE after "
              f"{args.epochs} epochs |")
        print("|---|---:|---|---:|---:|---:|---:|---:|")
        for r in rows:
            secs = [e["seconds"] for e in r["history"]]
            gpu = "-" if r.get("peak_gpu_mb") is None else f"{r['peak_gpu_mb']:.0f}"
            later = f"{secs[1]:.1f}" if len(secs) > 1 else "-"
            print(f"| {r['model']} | {r['horizon']} | {r['precision']} | {secs[0]:.1f} | {later} | {gpu} | "
                  f"{r['peak_rss_mb']:.0f} | {r['mse']:.4f} |")
    for line in failures:
        print("FAILED:", line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
