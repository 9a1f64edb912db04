"""Forecast ETTh1's oil temperature 48 hours ahead with intervals and draw it (the README's picture).

    python examples/forecast_plot.py [docs/forecast.png]
"""

import sys

import tsformer
from tsformer import ITransformerForecaster

df = tsformer.load_dataset("ETTh1")
est = ITransformerForecaster(lookback=96, horizon=48, target="OT", d_model=128, d_ff=128, max_epochs=3,
                             random_state=0).fit(df)
forecast = est.predict(level=[80, 95])  # conformal intervals from the validation windows' residuals
print(forecast.head())
fig = tsformer.plot_forecast(df, forecast, last=240,
                             title="ETTh1 oil temperature: iTransformer, 48 h ahead, conformal 80% / 95% intervals")
fig.savefig(sys.argv[1] if len(sys.argv) > 1 else "forecast.png", dpi=90)
