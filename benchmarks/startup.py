"""Start-up time of the command line and of ``import tsformer``: wall seconds of fresh processes.

    python benchmarks/startup.py                            # this checkout
    python benchmarks/startup.py --tsformer-path /tmp/old   # another checkout of tsformer, for comparison

Each case runs ``--repeats`` times in a new Python process (the median is reported), with ``PYTHONPATH``
set to ``--tsformer-path`` (default: this repository):

- ``import tsformer``, and ``from tsformer import ITransformerForecaster``;
- ``tsformer --help``;
- ``tsformer predict MODEL --quiet``: a forecast from a saved iTransformer (fitted once, before the
  timing, on ETTh1 for one short epoch: the weights do not change the cost).

The process also reports which of torch and Lightning it had imported.  Appends one JSON line per case to
``--results``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ltsf import git_commit, machine  # noqa: E402

# runs the CLI as `python -m tsformer` does, then names the heavy packages it had imported
_CLI = """
import runpy, sys
sys.argv = ["tsformer", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("tsformer", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
print("loaded:", *[m for m in ("torch", "lightning") if m in sys.modules], file=sys.stderr)
sys.exit(code)
"""
_IMPORT = """
import sys
exec(sys.argv[1])
print("loaded:", *[m for m in ("torch", "lightning") if m in sys.modules], file=sys.stderr)
"""


def timed(code: str, args, env, cwd) -> tuple[float, list[str]]:
    # the working directory is the checkout: python -c puts it first on sys.path
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{args}: exit {r.returncode}\n{r.stderr[-2000:]}")
    last = r.stderr.rstrip("\n").split("\n")[-1]
    return seconds, last.split()[1:]


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tsformer-path", default=str(Path(__file__).resolve().parents[1]))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--results", default=str(Path(__file__).with_name("results.jsonl")))
    args = p.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": args.tsformer_path}
    tmp = Path(tempfile.mkdtemp(prefix="tsformer-startup-"))
    model = tmp / "itransformer.tsf"
    fit = ["fit", "ETTh1", "--model", "itransformer", "--lookback", "96", "--horizon", "24", "--max-epochs", "1",
           "--param", "trainer_kwargs={\"limit_train_batches\": 2, \"limit_val_batches\": 1}",
           "--accelerator", "cpu", "--save-model", model, "--quiet"]
    timed(_CLI, fit, env, args.tsformer_path)
    cases = {"import tsformer": (_IMPORT, ["import tsformer"]),
             "from tsformer import ITransformerForecaster": (_IMPORT, ["from tsformer import ITransformerForecaster"]),
             "tsformer --help": (_CLI, ["--help"]),
             "tsformer predict MODEL": (_CLI, ["predict", model, "--quiet"])}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=args.tsformer_path).stdout.strip() or "?"
    print(f"start-up, tsformer from {args.tsformer_path} (commit {commit}); {machine()}")
    print("\n| case | median s | runs s | imports torch / Lightning |\n|---|---:|---|---|")
    rows = []
    for name, (code, case_args) in cases.items():
        runs, loaded = [], []
        for _ in range(args.repeats):
            seconds, loaded = timed(code, case_args, env, args.tsformer_path)
            runs.append(seconds)
        row = {"benchmark": "startup", "case": name, "median_s": round(statistics.median(runs), 2),
               "runs_s": [round(s, 2) for s in runs], "loaded": loaded, "tsformer_commit": commit,
               "machine": machine(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d")}
        rows.append(row)
        flags = " / ".join("yes" if m in loaded else "no" for m in ("torch", "lightning"))
        print(f"| {name} | {row['median_s']:.2f} | {', '.join(f'{s:.2f}' for s in runs)} | {flags} |", flush=True)
        with open(args.results, "a") as f:
            f.write(json.dumps(row) + "\n")
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
