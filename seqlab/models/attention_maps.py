"""Attention maps of a trained model, read from its seqlab.nn.MultiHeadAttention layers.

`self_attention_weights(model, x)` runs the model's causal pass on x (1, T) once with hooks that
capture every attention layer's inputs, then re-runs each layer on them with need_weights=True and
average_attn_weights=False: softmax(q kᵀ / sqrt(d_k) + mask) per head, exactly what the layer used.
Used by `seqlab attention` and the tour. (Encoder-decoders expose their cross-attention through
their own `cross_attention(src, tgt)`.)

Shapes: L attention layers, h heads, T' the length the layers saw (T + 1 with the start symbol).
"""

from __future__ import annotations

import torch

from seqlab import nn as snn
from seqlab.errors import ConfigError

__all__ = ["self_attention_weights"]


def self_attention_weights(model, x) -> torch.Tensor:
    """Run model.conditionals(x) and return every self-attention's weights: (L, h, T', T') tensor.

    T' is the length the attention layers saw (T + 1 with the start symbol). Each attention module
    is re-run on its captured inputs with need_weights=True, average_attn_weights=False.
    """
    layers = [m for m in model.modules() if isinstance(m, snn.MultiHeadAttention)]
    if not layers:
        raise ConfigError(f"{type(model).__name__} has no attention layers; seqlab attention needs a transformer run")
    captured = []

    def grab(module, args, kwargs):
        captured.append((module, args, dict(kwargs)))

    handles = [m.register_forward_pre_hook(grab, with_kwargs=True) for m in layers]
    try:
        with torch.no_grad():
            model.conditionals(x)
    finally:
        for h in handles:
            h.remove()
    weights = []
    with torch.no_grad():
        for module, args, kwargs in captured:
            kwargs.update(need_weights=True, average_attn_weights=False)
            kwargs.pop("cache", None)
            _, w = module(*args, **kwargs)  # (B, h, T', T')
            weights.append(w[0])
    return torch.stack(weights)  # (L, h, T', T')
