"""Memory and time at scale: a 5,000,000-row frame, and 10,000 short series in one long frame.

    python benchmarks/scale.py                    # both cases, each in a fresh process
    python benchmarks/scale.py --case wide --rows 5000000 --cols 20
    python benchmarks/scale.py --case many --series 10000 --length 240

* ``wide``: a synthetic wide frame of ``--rows`` x ``--cols`` float64 values (an hourly index) is fitted
  by a small iTransformer (d_model 64, lookback 96, horizon 24) for ``--steps`` training batches of 32
  windows and 20 validation batches (``trainer_kwargs`` ``limit_train_batches`` / ``limit_val_batches``:
  an epoch over all five million windows would take hours and measures nothing new).  The windows are
  views over one tensor, so memory follows the data: the peak RSS is compared with the frame's own size
  and with what materializing every window would take.
* ``many``: ``--series`` series of ``--length`` hourly rows each, different start dates, in one long frame
  (``unique_id, ds, y``), fitted as one global model (lookback 48, horizon 12) for one full epoch; then
  ``predict()`` forecasts every series at once (batches of 1,024 series, no Python loop per series).

Each case runs in its own process; its peak RSS is that process's.  Appends one JSON line per case to
``--results``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_wide(rows: int, cols: int, steps: int) -> dict:
    import numpy as np
    import pandas as pd

    from tsformer import ITransformerForecaster

    rng = np.random.default_rng(0)
    t = np.arange(rows, dtype=np.float64)[:, None]
    values = np.sin(2 * np.pi * t / 24 + rng.uniform(0, 6, cols)) + 0.1 * rng.standard_normal((rows, cols))
    df = pd.DataFrame(values, columns=[f"c{i}" for i in range(cols)],
                      index=pd.date_range("2000-01-01", periods=rows, freq="h", name="date"))
    del values, t
    frame_mb = df.memory_usage(deep=True).sum() / 2 ** 20
    before = peak_rss_mb()
    est = ITransformerForecaster(lookback=96, horizon=24, d_model=64, d_ff=64, n_heads=4, max_epochs=1,
                                 accelerator="cpu", random_state=0,
                                 trainer_kwargs={"limit_train_batches": steps, "limit_val_batches": 20})
    t0 = time.perf_counter()
    est.fit(df)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    est.predict()
    predict_ms = 1000 * (time.perf_counter() - t0)
    windows = rows - 96 - 24 + 1
    return {"case": "wide", "rows": rows, "cols": cols, "frame_mb": round(frame_mb), "steps": steps,
            "fit_s": round(fit_s, 1), "predict_ms": round(predict_ms, 1), "peak_rss_mb": round(peak_rss_mb()),
            "rss_before_fit_mb": round(before),
            "materialized_windows_gb": round(windows * (96 + 24) * cols * 4 / 2 ** 30, 1)}


def case_many(series: int, length: int) -> dict:
    import numpy as np
    import pandas as pd

    from tsformer import ITransformerForecaster

    rng = np.random.default_rng(0)
    lengths = rng.integers(length // 2, length + 1, series)  # different lengths and start dates
    ids = np.repeat(np.array([f"s{i}" for i in range(series)], dtype=object), lengths)
    starts = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, series), unit="h")
    offsets = np.arange(len(ids)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    ds = np.repeat(starts.to_numpy(), lengths) + offsets.astype("timedelta64[h]")
    phase = np.repeat(rng.uniform(0, 6, series), lengths)
    y = 10 + np.sin(2 * np.pi * offsets / 24 + phase) + 0.1 * rng.standard_normal(len(ids))
    long = pd.DataFrame({"unique_id": ids, "ds": ds, "y": y})
    est = ITransformerForecaster(lookback=48, horizon=12, d_model=32, d_ff=32, n_heads=2, e_layers=1, max_epochs=1,
                                 batch_size=256, learning_rate=1e-3, accelerator="cpu", random_state=0,
                                 series_mode="global")
    t0 = time.perf_counter()
    est.fit(long)
    fit_s = time.perf_counter() - t0
    epoch_s = est.history_[0]["seconds"]
    t0 = time.perf_counter()
    fc = est.predict()
    predict_s = time.perf_counter() - t0
    assert fc["unique_id"].nunique() == series
    return {"case": "many", "series": series, "rows": int(len(long)), "fit_s": round(fit_s, 1),
            "epoch_s": round(epoch_s, 1), "predict_all_s": round(predict_s, 2),
            "predict_per_series_ms": round(1000 * predict_s / series, 3), "peak_rss_mb": round(peak_rss_mb())}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", choices=["wide", "many", "all"], default="all")
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--cols", type=int, default=20)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--series", type=int, default=10_000)
    p.add_argument("--length", type=int, default=240)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--results", default=str(Path(__file__).with_name("results.jsonl")))
    args = p.parse_args(argv)
    if args.child:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        row = (case_wide(args.rows, args.cols, args.steps) if args.case == "wide"
               else case_many(args.series, args.length))
        print(json.dumps(row))
        return [row]
    from ltsf import git_commit, machine

    rows = []
    for case in (["wide", "many"] if args.case == "all" else [args.case]):
        cmd = [sys.executable, __file__, "--child", "--case", case, "--rows", str(args.rows), "--cols", str(args.cols),
               "--steps", str(args.steps), "--series", str(args.series), "--length", str(args.length)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(out.stderr[-2000:], file=sys.stderr)
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row.update({"benchmark": "scale", "machine": machine(), "commit": git_commit(),
                    "date": time.strftime("%Y-%m-%d")})
        rows.append(row)
        print(json.dumps(row), flush=True)
        with open(args.results, "a") as f:
            f.write(json.dumps(row) + "\n")
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
