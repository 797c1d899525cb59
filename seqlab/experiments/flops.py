"""Training and inference FLOPs per token of the neural families, and this machine's matmul rate.

`seqlab compare`'s equal-compute budget gives every family the same number of training FLOPs
(`--budget 3e12`); a family's step count is budget / (train_flops_per_token · tokens per step).
Markov does no matmuls: its counting time is converted into FLOP-equivalents at the rate
`measure_matmul_flops()` measures here.

Convention (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", sec. 2.1; Hoffmann et
al. 2022, appendix F): only matrix products count, 2 FLOPs per multiply-add; pointwise work
(gates, softmax, layer norm, GELU, biases, the loss) and embedding lookups cost nothing. The
backward of a product y = x W costs twice its forward (∂W = ∂yᵀ x and ∂x = ∂y Wᵀ), once when no
gradient flows into x (a real-valued input projection, whose x is data). So a weight matrix of
k·m entries applied at n positions costs 6·n·k·m to train: the 6·N of the scaling-law papers.

Shapes and symbols (the same in the code below): T block_size, the tokens of one training window;
n positions a pass computes; V vocabulary (P = V logits, or P = 2 for a Gaussian head on real
values); E embed_dim; H hidden_size; L num_layers; τ tau; g gates per cell (rnn 1, gru 3, lstm 4);
d d_model; F dim_feedforward (4 d by default; RetNet 2 d); n_layer blocks; minGRU/minLSTM: H
hidden_size, g' gate blocks of W_ih (mingru 2: z, h̃; minlstm 3: f, i, h̃); RetNet: h heads, d_k = d / h,
d_v = 2 d_k; Mamba: D = expand·d inner channels, N d_state, K d_conv, R dt_rank.

Positions: a training step `model(x, targets)` on x (B, T) runs `conditionals`, which reads the
start symbol and the T tokens and computes n = T + 1 positions, all in the loss (x_0 is scored
under the start state). Scoring a window of T tokens with `log_prob` computes n = T positions. With
c(n) the cost of one pass of n positions (per position, below):

    train_flops_per_token(T)   = c_train(T + 1) · (T + 1) / T
    forward_flops_per_token(T) = c_fwd(T)                         (log_prob on T-token windows)

Per position, training (c_fwd is one third of every 6· term, and 4 n d of the attention term):

    neural-ar    6 (τE·H + (L-1)·H·H + H·P)       (L = 0: 6 τE·P)
    rnn/lstm/gru 6 Σ_l gH (I_l + H) + head,  I_0 = E, I_l = H for l > 0;
                 head 6 H·P untied, 6 (H·E + E·V) tied with H ≠ E (projection W_p), 6 H·V tied with H = E
    transformer  n_layer (6 (4 d² + 2 d F) + 14 n d) + 6 d·P
    mingru/      n_layer · 6 (d·g'H + H·d + 2 d F) + 6 d·P
      minlstm    (W_ih of the layer, W_o, the feed-forward W_1, W_2; the log-space scan has no product)
    retnet       n_layer (6 (8 d² + 2 d F) + 18 n d + 12 d d_k) + 6 d·P
                 (W_Q, W_K (d²), W_V, W_G (2 d²), W_O (2 d²) and the feed-forward; the parallel
                 form's Q Kᵀ (2 n d) and (Q Kᵀ ⊙ D) V (4 n d) with both operands' gradients: 18 n d;
                 the state terms of seqlab.nn.retention.retention: Q S_0 (4 d d_k forward, ∂Q only:
                 S_0 is the zero start state) and S_T (4 d d_k forward; not in the loss, no backward))
    mamba        n_layer · 6 (2 D d + D (R + 2N) + R D + D d + D K + D N) + 6 d·P
                 (in_proj, x_proj, dt_proj, out_proj; the depthwise causal convolution, K products
                 per channel; y_t = C_t h_t, N per channel; the scan itself is pointwise)
    real values  P = 2, plus 4 E (4 d) per value read (n - 1 per pass): the input projection w_in x,
                 whose backward has no ∂x (x is data)

The recurrent term gH (I + H) is the input projection (gH × I) plus the recurrence (gH × H): fused
(oneDNN, cuDNN) and explicit paths (seqlab.nn._bptt: one GEMM for all input projections, one addmm
per step, weight gradients as one GEMM after the BPTT loop) multiply the same matrices. The
attention term counts, per layer and position, Q Kᵀ and P V over all n keys (2 n d each, forward)
and five such products in the backward (flash attention recomputes the scores, then dP, dV, dQ,
dK): 14 n d. That is torch's FlopCounterMode formula for flash attention, which counts the full
n × n square; torch's CPU flash kernel skips key blocks wholly above the causal diagonal, so it
executes somewhat fewer (causal fwd+bwd ran in ~0.75x the time of non-causal at n = 1024 here).

Numbers for `seqlab compare`'s "small" sizes (seqlab/experiments/recipes.py SIZES), V = 100,
T = 128, training FLOPs per token (forward per token, T-token scoring windows, in brackets):

    neural-ar    1.718e6  (5.68e5)      rnn   6.502e5  (2.15e5)
    lstm         2.136e6  (7.07e5)      gru   1.641e6  (5.43e5)
    transformer  8.661e5  (2.75e5)      (attention: 2 · 14 · 129² · 64 / 128 = 2.33e5 of it)
    mingru       1.730e6  (5.72e5)      minlstm 1.730e6  (5.72e5)
    retnet       1.901e6  (6.46e5)      mamba   1.402e6  (4.64e5)

measure_matmul_flops() on the development machine (2-core CPU shared with other jobs, 1 torch
thread, 256 x 256 fp32): 7e10 to 1.0e11 FLOP/s over six runs of 0.5 s and 2 s.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from seqlab.errors import ConfigError
from seqlab.models.minrnn import MinRNNLM
from seqlab.models.neural_ar import NeuralAR
from seqlab.models.retention import VALUE_FACTOR, RetNetLM
from seqlab.models.rnn import RNNLM
from seqlab.models.ssm import MambaLM
from seqlab.models.transformer import TransformerLM

__all__ = ["steps_for", "steps_or_refuse", "MIN_STEPS", "train_flops_per_token", "forward_flops_per_token", "measure_matmul_flops"]

GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # g: gate blocks of H rows in W_ih and W_hh
MIN_GATES = {"gru": 2, "lstm": 3}  # g': blocks of H rows in a minGRU / minLSTM W_ih
FAMILIES = (NeuralAR, RNNLM, TransformerLM, MinRNNLM, RetNetLM, MambaLM)


@dataclass
class _Cost:
    """Forward and backward matmul FLOPs of one pass, added up product by product."""

    forward: float = 0.0
    backward: float = 0.0

    def linear(self, n: int, k: int, m: int, input_grad: bool = True) -> None:
        """y = x W for x (n, k), W (k, m): 2 n k m forward; ∂W (and ∂x) the same again each."""
        self.product(n, k, m, grads=2 if input_grad else 1)

    def product(self, n: int, k: int, m: int, grads: int) -> None:
        """n k m multiply-adds, 2 n k m FLOPs forward; the backward computes `grads` (0, 1 or 2)
        operands' gradients, each as many again (0: the result is not in the loss)."""
        f = 2.0 * n * k * m
        self.forward += f
        self.backward += f * grads

    def attention(self, n: int, d: int) -> None:
        """Causal self-attention of n positions, heads of total width d, counted over all n x n pairs:
        Q Kᵀ and P V forward (2 n² d each); backward recomputes Q Kᵀ, then dP, dV, dQ, dK."""
        f = 2.0 * n * n * d
        self.forward += 2 * f
        self.backward += 5 * f


def _check_block_size(model, block_size) -> int:
    """block_size as an int T the model can train on, else ConfigError."""
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ConfigError(f"block_size must be an integer >= 1, got {block_size!r}")
    limit = model.config.block_size if isinstance(model, TransformerLM) else None
    if limit is not None and block_size > limit:
        raise ConfigError(f"block_size {block_size} exceeds the Transformer's block_size={limit}")
    return block_size


def _pass_cost(model, n: int) -> _Cost:
    """Matmul FLOPs of one `conditionals` pass computing n positions (the start symbol + n - 1 elements)."""
    if not isinstance(model, FAMILIES):
        raise ConfigError(f"no FLOP count for {type(model).__name__}; FLOPs are counted for the neural "
                          f"families neural-ar, rnn, lstm, gru, transformer, mingru, minlstm, retnet and mamba")
    cost = _Cost()
    c = model.config
    real = c.vocab_size is None
    P = 2 if real else c.vocab_size
    if isinstance(model, NeuralAR):
        E, H, L = c.embed_dim, c.hidden_size, c.num_layers
        if real:
            cost.linear(n - 1, 1, E, input_grad=False)  # e_s = C x_s + b
        width = c.tau * E  # z_t = (e_{t-tau}, ..., e_{t-1})
        for _ in range(L):
            cost.linear(n, width, H)  # h^(l) = tanh(W_l h^(l-1) + b_l)
            width = H
        cost.linear(n, width, P)  # params_t = W_o h^(L) + b_o
    elif isinstance(model, RNNLM):
        E, H, g = c.embed_dim, c.hidden_size, GATES[c.cell]
        if real:
            cost.linear(n - 1, 1, E, input_grad=False)  # e(x) = w_in x + b_in
        for layer in range(c.num_layers):
            cost.linear(n, E if layer == 0 else H, g * H)  # x̃_t = W_ih x_t + b_ih
            cost.linear(n, H, g * H)  # W_hh h_{t-1}
        if c.tie_weights and H != E:
            cost.linear(n, H, E)  # W_p h_t
            cost.linear(n, E, P)  # logits = (W_p h_t) E[:V]ᵀ + b_o
        else:
            cost.linear(n, H, P)  # params = W_o h_t + b_o (tied with H = E: W_o = E[:V])
    elif isinstance(model, (MinRNNLM, RetNetLM, MambaLM)):
        d = c.d_model
        if real:
            cost.linear(n - 1, 1, d, input_grad=False)  # e(x) = w_in x + b_in
        for _ in range(c.num_layers if isinstance(model, MinRNNLM) else c.n_layer):
            _residual_block_cost(cost, model, n)
        cost.linear(n, d, P)  # params = head(norm_f(z)), tied or not
    else:  # TransformerLM
        d, F = c.d_model, c.dim_feedforward or 4 * c.d_model
        if real:
            cost.linear(n - 1, 1, d, input_grad=False)  # e(x) = w_in x + b_in
        for _ in range(c.n_layer):
            cost.linear(n, d, 3 * d)  # q, k, v = LN_1(z) (W_q | W_k | W_v)ᵀ
            cost.attention(n, d)  # softmax(q kᵀ / sqrt(d_k) + M) v, h heads of d_k = d / h
            cost.linear(n, d, d)  # out = concat(heads) W_oᵀ
            cost.linear(n, d, F)  # W_1 LN_2(z)
            cost.linear(n, F, d)  # W_2 gelu(...)
        cost.linear(n, d, P)  # params = W_o LN_f(z) + b_o
    return cost


def _residual_block_cost(cost: _Cost, model, n: int) -> None:
    """One block of a minGRU/minLSTM, RetNet or Mamba model on n positions (formulas: module docstring)."""
    c = model.config
    d = c.d_model
    if isinstance(model, MinRNNLM):
        H, F = c.hidden_size, c.dim_feedforward or 4 * d
        cost.linear(n, d, MIN_GATES[c.cell] * H)  # (k | pre_h) = W_ih LN_1(z) + b_ih
        cost.linear(n, H, d)  # W_o h
        cost.linear(n, d, F)  # W_1 LN_2(z)
        cost.linear(n, F, d)  # W_2 GELU(...)
    elif isinstance(model, RetNetLM):
        F, d_k = c.dim_feedforward or 2 * d, d // c.n_head
        d_v = VALUE_FACTOR * d_k
        cost.linear(n, d, 2 * d)  # Q, K = X W_Q, X W_K
        cost.linear(n, d, 2 * c.n_head * d_v)  # V, G = X W_V, X W_G
        cost.linear(n, c.n_head * d_v, d)  # (swish(G) ⊙ Y) W_O
        cost.product(n, d, n, grads=2)  # Q Kᵀ, every head: (n, d_k) x (d_k, n)
        cost.product(n, n, c.n_head * d_v, grads=2)  # (Q Kᵀ ⊙ D) V
        cost.product(n, d, d_v, grads=1)  # γ^n Q S_0: S_0 is the start state, no gradient
        cost.product(n, d, d_v, grads=0)  # S_T = Σ_m γ^(T-m) k_mᵀ v_m: not in the loss
        cost.linear(n, d, F)  # W_1 LN_2(Y)
        cost.linear(n, F, d)  # W_2 GELU(...)
    else:  # MambaLM
        D, N, K = c.expand * d, c.d_state, c.d_conv
        R = c.dt_rank or math.ceil(d / 16)
        cost.linear(n, d, 2 * D)  # x, z = W_in RMSNorm(z)
        cost.product(n, K, D, grads=2)  # depthwise causal convolution: K taps per channel
        cost.linear(n, D, R + 2 * N)  # Δ_raw, B, C = W_x u
        cost.linear(n, R, D)  # W_Δ Δ_raw + b_Δ
        cost.product(n, N, D, grads=2)  # y_t = C_t h_t, per channel
        cost.linear(n, D, d)  # W_out (y ⊙ SiLU(z))


def train_flops_per_token(model, block_size: int) -> float:
    """Matmul FLOPs of one training step (forward + backward) per token, on windows of block_size T.

    = (forward + backward of one pass of T + 1 positions) / T; per-family formulas in the module
    docstring. ConfigError for a model that is not a neural family (Markov, LinearAR, Seq2Seq) or a
    block_size the model cannot take.
    """
    T = _check_block_size(model, block_size)
    cost = _pass_cost(model, T + 1)
    return (cost.forward + cost.backward) / T


def forward_flops_per_token(model, block_size: int) -> float:
    """Matmul FLOPs per token of scoring (`log_prob`, no gradient) windows of block_size T tokens:
    one forward pass of T positions, / T."""
    T = _check_block_size(model, block_size)
    return _pass_cost(model, T).forward / T


def measure_matmul_flops(seconds: float = 0.5, size: int = 256) -> float:
    """This machine's fp32 matmul rate, FLOP/s, at the current torch thread count.

    Multiplies two (size, size) fp32 matrices (2·size³ FLOPs each) for at least `seconds` after one
    warm-up product. `seqlab compare` converts Markov's counting time into FLOP-equivalents with it
    (seconds × rate), so that Markov can be held to the same training-FLOP budget as the neural
    families, which are counted analytically (`train_flops_per_token`).
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (0 < seconds < math.inf):
        raise ConfigError(f"seconds must be a positive number, got {seconds!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"size must be an integer >= 1, got {size!r}")
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)  # warm-up: first-call allocation and kernel selection
    reps, start = 0, time.perf_counter()
    while True:
        torch.mm(a, b, out=out)
        reps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return 2.0 * size**3 * reps / elapsed


MIN_STEPS = 10  # a budget that buys fewer optimiser steps than this is refused


def steps_for(flops_per_token: float, budget: float, batch_size: int, block_size: int) -> int:
    """Optimiser steps that fit in `budget` training FLOPs: floor(budget / (c · B · T))."""
    return int(budget // (flops_per_token * batch_size * block_size))


def steps_or_refuse(family: str, flops_per_token: float, budget: float, batch_size: int, block_size: int) -> int:
    """steps_for, or a ConfigError naming the budget that buys at least MIN_STEPS steps."""
    steps = steps_for(flops_per_token, budget, batch_size, block_size)
    if steps < MIN_STEPS:
        per_step = flops_per_token * batch_size * block_size
        raise ConfigError(f"a budget of {budget:.3g} FLOPs buys {family} fewer than {MIN_STEPS} steps "
                          f"({per_step:.3g} FLOPs per step of {batch_size} windows of {block_size}); "
                          f"use at least {MIN_STEPS * per_step:.2g}")
    return steps
