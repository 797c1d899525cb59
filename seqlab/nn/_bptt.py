"""Backpropagation through time, written by hand: one layer, one direction, for RNN, LSTM and GRU.

References: Werbos, "Backpropagation through time: what it does and how to do it" (1990);
Bengio, Simard & Frasconi, "Learning long-term dependencies with gradient descent is difficult"
(1994) for the vanishing gradient visible in the recursion below.

Shapes: T time, B batch, I input size, H hidden size, P size of h (P = proj_size if the LSTM
projects, else H), G gate rows (H for RNN, 4H for LSTM, 3H for GRU).

Each recurrence is a `torch.autograd.Function` whose

* forward computes the input projection of all steps in one GEMM, `x̃ = x W_ihᵀ + b` (T·B, G),
  then one `addmm` per step, `x̃_t + h_{t-1} W_hhᵀ`, in place into preallocated buffers, and keeps
  the gate activations the backward needs;
* backward computes, a chunk of steps at a time, the local derivatives that do not depend on the
  incoming gradient (e.g. tanh'(a_t) = 1 - h_t²), and runs the BPTT recursion from t = T-1 down
  to 0, collecting the gradients of the gate pre-activations `δ_t` (T, B, G); the weight gradients
  are then *one* GEMM over all steps after the loop, `∂L/∂W_hh = Σ_t δ_tᵀ h_{t-1}` and
  `∂L/∂W_ih = Σ_t δ_tᵀ x_t`, instead of T small ones.

The recursion is where the vanishing gradient shows: for the vanilla RNN
`∂L/∂h_{t-1} = (∂L/∂h_t ⊙ tanh'(a_t)) W_hh`, a product of T Jacobians whose norm shrinks (or grows)
geometrically with the distance; the LSTM's cell path `∂L/∂c_{t-1} = ∂L/∂c_t ⊙ f_t` multiplies by
forget gates only, which is why it carries gradient over long spans.

Loops iterate with `unbind(0)`, never `xp[t]`: the backward of `xp[t]` would materialise a zero
tensor of the whole `xp` per step (quadratic in T, see shared PERF-NOTES). W_hhᵀ is made contiguous
once per call: the per-step `addmm` ran ~1.3x faster with it than with the transposed view
(MKL-packed weights, `torch.ops.mkl._mkl_linear`, were tried and gave no gain here).

Inference: when no gradient is needed (`torch.no_grad()` or no input requiring grad), an LSTM
without projection or mask runs `_lstm_inference` instead: no activation history, gates reordered
to (i, f, o | g), the input projection computed a chunk of steps at a time.

Variable lengths: `mask (T, B, 1)` is True where `t < lengths[b]`. Past a sequence's length its
state is held (`h_t = h_{t-1}`, `c_t = c_{t-1}`), so the last buffer row is each sequence's final
state, and the gradient of a held step flows unchanged to the step before. Outputs at padded steps
are the held state; the caller multiplies them by the mask. Double backward is not supported.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["rnn_bptt", "lstm_bptt", "gru_bptt"]


def _input_projection(x: Tensor, w_ih: Tensor, bias: Tensor | None) -> Tensor:
    """x̃ = x W_ihᵀ + bias for all steps in one GEMM: (T, B, I) -> (T, B, G)."""
    T, B, I = x.shape
    x2 = x.reshape(T * B, I)  # (T·B, I)
    xp = torch.mm(x2, w_ih.t()) if bias is None else torch.addmm(bias, x2, w_ih.t())  # (T·B, G)
    return xp.view(T, B, -1)  # (T, B, G)


def _hold(mask_t: Tensor | None, new: Tensor, prev: Tensor) -> None:
    """new ← m_t ? new : prev, in place (state held past each sequence's length)."""
    if mask_t is not None:
        torch.where(mask_t, new, prev, out=new)


def _grad_steps(d_out: Tensor | None, like: Tensor) -> list[Tensor]:
    """∂L/∂out_{t-1} for t = 0..T-1 (the term added to ∂L/∂h_{t-1}); zero before the first step."""
    d_out = d_out if d_out is not None else torch.zeros_like(like)  # (T, B, P)
    return [torch.zeros_like(like[0])] + list(d_out.unbind(0))[:-1]


def _weight_grads(delta: Tensor, x: Tensor, h_prev: Tensor, w_ih: Tensor, need_dx: bool):
    """After the loop: ∂W_ih = Σ_t δ_tᵀ x_t, ∂W_hh = Σ_t δ_tᵀ h_{t-1}, ∂b = Σ_t δ_t, ∂x_t = δ_t W_ih."""
    T, B, G = delta.shape
    d2 = delta.reshape(T * B, G)  # (T·B, G)
    dw_ih = torch.mm(d2.t(), x.reshape(T * B, -1))  # (G, I)
    dw_hh = torch.mm(d2.t(), h_prev.reshape(T * B, -1)) if h_prev is not None else None  # (G, P)
    db = d2.sum(0)  # (G,)
    dx = torch.mm(d2, w_ih).view(T, B, -1) if need_dx else None  # (T, B, I)
    return dw_ih, dw_hh, db, dx


def _last_grad(d_last: Tensor | None, d_out: Tensor | None, like: Tensor) -> Tensor:
    """∂L/∂h_{T-1} entering the recursion: from the final state plus from the last output."""
    dh = d_last.clone() if d_last is not None else torch.zeros_like(like)
    return dh if d_out is None else dh.add_(d_out[-1])


CHUNK = 8  # steps whose local derivatives are computed together (see _chunks)


def _chunks(T: int) -> list[tuple[int, int]]:
    """Step ranges [t0, t1) of CHUNK steps, last first. The backward computes the local derivatives
    that don't depend on the incoming gradient one chunk at a time: vectorised over the whole
    (T, B, H) they were passes over memory far bigger than the cache (2-5x slower at T=512, H=512);
    per step they would cost one small op each; per chunk the data stays in cache."""
    return [(max(0, t1 - CHUNK), t1) for t1 in range(T, 0, -CHUNK)]


class _RNNFunction(torch.autograd.Function):
    """h_t = φ(a_t), a_t = x̃_t + W_hh h_{t-1} + b_hh, x̃_t = W_ih x_t + b_ih, φ = tanh or relu."""

    @staticmethod
    def forward(ctx, x, h0, mask, w_ih, w_hh, b_ih, b_hh, relu: bool):
        T, B, _ = x.shape
        bias = None if b_ih is None else b_ih + b_hh  # (H,)
        xp = _input_projection(x, w_ih, bias)  # (T, B, H)
        hs = x.new_empty(T + 1, B, h0.shape[-1])  # (T+1, B, H); hs[0] = h_0
        hs[0] = h0
        w_hh_t = w_hh.t().contiguous()  # (P, G): a contiguous right operand ran the step ~1.3x faster
        masks = mask.unbind(0) if mask is not None else [None] * T
        for a_t, h_prev, h_t, m_t in zip(xp.unbind(0), hs[:-1].unbind(0), hs[1:].unbind(0), masks):
            # a_t = x̃_t + W_hh h_{t-1}
            a_t.addmm_(h_prev, w_hh_t)  # (B, H)
            # h_t = φ(a_t)
            torch.clamp(a_t, min=0, out=h_t) if relu else torch.tanh(a_t, out=h_t)
            _hold(m_t, h_t, h_prev)
        ctx.relu, ctx.has_bias = relu, b_ih is not None
        ctx.save_for_backward(x, mask, w_ih, w_hh, hs)
        return hs[1:], hs[-1].clone()

    @staticmethod
    def backward(ctx, d_out, d_hn):
        x, mask, w_ih, w_hh, hs = ctx.saved_tensors
        h = hs[1:]  # (T, B, H)
        if mask is not None:
            keep = (~mask).to(h.dtype).unbind(0)  # 1 where the state was held
        delta = torch.empty_like(h)  # (T, B, H): ∂L/∂a_t
        dh = _last_grad(d_hn, d_out, h[0])  # (B, H): ∂L/∂h_t
        d_prev_out = _grad_steps(d_out, h)
        d_list = delta.unbind(0)
        for t0, t1 in _chunks(len(d_list)):
            # φ'(a_t) for the chunk: tanh' = 1 - h_t², relu' = [h_t > 0]; zero where held
            h_c = h[t0:t1]  # (C, B, H)
            deriv = (h_c > 0).to(h.dtype) if ctx.relu else 1 - h_c * h_c  # (C, B, H)
            if mask is not None:
                deriv.mul_(mask[t0:t1])
            for t, f_t in zip(range(t1 - 1, t0 - 1, -1), reversed(deriv.unbind(0))):
                # δ_t = ∂L/∂h_t ⊙ φ'(a_t)
                torch.mul(dh, f_t, out=d_list[t])
                # ∂L/∂h_{t-1} = δ_t W_hh + ∂L/∂out_{t-1}   (the product of Jacobians that vanishes or explodes)
                dh_prev = torch.addmm(d_prev_out[t], d_list[t], w_hh)  # (B, H)
                if mask is not None:
                    dh_prev.addcmul_(dh, keep[t])  # a held step passes its gradient on unchanged
                dh = dh_prev
        dw_ih, dw_hh, db, dx = _weight_grads(delta, x, hs[:-1], w_ih, ctx.needs_input_grad[0])
        db = db if ctx.has_bias else None
        return dx, dh, None, dw_ih, dw_hh, db, db, None


class _LSTMFunction(torch.autograd.Function):
    """LSTM recurrence; gate pre-activations z_t = x̃_t + W_hh h_{t-1}, x̃_t = W_ih x_t + b_ih + b_hh.

    (i, f, g, o) = (σ, σ, tanh, σ)(z_t);  c_t = f ⊙ c_{t-1} + i ⊙ g;  m_t = o ⊙ tanh(c_t);
    h_t = m_t, or h_t = W_hr m_t with a projection.
    """

    @staticmethod
    def forward(ctx, x, h0, c0, mask, w_ih, w_hh, b_ih, b_hh, w_hr):
        T, B, _ = x.shape
        H = c0.shape[-1]
        bias = None if b_ih is None else b_ih + b_hh  # (4H,)
        acts = _input_projection(x, w_ih, bias)  # (T, B, 4H): x̃, overwritten by i, f, g, o
        hs = x.new_empty(T + 1, B, h0.shape[-1])  # (T+1, B, P)
        cs = x.new_empty(T + 1, B, H)  # (T+1, B, H)
        tcs = x.new_empty(T, B, H)  # (T, B, H): tanh(c_t)
        ms = x.new_empty(T, B, H) if w_hr is not None else None  # (T, B, H): m_t before the projection
        hs[0], cs[0] = h0, c0
        w_hh_t = w_hh.t().contiguous()  # (P, G): a contiguous right operand ran the step ~1.3x faster
        w_hr_t = w_hr.t().contiguous() if w_hr is not None else None  # (H, P)
        masks = mask.unbind(0) if mask is not None else [None] * T
        gates = zip(acts.unbind(0), acts[..., : 2 * H].unbind(0), *(acts[..., k * H : (k + 1) * H].unbind(0) for k in range(4)))
        states = zip(hs[:-1].unbind(0), hs[1:].unbind(0), cs[:-1].unbind(0), cs[1:].unbind(0), tcs.unbind(0),
                     (ms if ms is not None else hs[1:]).unbind(0), masks)
        for (a_t, if_t, i, f, g, o), (h_prev, h_t, c_prev, c_t, tc_t, m_t, mask_t) in zip(gates, states):
            # z_t = x̃_t + W_hh h_{t-1}
            a_t.addmm_(h_prev, w_hh_t)  # (B, 4H)
            # i, f = σ(z_i), σ(z_f);  g = tanh(z_g);  o = σ(z_o)
            if_t.sigmoid_()
            g.tanh_()
            o.sigmoid_()
            # c_t = f ⊙ c_{t-1} + i ⊙ g
            torch.mul(f, c_prev, out=c_t).addcmul_(i, g)
            _hold(mask_t, c_t, c_prev)
            # m_t = o ⊙ tanh(c_t)
            torch.mul(o, torch.tanh(c_t, out=tc_t), out=m_t)
            if w_hr_t is not None:
                # h_t = W_hr m_t
                torch.mm(m_t, w_hr_t, out=h_t)  # (B, P)
            _hold(mask_t, h_t, h_prev)
        ctx.has_bias = b_ih is not None
        ctx.save_for_backward(x, mask, w_ih, w_hh, w_hr, acts, hs, cs, tcs, ms)
        return hs[1:], hs[-1].clone(), cs[-1].clone()

    @staticmethod
    def backward(ctx, d_out, d_hn, d_cn):
        x, mask, w_ih, w_hh, w_hr, acts, hs, cs, tcs, ms = ctx.saved_tensors
        T, B, _ = x.shape
        H = cs.shape[-1]
        if mask is not None:
            keep = (~mask).to(x.dtype)  # (T, B, 1): 1 where the state was held
        delta = torch.empty_like(acts)  # (T, B, 4H): ∂L/∂z_t
        delta4 = delta.view(T, B, 4, H)  # (T, B, 4, H)
        dhs = torch.empty_like(hs[1:]) if w_hr is not None else None  # (T, B, P): ∂L/∂h_t for ∂W_hr
        dh = _last_grad(d_hn, d_out, hs[0])  # (B, P)
        dc = d_cn.clone() if d_cn is not None else torch.zeros_like(cs[0])  # (B, H)
        d_prev_out = _grad_steps(d_out, hs[1:])
        d_list, d_ifg, d_o = delta.unbind(0), delta4[:, :, :3].unbind(0), delta4[:, :, 3].unbind(0)
        for t0, t1 in _chunks(T):
            i, f, g, o = acts[t0:t1].chunk(4, -1)  # (C, B, H) each
            tc = tcs[t0:t1]  # (C, B, H)
            # Local derivatives of the chunk:  δ_i = ∂c ⊙ g ⊙ i(1-i),  δ_f = ∂c ⊙ c_{t-1} ⊙ f(1-f),
            # δ_g = ∂c ⊙ i ⊙ (1-g²),  δ_o = ∂m ⊙ tanh(c_t) ⊙ o(1-o),  ∂c_t += ∂m ⊙ o ⊙ (1 - tanh²(c_t))
            k = torch.stack([g * i * (1 - i), cs[t0:t1] * f * (1 - f), i * (1 - g * g), tc * o * (1 - o)], 2)  # (C, B, 4, H)
            kc = o * (1 - tc * tc)  # (C, B, H)
            fwd = f.clone()  # (C, B, H): ∂c_{t-1} = ∂c_t ⊙ f_t
            if mask is not None:
                k.mul_(mask[t0:t1].unsqueeze(-1))
                kc.mul_(mask[t0:t1])
                fwd.mul_(mask[t0:t1]).add_(keep[t0:t1])  # a held step passes ∂c on unchanged
            chunk = zip(range(t1 - 1, t0 - 1, -1), *(reversed(v.unbind(0)) for v in (k[:, :, :3], k[:, :, 3], kc, fwd)))
            for t, k_ifg, k_o, kc_t, f_t in chunk:
                # ∂L/∂m_t = ∂L/∂h_t W_hr with a projection
                if w_hr is not None:
                    dhs[t] = dh
                    dm = torch.mm(dh, w_hr)  # (B, H)
                else:
                    dm = dh
                # ∂L/∂c_t += ∂L/∂m_t ⊙ o ⊙ (1 - tanh²(c_t))
                dc.addcmul_(dm, kc_t)
                # (δ_i, δ_f, δ_g) = ∂L/∂c_t ⊙ (k_i, k_f, k_g);  δ_o = ∂L/∂m_t ⊙ k_o
                torch.mul(dc.unsqueeze(1), k_ifg, out=d_ifg[t])  # (B, 3, H)
                torch.mul(dm, k_o, out=d_o[t])  # (B, H)
                # ∂L/∂c_{t-1} = ∂L/∂c_t ⊙ f_t   (the forget-gate path that keeps gradients alive)
                dc.mul_(f_t)
                # ∂L/∂h_{t-1} = δ_t W_hh + ∂L/∂out_{t-1}
                dh_prev = torch.addmm(d_prev_out[t], d_list[t], w_hh)  # (B, P)
                if mask is not None:
                    dh_prev.addcmul_(dh, keep[t])
                dh = dh_prev
        dw_ih, dw_hh, db, dx = _weight_grads(delta, x, hs[:-1], w_ih, ctx.needs_input_grad[0])
        dw_hr = None
        if w_hr is not None:
            # ∂W_hr = Σ_t (∂L/∂h_t)ᵀ m_t over valid steps, one GEMM after the loop
            if mask is not None:
                dhs.mul_(mask)
            dw_hr = torch.mm(dhs.reshape(T * B, -1).t(), ms.reshape(T * B, H))  # (P, H)
        db = db if ctx.has_bias else None
        return dx, dh, dc, None, dw_ih, dw_hh, db, db, dw_hr


class _GRUFunction(torch.autograd.Function):
    """GRU recurrence, torch's equations (b_hn sits inside the reset gate's product).

    r = σ(x̃_r + W_hr h + b_hr);  z = σ(x̃_z + W_hz h + b_hz);  n = tanh(x̃_n + r ⊙ (W_hn h + b_hn));
    h_t = (1 - z) ⊙ n + z ⊙ h_{t-1};  x̃ = W_ih x_t + b_ih.
    """

    @staticmethod
    def forward(ctx, x, h0, mask, w_ih, w_hh, b_ih, b_hh):
        T, B, _ = x.shape
        H = h0.shape[-1]
        # The per-step addmm adds W_hh h to (x̃_r + b_hr | x̃_z + b_hz | b_hn), so it yields the r, z
        # pre-activations and ghn = W_hn h + b_hn at once; σ then overwrites r, z in place.
        bias = None if b_ih is None else torch.cat([b_ih[: 2 * H] + b_hh[: 2 * H], b_ih[2 * H :]])  # (3H,)
        gh = _input_projection(x, w_ih, bias)  # (T, B, 3H): x̃_r + b_hr, x̃_z + b_hz, x̃_n
        xn = gh[..., 2 * H :].clone()  # (T, B, H): x̃_n = W_in x + b_in
        gh[..., 2 * H :] = 0 if b_hh is None else b_hh[2 * H :]  # (T, B, 3H): then r, z, ghn after the loop
        ns = x.new_empty(T, B, H)  # (T, B, H): n
        hs = x.new_empty(T + 1, B, H)  # (T+1, B, H)
        hs[0] = h0
        w_hh_t = w_hh.t().contiguous()  # (P, G): a contiguous right operand ran the step ~1.3x faster
        masks = mask.unbind(0) if mask is not None else [None] * T
        views = (gh.unbind(0), gh[..., : 2 * H].unbind(0), gh[..., :H].unbind(0), gh[..., H : 2 * H].unbind(0),
                 gh[..., 2 * H :].unbind(0), xn.unbind(0), ns.unbind(0))
        for (g_t, rz, r, z, ghn, xn_t, n), h_prev, h_t, m_t in zip(zip(*views), hs[:-1].unbind(0), hs[1:].unbind(0), masks):
            # (r, z pre-activations | ghn) += W_hh h_{t-1}
            g_t.addmm_(h_prev, w_hh_t)  # (B, 3H)
            # r, z = σ(x̃_r + W_hr h + b_hr), σ(x̃_z + W_hz h + b_hz)
            rz.sigmoid_()
            # n = tanh(x̃_n + r ⊙ (W_hn h + b_hn))
            torch.addcmul(xn_t, r, ghn, out=n).tanh_()
            # h_t = (1 - z) ⊙ n + z ⊙ h_{t-1} = n + z ⊙ (h_{t-1} - n)
            torch.lerp(n, h_prev, z, out=h_t)
            _hold(m_t, h_t, h_prev)
        ctx.has_bias = b_ih is not None
        ctx.save_for_backward(x, mask, w_ih, w_hh, gh, ns, hs)
        return hs[1:], hs[-1].clone()

    @staticmethod
    def backward(ctx, d_out, d_hn):
        x, mask, w_ih, w_hh, gh, n, hs = ctx.saved_tensors
        T, B, _ = x.shape
        H = hs.shape[-1]
        d_gh = torch.empty_like(gh)  # (T, B, 3H): ∂L/∂(r, z pre-activations | ghn)
        d_xn = torch.empty_like(n)  # (T, B, H): ∂L/∂x̃_n
        dh = _last_grad(d_hn, d_out, hs[0])  # (B, H)
        d_prev_out = _grad_steps(d_out, hs[1:])
        dg_list, (dr, dz, dghn), dxn = d_gh.unbind(0), (t.unbind(0) for t in d_gh.chunk(3, -1)), d_xn.unbind(0)
        for t0, t1 in _chunks(T):
            r, z, ghn = gh[t0:t1].chunk(3, -1)  # (C, B, H) each
            n_c = n[t0:t1]  # (C, B, H)
            # Local derivatives of the chunk, from h_t = (1-z) ⊙ n + z ⊙ h_{t-1}:
            # ∂x̃_n = ∂h ⊙ (1-z) ⊙ (1-n²),  δ_z = ∂h ⊙ (h_{t-1} - n) ⊙ z(1-z),  δ_r = ∂x̃_n ⊙ ghn ⊙ r(1-r),
            # ∂ghn = ∂x̃_n ⊙ r,  and ∂h_{t-1} gets ∂h ⊙ z directly
            k_n = (1 - z) * (1 - n_c * n_c)  # (C, B, H)
            k_z = (hs[t0:t1] - n_c) * z * (1 - z)  # (C, B, H)
            k_r = ghn * r * (1 - r)  # (C, B, H)
            k_h = z.clone()  # (C, B, H)
            if mask is not None:
                m = mask[t0:t1]  # (C, B, 1)
                k_n.mul_(m)
                k_z.mul_(m)
                k_h.mul_(m).add_(~m)  # a held step passes ∂h on unchanged
            chunk = zip(range(t1 - 1, t0 - 1, -1), *(reversed(v.unbind(0)) for v in (k_n, k_z, k_r, k_h, r)))
            for t, kn, kz, kr, kh, r_t in chunk:
                torch.mul(dh, kn, out=dxn[t])  # ∂x̃_n
                torch.mul(dh, kz, out=dz[t])  # δ_z
                torch.mul(dxn[t], kr, out=dr[t])  # δ_r
                torch.mul(dxn[t], r_t, out=dghn[t])  # ∂ghn
                # ∂L/∂h_{t-1} = ∂h ⊙ z + (δ_r | δ_z | ∂ghn) W_hh + ∂L/∂out_{t-1}
                dh = torch.addcmul(d_prev_out[t], dh, kh).addmm_(dg_list[t], w_hh)  # (B, H)
        # x̃ gets the same r, z gradients as gh, and ∂x̃_n for n: two GEMMs on views, no concatenation
        TB = T * B
        d_rz, d_xn, x2 = d_gh[..., : 2 * H].reshape(TB, 2 * H), d_xn.reshape(TB, H), x.reshape(TB, -1)
        dw_ih = torch.cat([torch.mm(d_rz.t(), x2), torch.mm(d_xn.t(), x2)])  # (3H, I)
        dx = None
        if ctx.needs_input_grad[0]:
            dx = torch.addmm(torch.mm(d_xn, w_ih[2 * H :]), d_rz, w_ih[: 2 * H]).view(T, B, -1)  # (T, B, I)
        d2 = d_gh.reshape(TB, 3 * H)  # (T·B, 3H)
        dw_hh = torch.mm(d2.t(), hs[:-1].reshape(TB, H))  # (3H, H)
        db_ih = db_hh = None
        if ctx.has_bias:
            db_hh = d2.sum(0)  # (3H,)
            db_ih = torch.cat([db_hh[: 2 * H], d_xn.sum(0)])  # (3H,)
        return dx, dh, None, dw_ih, dw_hh, db_ih, db_hh


# At or below this many state elements (B·H) a step's pointwise ops run on one thread (the GEMMs keep
# all threads): too small to split, a second thread only added synchronisation. Measured at B=32,
# H=256, 2 threads: 1.61-1.70x the fused LSTM with it vs 1.78-1.84x without; no change at H=512.
_ONE_THREAD_POINTWISE = 32 * 256
# _lstm_inference computes the input projection of C = _PROJ_ELEMS // (B·4H) steps per GEMM (a 4 MiB
# fp32 buffer): C=32 at B=32, H=256 and C=16 at H=512 measured best (vs 16/32/64 and 8/16/32).
_PROJ_ELEMS = 1 << 20


def _lstm_inference(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    """LSTM forward without autograd (no projection, no mask): keeps no activation history.

    Gate rows are reordered to (i, f, o | g), so one σ covers a contiguous 3H slice and one tanh the
    last H; c_t is updated in place in one (B, H) buffer and h_t is written straight into `out`.
    The input projection x̃ is computed C steps at a time into one reused (C, B, 4H)
    buffer: one (T, B, 4H) projection was a fresh allocation far bigger than the cache (at T=512,
    H=512 filling it cost about as much as all the per-step GEMMs; chunked: 1.87x -> 1.43x fused).
    Same equations as `_LSTMFunction.forward`: c_t = f ⊙ c_{t-1} + i ⊙ g, h_t = o ⊙ tanh(c_t).
    """
    T, B, I = x.shape
    H = c0.shape[-1]
    n = torch.arange(4 * H, device=x.device)
    order = torch.cat([n[: 2 * H], n[3 * H :], n[2 * H : 3 * H]])  # (4H,): i, f, o, g rows
    w_ih_t = w_ih[order].t()  # (I, 4H)
    bias = None if b_ih is None else (b_ih + b_hh)[order]  # (4H,)
    w_hh_t = w_hh[order].t().contiguous()  # (H, 4H)
    x2 = x.view(T * B, I)  # (T·B, I)
    C = max(1, min(T, _PROJ_ELEMS // (B * 4 * H)))  # steps per input-projection GEMM
    buf = x.new_empty(C, B, 4 * H)  # (C, B, 4H): x̃ of one chunk, then z
    # Per-step views of the reused buffer, made once: z_t, (i, f, o), i, f, o, g, each (B, ·)
    views = list(zip(buf.unbind(0), *(buf[..., a:b].unbind(0) for a, b in
                                      ((0, 3 * H), (0, H), (H, 2 * H), (2 * H, 3 * H), (3 * H, 4 * H)))))
    out = x.new_empty(T, B, H)  # (T, B, H): h_t
    c = c0.clone()  # (B, H): c_t, updated in place
    tc = torch.empty_like(c)  # (B, H): tanh(c_t)
    threads = torch.get_num_threads()
    one_thread = B * H <= _ONE_THREAD_POINTWISE and threads > 1
    h_prev = h0
    try:
        for t0 in range(0, T, C):
            t1 = min(T, t0 + C)
            # x̃_t = W_ih x_t + b_ih + b_hh for the chunk's steps
            x_c, zc = x2[t0 * B : t1 * B], buf[: t1 - t0].view((t1 - t0) * B, 4 * H)  # (C·B, I), (C·B, 4H)
            torch.mm(x_c, w_ih_t, out=zc) if bias is None else torch.addmm(bias, x_c, w_ih_t, out=zc)
            for (z_t, ifo, i, f, o, g), h_t in zip(views[: t1 - t0], out[t0:t1].unbind(0)):
                # z_t = x̃_t + W_hh h_{t-1}
                z_t.addmm_(h_prev, w_hh_t)  # (B, 4H)
                if one_thread:
                    torch.set_num_threads(1)
                # i, f, o = σ(z_i, z_f, z_o);  g = tanh(z_g)
                ifo.sigmoid_()  # (B, 3H)
                g.tanh_()  # (B, H)
                # c_t = f ⊙ c_{t-1} + i ⊙ g
                c.mul_(f).addcmul_(i, g)
                # h_t = o ⊙ tanh(c_t)
                torch.mul(o, torch.tanh(c, out=tc), out=h_t)
                if one_thread:
                    torch.set_num_threads(threads)
                h_prev = h_t
    finally:
        torch.set_num_threads(threads)
    return out, out[-1].clone(), c


def rnn_bptt(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, mask=None, relu=False):
    """Vanilla RNN layer, one direction: x (T, B, I), h0 (B, H) -> (out (T, B, H), h_n (B, H))."""
    return _RNNFunction.apply(x.contiguous(), h0, mask, w_ih, w_hh, b_ih, b_hh, relu)


def lstm_bptt(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, mask=None):
    """LSTM layer, one direction: x (T, B, I), h0 (B, P), c0 (B, H) -> (out (T, B, P), h_n, c_n)."""
    tensors = (x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    if not needs_grad and w_hr is None and mask is None:
        return _lstm_inference(x.contiguous(), h0, c0, w_ih, w_hh, b_ih, b_hh)
    return _LSTMFunction.apply(x.contiguous(), h0, c0, mask, w_ih, w_hh, b_ih, b_hh, w_hr)


def gru_bptt(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, mask=None):
    """GRU layer, one direction: x (T, B, I), h0 (B, H) -> (out (T, B, H), h_n (B, H))."""
    return _GRUFunction.apply(x.contiguous(), h0, mask, w_ih, w_hh, b_ih, b_hh)
