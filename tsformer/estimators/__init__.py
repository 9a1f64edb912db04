"""One thin estimator class per model: explicit parameters, its network, its search space."""

from .itransformer import ITransformerForecaster

__all__ = ["ITransformerForecaster"]
