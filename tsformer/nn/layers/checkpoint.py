"""Activation checkpointing of the layers' residual branches: keep each branch's input, recompute the rest.

A training step normally keeps every intermediate tensor of the forward pass for the backward pass
(Informer at its paper's size: 550 MB a batch of 32).  With ``checkpoint_branches`` set, a
:class:`CheckpointedLayer` runs each of its residual branches (an attention, a feed-forward network, a
Mamba or sLSTM cell, ETSformer's growth and season stacks) through ``torch.utils.checkpoint``
(non-reentrant, the random state restored so that dropout masks and sampled keys repeat exactly): only
the branch's input is kept, and the branch runs forward again during backward.  The same losses and
gradients for one more forward pass of the branches.

The unit is the branch, not the whole layer, because one layer can hold most of a step's activations
(Informer's decoder layer at horizon 720: 1.5 GB of 3.6): recomputing a whole layer would bring all of
them back at once in its backward pass, recomputing a branch brings back only that branch's.  It applies
only while autograd records in training mode; evaluation and prediction are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["CheckpointedLayer"]


class CheckpointedLayer(nn.Module):
    """Base of the layers whose residual branches run through :meth:`branch`.

    ``checkpoint_branches`` (off by default) is set by the training module for ``activation_checkpointing``.
    A branch runs twice when it is on, so it must not update state in its forward pass (no BatchNorm).
    """

    checkpoint_branches: bool = False

    def branch(self, fn: Callable[..., torch.Tensor], *args):
        """``fn(*args)``, recomputed in backward instead of kept when ``checkpoint_branches`` is on."""
        if self.checkpoint_branches and self.training and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)
