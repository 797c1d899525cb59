"""FLOP accounting (seqlab.experiments.flops) against torch's FlopCounterMode, and the matmul rate.

The oracle counts the matmul FLOPs of one real training step `model(x, targets)` + `backward()` on a
(B, T) batch, per token (B·T). Two things it does not see by itself, with torch 2.13 on CPU:
- in-place `addmm_`, the per-step recurrence product of seqlab.nn._bptt (GRU, RNN, LSTM explicit)
  and GRU's backward recursion: counted here with torch's own `addmm` formula;
- `_scaled_dot_product_flash_attention_for_cpu` (+ backward), the CPU flash kernel: counted with
  torch's formulas for the same kernel on GPU (`_scaled_dot_product_flash_attention`).
And one it miscounts: `convolution_backward` counts the weight gradient of a grouped convolution
as if it were dense (groups ignored), so Mamba's depthwise convolution (D groups) would count D
times its ∂W; `_grouped_conv_backward` counts each gradient as one forward pass, per group.
The LSTM's default CPU path is oneDNN's fused kernel (`mkldnn_rnn_layer`), which FlopCounterMode
does not count at all, so the recurrent models run on the explicit path (`impl="explicit"`); both
paths multiply the same matrices, which is what the formula counts.

FlopCounterMode counts matmuls only, as the formula does, so the two agree exactly (to rounding);
the tolerance is 1e-6 rather than the 10% a budget could live with, so that a missing product (a
head, a layer's input gradient) cannot hide in it.
"""

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from seqlab.experiments.recipes import SIZES
from seqlab.errors import ConfigError
from seqlab.experiments.flops import forward_flops_per_token, measure_matmul_flops, train_flops_per_token
from seqlab.models.registry import build_model

V = 100
B = 2
aten = torch.ops.aten


def _as(op):
    """torch's registered FLOP formula of `op`, for an op FlopCounterMode has no formula for."""
    formula = flop_registry[op]

    def count(*args, out_val=None, **kwargs):
        return formula(*args, out_val=out_val, **kwargs)

    count._get_raw = True  # takes tensors as they come, like the registry's own entries
    return count


def _grouped_conv_backward(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                           _output_padding, _groups, output_mask, out_shape=None, **kwargs):
    """∂x and ∂W of a convolution, each 2 · (output elements) · (C_in / groups) · kernel, as the forward."""
    assert not transposed  # no seqlab model uses one
    forward = 2 * math.prod(grad_out_shape) * math.prod(w_shape[1:])
    return forward * (int(output_mask[0]) + int(output_mask[1]))


MISSING = {
    aten.convolution_backward: _grouped_conv_backward,
    aten.addmm_: _as(aten.addmm),
    aten._scaled_dot_product_flash_attention_for_cpu: _as(aten._scaled_dot_product_flash_attention),
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _as(aten._scaled_dot_product_flash_attention_backward),
}


def _model(name, **fields):
    model = build_model(name, **fields)
    if hasattr(model, "rnn"):
        model.rnn.impl = "explicit"  # the fused LSTM kernel is invisible to FlopCounterMode (see top)
    return model


def _batch(model, T):
    if model.config.vocab_size is None:
        return torch.randn(B, T), torch.randn(B, T)
    return torch.randint(0, V, (B, T)), torch.randint(0, V, (B, T))


def _counted_train(model, T):
    x, targets = _batch(model, T)
    with FlopCounterMode(display=False, custom_mapping=MISSING) as counter:
        _, loss = model(x, targets)
        loss.backward()
    return counter.get_total_flops() / (B * T)


def _counted_forward(model, T):
    x, _ = _batch(model, T)
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=MISSING) as counter:
        model.log_prob(x)
    return counter.get_total_flops() / (B * T)


# (family, config fields, T): the compare sizes at their training T, then the other branches of
# each formula (stacked layers, tied heads with and without a projection, untied Transformer with
# its own F, no hidden layer, real values)
CASES = [(name, {"vocab_size": V, **fields}, 128 if size == "small" else 32)
         for size in ("tiny", "small") for name, fields in ((n, r.model) for n, r in SIZES[size].recipes.items())] + [
    ("gru", {"vocab_size": V, "embed_dim": 16, "hidden_size": 24, "num_layers": 2}, 32),
    ("lstm", {"vocab_size": V, "embed_dim": 12, "hidden_size": 20, "num_layers": 2, "tie_weights": True}, 32),
    ("rnn", {"vocab_size": V, "embed_dim": 16, "hidden_size": 16, "tie_weights": True}, 32),
    ("transformer", {"vocab_size": V, "d_model": 24, "n_head": 3, "n_layer": 2, "dim_feedforward": 40,
                     "block_size": 48, "tie_weights": False}, 40),
    ("neural-ar", {"vocab_size": V, "tau": 4, "embed_dim": 8, "num_layers": 0}, 32),
    ("gru", {"vocab_size": None, "embed_dim": 8, "hidden_size": 16}, 32),
    ("transformer", {"vocab_size": None, "d_model": 16, "n_head": 2, "n_layer": 1, "block_size": 32}, 32),
    ("neural-ar", {"vocab_size": None, "tau": 3, "embed_dim": 8, "hidden_size": 16}, 32),
    ("minlstm", {"vocab_size": V, "d_model": 16, "hidden_size": 24, "num_layers": 2, "tie_weights": False}, 32),
    ("mingru", {"vocab_size": None, "d_model": 16, "hidden_size": 8, "num_layers": 1}, 32),
    ("retnet", {"vocab_size": V, "d_model": 24, "n_head": 3, "n_layer": 2, "dim_feedforward": 40,
                "tie_weights": False}, 40),
    ("retnet", {"vocab_size": None, "d_model": 16, "n_head": 2, "n_layer": 1}, 32),
    ("mamba", {"vocab_size": V, "d_model": 24, "n_layer": 2, "d_state": 6, "d_conv": 3, "expand": 3,
               "dt_rank": 5}, 40),
    ("mamba", {"vocab_size": None, "d_model": 16, "n_layer": 1, "d_state": 4}, 32),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]


@pytest.mark.parametrize("name,fields,T", CASES, ids=IDS)
def test_train_flops_match_flop_counter(name, fields, T):
    model = _model(name, **fields)
    assert train_flops_per_token(model, T) == pytest.approx(_counted_train(model, T), rel=1e-6)


@pytest.mark.parametrize("name,fields,T", CASES, ids=IDS)
def test_forward_flops_match_flop_counter(name, fields, T):
    model = _model(name, **fields).eval()
    assert forward_flops_per_token(model, T) == pytest.approx(_counted_forward(model, T), rel=1e-6)


def test_cost_per_window_is_linear_in_positions_except_attention():
    """C(n), the cost of a pass of n = T + 1 positions: linear in n for a recurrent model; for the
    Transformer its second difference is 2 x 14 d per layer (attention's 14 n² d, full square)."""
    d, n_layer, T = 16, 2, 64
    tf = build_model("transformer", vocab_size=V, d_model=d, n_head=2, n_layer=n_layer, block_size=2 * T)
    gru = build_model("gru", vocab_size=V, embed_dim=8, hidden_size=16)
    C = lambda model, n: train_flops_per_token(model, n - 1) * (n - 1)  # noqa: E731
    assert C(gru, 2 * T) == pytest.approx(2 * C(gru, T))
    assert C(tf, T + 2) - 2 * C(tf, T + 1) + C(tf, T) == pytest.approx(n_layer * 14 * d * 2)


def test_retention_is_quadratic_and_the_scans_linear_in_positions():
    """RetNet's parallel form scores all n x n pairs (second difference 2 x 18 d per layer: Q Kᵀ and
    (Q Kᵀ ⊙ D) V with their gradients); minGRU's and Mamba's scans cost the same per position."""
    d, n_layer, T = 16, 2, 64
    C = lambda model, n: train_flops_per_token(model, n - 1) * (n - 1)  # noqa: E731
    ret = build_model("retnet", vocab_size=V, d_model=d, n_head=2, n_layer=n_layer)
    assert C(ret, T + 2) - 2 * C(ret, T + 1) + C(ret, T) == pytest.approx(n_layer * 18 * d * 2)
    for name, fields in (("mingru", {"d_model": d, "hidden_size": 8}), ("mamba", {"d_model": d, "d_state": 4})):
        model = build_model(name, vocab_size=V, **fields)
        assert C(model, 2 * T) == pytest.approx(2 * C(model, T)), name


@pytest.mark.parametrize("name,fields", [("markov", {"vocab_size": V}), ("ar", {}),
                                         ("seq2seq-rnn", {"vocab_size": V})])
def test_models_without_a_formula_raise_config_error(name, fields):
    model = build_model(name, **fields)
    with pytest.raises(ConfigError, match=type(model).__name__):
        train_flops_per_token(model, 32)
    with pytest.raises(ConfigError, match=type(model).__name__):
        forward_flops_per_token(model, 32)


@pytest.mark.parametrize("block_size", [0, -3, 2.5, True, "32"])
def test_bad_block_size_raises_config_error(block_size):
    model = build_model("gru", vocab_size=V, embed_dim=8, hidden_size=16)
    with pytest.raises(ConfigError, match="block_size"):
        train_flops_per_token(model, block_size)


def test_transformer_block_size_beyond_its_context_raises_config_error():
    model = build_model("transformer", vocab_size=V, d_model=16, n_head=2, n_layer=1, block_size=32)
    assert train_flops_per_token(model, 32) > 0
    with pytest.raises(ConfigError, match="block_size=32"):
        train_flops_per_token(model, 33)


def test_measure_matmul_flops_is_a_plausible_rate():
    # 2 x 64³ FLOPs per product; any CPU from the last decades does 1e8..1e13 FLOP/s on one thread
    rate = measure_matmul_flops(seconds=0.05, size=64)
    assert math.isfinite(rate) and 1e8 < rate < 1e13


@pytest.mark.parametrize("kw", [{"seconds": 0}, {"seconds": -1.0}, {"seconds": math.inf}, {"seconds": "1"},
                                {"size": 0}, {"size": 3.0}])
def test_measure_matmul_flops_rejects_bad_arguments(kw):
    with pytest.raises(ConfigError):
        measure_matmul_flops(**kw)
