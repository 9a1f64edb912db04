"""Activation checkpointing of the layer stacks: keep each layer's input, recompute the rest in backward.

A training step normally keeps every intermediate tensor of the forward pass for the backward pass
(Informer at its paper's size: 550 MB a batch of 32).  With ``checkpoint_layers`` set, a
:class:`LayerStack` keeps only what enters each of its layers and runs the layer's forward pass again
during backward (``torch.utils.checkpoint``, non-reentrant, the random state restored so that dropout
masks and sampled keys repeat exactly): the same losses and gradients for one more forward pass of the
layers.  It applies only while autograd records in training mode; evaluation and prediction are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["LayerStack"]


class LayerStack(nn.Module):
    """Base of the modules that run a stack of layers; call each layer through :meth:`run_layer`.

    ``checkpoint_layers`` (off by default) is set by the training module for ``activation_checkpointing``.
    A layer run this way must not update state in its forward pass (no BatchNorm), since it runs twice.
    """

    checkpoint_layers: bool = False

    def run_layer(self, layer: nn.Module, *args):
        if self.checkpoint_layers and self.training and torch.is_grad_enabled():
            return checkpoint(layer, *args, use_reentrant=False)
        return layer(*args)
