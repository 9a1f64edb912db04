"""The package's one scaler: a per-column z-score fitted on training rows only.

Works on numpy arrays and torch tensors alike (statistics are kept as float64 numpy arrays and
converted to the input's type and device on use), so the same object scales a frame before
training and un-scales a network's output afterwards.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import NotFittedError

__all__ = ["StandardScaler"]


class StandardScaler:
    """Per-column ``(x - mean) / std``; a constant column gets ``std = 1``.

    Example:
        >>> s = StandardScaler().fit(train)          # train: (T, C)
        >>> z = s.transform(values)                  # (..., C), numpy or torch
        >>> y = s.inverse_transform(z_hat[..., idx], columns=idx)   # only some columns
    """

    def __init__(self, eps: float = 1e-8):
        self.eps = eps

    def fit(self, x) -> "StandardScaler":
        """Learn per-column mean and std from ``x`` of shape ``(T, C)``."""
        x = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
        x = x.reshape(-1, x.shape[-1])
        self.mean_ = x.mean(axis=0)
        std = x.std(axis=0)
        self.scale_ = np.where(std > self.eps, std, 1.0)
        return self

    def _stats(self, like, columns):
        if not hasattr(self, "mean_"):
            raise NotFittedError("this StandardScaler is not fitted yet; call fit(train_rows) first")
        mean, scale = self.mean_, self.scale_
        if columns is not None:
            mean, scale = mean[columns], scale[columns]
        if isinstance(like, torch.Tensor):
            return (torch.as_tensor(mean, dtype=like.dtype, device=like.device),
                    torch.as_tensor(scale, dtype=like.dtype, device=like.device))
        return mean, scale

    def transform(self, x, columns=None):
        """``(..., C) -> (..., C)`` standardized; ``columns`` selects the statistics of a column subset."""
        mean, scale = self._stats(x, columns)
        return (x - mean) / scale

    def inverse_transform(self, z, columns=None):
        """Undo :meth:`transform` on ``(..., C)``; ``columns`` as in :meth:`transform`."""
        mean, scale = self._stats(z, columns)
        return z * scale + mean

    def state_dict(self) -> dict:
        """JSON-serializable state."""
        return {"mean": self.mean_.tolist(), "scale": self.scale_.tolist(), "eps": self.eps}

    @classmethod
    def from_state_dict(cls, state: dict) -> "StandardScaler":
        s = cls(eps=state.get("eps", 1e-8))
        s.mean_ = np.asarray(state["mean"], dtype=np.float64)
        s.scale_ = np.asarray(state["scale"], dtype=np.float64)
        return s
