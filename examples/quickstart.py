"""The README's Python quick start, runnable: fit, forecast, forecast after another history, save, load."""

import tempfile
from pathlib import Path

import tsformer
from tsformer import ITransformerForecaster
from tsformer.datasets import load_dataset

df = load_dataset("ETTh1")
est = ITransformerForecaster(lookback=96, horizon=24, max_epochs=2, random_state=0, verbose=True).fit(df)
print(est.predict())
print(est.predict(df.iloc[:5000]).head(3))
with tempfile.TemporaryDirectory() as tmp:
    same = tsformer.load(est.save(Path(tmp) / "etth1.tsf"))
    assert same.predict().equals(est.predict())
print(est.backtest(df, n_windows=3).metrics)
