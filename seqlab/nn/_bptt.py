"""Backpropagation through time, written by hand: one layer, one direction, for RNN, LSTM and GRU.

Shapes: T time, B batch, I input size, H hidden size, P size of h (P = proj_size if the LSTM
projects, else H), G gate rows (H for RNN, 4H for LSTM, 3H for GRU).

Each recurrence is a `torch.autograd.Function` whose

* forward computes the input projection of all steps in one GEMM, `x̃ = x W_ihᵀ + b` (T·B, G),
  then one `addmm` per step, `x̃_t + h_{t-1} W_hhᵀ`, writing into preallocated buffers, and keeps
  the gate activations it needs for the backward;
* backward runs the BPTT recursion from t = T-1 down to 0 and collects the gradients of the gate
  pre-activations `δ_t` (T, B, G); the weight gradients are then *one* GEMM over all steps after
  the loop, `∂L/∂W_hh = Σ_t δ_tᵀ h_{t-1}` and `∂L/∂W_ih = Σ_t δ_tᵀ x_t`, not T small ones.

The recursion is where the vanishing gradient shows: for the vanilla RNN
`∂L/∂h_{t-1} = (∂L/∂h_t ⊙ tanh'(a_t)) W_hh`, a product of T Jacobians whose norm shrinks (or grows)
geometrically; the LSTM's cell path `∂L/∂c_{t-1} = ∂L/∂c_t ⊙ f_t` is a product of forget gates
only, which is why it carries gradient over long spans.

Loops iterate with `unbind(0)`, never `xp[t]`: the backward of `xp[t]` materialises a zero tensor
of the whole `xp` per step (quadratic in T, see shared PERF-NOTES).

Variable lengths: `mask (T, B, 1)` is 1 where `t < lengths[b]`. Past a sequence's length its state
is held (`h_t = h_{t-1}`, `c_t = c_{t-1}`), so the last buffer row is each sequence's final state;
gradients of held steps flow straight through to the previous step. Outputs at padded steps are
the held state; the caller multiplies them by the mask. Double backward is not supported.
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


def _weight_grads(delta: Tensor, x: Tensor, h_prev: Tensor, w_ih: Tensor, need_dx: bool = True):
    """After the loop: ∂W_ih = Σ_t δ_tᵀ x_t, ∂W_hh = Σ_t δ_tᵀ h_{t-1}, ∂b = Σ_t δ_t, ∂x_t = δ_t W_ih."""
    T, B, G = delta.shape
    d2 = delta.reshape(T * B, G)  # (T·B, G)
    dw_ih = torch.mm(d2.t(), x.reshape(T * B, -1))  # (G, I)
    dw_hh = torch.mm(d2.t(), h_prev.reshape(T * B, -1))  # (G, P)
    db = d2.sum(0)  # (G,)
    dx = torch.mm(d2, w_ih).view(T, B, -1) if need_dx else None  # (T, B, I)
    return dw_ih, dw_hh, db, dx


class _RNNFunction(torch.autograd.Function):
    """h_t = φ(x̃_t + W_hh h_{t-1} + b_hh), x̃_t = W_ih x_t + b_ih, φ = tanh or relu."""

    @staticmethod
    def forward(ctx, x, h0, mask, w_ih, w_hh, b_ih, b_hh, relu: bool):
        T, B, _ = x.shape
        bias = None if b_ih is None else b_ih + b_hh  # (H,)
        xp = _input_projection(x, w_ih, bias)  # (T, B, H)
        hs = x.new_empty(T + 1, B, h0.shape[-1])  # (T+1, B, H); hs[0] = h_0
        hs[0] = h0
        w_hh_t = w_hh.t()  # (H, H)
        masks = mask.unbind(0) if mask is not None else [None] * T
        for xp_t, h_prev, h_t, m_t in zip(xp.unbind(0), hs[:-1].unbind(0), hs[1:].unbind(0), masks):
            # a_t = x̃_t + W_hh h_{t-1}
            torch.addmm(xp_t, h_prev, w_hh_t, out=h_t)  # (B, H)
            # h_t = φ(a_t)
            h_t.relu_() if relu else h_t.tanh_()
            _hold(m_t, h_t, h_prev)
        ctx.relu = relu
        ctx.has_bias = b_ih is not None
        ctx.save_for_backward(x, mask, w_ih, w_hh, hs)
        return hs[1:], hs[-1].clone()

    @staticmethod
    def backward(ctx, d_out, d_hn):
        x, mask, w_ih, w_hh, hs = ctx.saved_tensors
        T = x.shape[0]
        delta = torch.empty_like(hs[1:])  # (T, B, H): ∂L/∂a_t
        dh = d_hn.clone() if d_hn is not None else hs.new_zeros(hs.shape[1:])  # (B, H): ∂L/∂h_t
        d_out = d_out if d_out is not None else torch.zeros_like(delta)
        h_list, d_list, o_list = hs[1:].unbind(0), delta.unbind(0), d_out.unbind(0)
        m_list = mask.unbind(0) if mask is not None else None
        for t in range(T - 1, -1, -1):
            h_t, delta_t = h_list[t], d_list[t]
            dh += o_list[t]
            if m_list is not None:
                held = dh * ~m_list[t]  # held steps pass ∂L/∂h straight to h_{t-1}
                dh.mul_(m_list[t])
            # δ_t = ∂L/∂h_t ⊙ φ'(a_t): tanh' = 1 - h_t², relu' = [h_t > 0]
            if ctx.relu:
                torch.mul(dh, h_t > 0, out=delta_t)
            else:
                torch.mul(dh, 1 - h_t * h_t, out=delta_t)
            # ∂L/∂h_{t-1} = δ_t W_hh  (the product of Jacobians that vanishes or explodes)
            dh = torch.mm(delta_t, w_hh)  # (B, H)
            if m_list is not None:
                dh += held
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
        ms = x.new_empty(T, B, H) if w_hr is not None else None  # (T, B, H): m_t before projection
        hs[0], cs[0] = h0, c0
        w_hh_t = w_hh.t()  # (P, 4H)
        w_hr_t = w_hr.t() if w_hr is not None else None  # (H, P)
        masks = mask.unbind(0) if mask is not None else [None] * T
        ms_list = ms.unbind(0) if ms is not None else hs[1:].unbind(0)
        steps = zip(acts.unbind(0), hs[:-1].unbind(0), hs[1:].unbind(0), cs[:-1].unbind(0),
                    cs[1:].unbind(0), tcs.unbind(0), ms_list, masks)
        for a_t, h_prev, h_t, c_prev, c_t, tc_t, m_t, mask_t in steps:
            # z_t = x̃_t + W_hh h_{t-1}
            a_t.addmm_(h_prev, w_hh_t)  # (B, 4H)
            i, f, g, o = a_t.chunk(4, 1)  # (B, H) each
            # i, f = σ(z_i), σ(z_f);  g = tanh(z_g);  o = σ(z_o)
            a_t[:, : 2 * H].sigmoid_()
            g.tanh_()
            o.sigmoid_()
            # c_t = f ⊙ c_{t-1} + i ⊙ g
            torch.mul(f, c_prev, out=c_t).addcmul_(i, g)
            _hold(mask_t, c_t, c_prev)
            # m_t = o ⊙ tanh(c_t)
            torch.tanh(c_t, out=tc_t)
            torch.mul(o, tc_t, out=m_t)
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
        delta = torch.empty_like(acts)  # (T, B, 4H): ∂L/∂z_t
        dhs = torch.empty_like(hs[1:]) if w_hr is not None else None  # (T, B, P): ∂L/∂h_t for ∂W_hr
        dh = d_hn.clone() if d_hn is not None else hs.new_zeros(hs.shape[1:])  # (B, P)
        dc = d_cn.clone() if d_cn is not None else cs.new_zeros(cs.shape[1:])  # (B, H)
        o_list = d_out.unbind(0) if d_out is not None else None
        a_list, d_list, c_list, tc_list = acts.unbind(0), delta.unbind(0), cs.unbind(0), tcs.unbind(0)
        m_list = mask.unbind(0) if mask is not None else None
        for t in range(T - 1, -1, -1):
            if o_list is not None:
                dh += o_list[t]
            if m_list is not None:
                held_h, held_c = dh * ~m_list[t], dc * ~m_list[t]
                dh.mul_(m_list[t])
                dc.mul_(m_list[t])
            i, f, g, o = a_list[t].chunk(4, 1)  # (B, H) each
            di, df, dg, do = d_list[t].chunk(4, 1)  # (B, H) each
            tc = tc_list[t]
            # ∂L/∂m_t = ∂L/∂h_t W_hr with a projection
            if w_hr is not None:
                dhs[t] = dh
                dm = torch.mm(dh, w_hr)  # (B, H)
            else:
                dm = dh
            # ∂L/∂o = ∂L/∂m ⊙ tanh(c_t);  ∂L/∂c_t += ∂L/∂m ⊙ o ⊙ (1 - tanh²(c_t))
            torch.mul(dm, tc, out=do)
            dc.addcmul_(dm * o, 1 - tc * tc)
            # ∂L/∂i = ∂c ⊙ g;  ∂L/∂f = ∂c ⊙ c_{t-1};  ∂L/∂g = ∂c ⊙ i
            torch.mul(dc, g, out=di)
            torch.mul(dc, c_list[t], out=df)
            torch.mul(dc, i, out=dg)
            # through the activations: σ' = σ(1-σ) for i, f, o;  tanh' = 1 - g² for g
            dg.mul_(1 - g * g)
            dif = d_list[t][:, : 2 * H]
            dif.mul_(a_list[t][:, : 2 * H] * (1 - a_list[t][:, : 2 * H]))
            do.mul_(o * (1 - o))
            # ∂L/∂c_{t-1} = ∂L/∂c_t ⊙ f   (the forget-gate path that keeps gradients alive)
            dc.mul_(f)
            # ∂L/∂h_{t-1} = δ_t W_hh
            dh = torch.mm(d_list[t], w_hh)  # (B, P)
            if m_list is not None:
                dh += held_h
                dc += held_c
        dw_ih, dw_hh, db, dx = _weight_grads(delta, x, hs[:-1], w_ih, ctx.needs_input_grad[0])
        dw_hr = None
        if w_hr is not None:
            # ∂W_hr = Σ_t (∂L/∂h_t)ᵀ m_t, one GEMM after the loop
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
        xp = _input_projection(x, w_ih, b_ih)  # (T, B, 3H): x̃_r, x̃_z, x̃_n
        gh = x.new_empty(T, B, 3 * H)  # (T, B, 3H): W_hh h_{t-1} + b_hh
        acts = x.new_empty(T, B, 3 * H)  # (T, B, 3H): r, z, n
        hs = x.new_empty(T + 1, B, H)  # (T+1, B, H)
        hs[0] = h0
        w_hh_t = w_hh.t()  # (H, 3H)
        masks = mask.unbind(0) if mask is not None else [None] * T
        steps = zip(xp.unbind(0), gh.unbind(0), acts.unbind(0), hs[:-1].unbind(0), hs[1:].unbind(0), masks)
        for xp_t, gh_t, a_t, h_prev, h_t, m_t in steps:
            if b_hh is None:
                torch.mm(h_prev, w_hh_t, out=gh_t)  # (B, 3H)
            else:
                torch.addmm(b_hh, h_prev, w_hh_t, out=gh_t)  # (B, 3H)
            rz, n = a_t[:, : 2 * H], a_t[:, 2 * H :]
            # r, z = σ(x̃_r + W_hr h + b_hr), σ(x̃_z + W_hz h + b_hz)
            torch.add(xp_t[:, : 2 * H], gh_t[:, : 2 * H], out=rz).sigmoid_()
            r = rz[:, :H]
            z = rz[:, H:]
            # n = tanh(x̃_n + r ⊙ (W_hn h + b_hn))
            torch.mul(r, gh_t[:, 2 * H :], out=n).add_(xp_t[:, 2 * H :]).tanh_()
            # h_t = (1 - z) ⊙ n + z ⊙ h_{t-1} = n + z ⊙ (h_{t-1} - n)
            torch.sub(h_prev, n, out=h_t).mul_(z).add_(n)
            _hold(m_t, h_t, h_prev)
        ctx.has_bias = b_ih is not None
        ctx.save_for_backward(x, mask, w_ih, w_hh, gh, acts, hs)
        return hs[1:], hs[-1].clone()

    @staticmethod
    def backward(ctx, d_out, d_hn):
        x, mask, w_ih, w_hh, gh, acts, hs = ctx.saved_tensors
        T, B, _ = x.shape
        H = hs.shape[-1]
        d_gh = torch.empty_like(gh)  # (T, B, 3H): ∂L/∂(W_hh h + b_hh)
        d_xn = torch.empty_like(hs[1:])  # (T, B, H): ∂L/∂x̃_n
        dh = d_hn.clone() if d_hn is not None else hs.new_zeros(hs.shape[1:])  # (B, H)
        o_list = d_out.unbind(0) if d_out is not None else None
        a_list, g_list, h_list = acts.unbind(0), gh.unbind(0), hs.unbind(0)
        dg_list, dxn_list = d_gh.unbind(0), d_xn.unbind(0)
        m_list = mask.unbind(0) if mask is not None else None
        for t in range(T - 1, -1, -1):
            if o_list is not None:
                dh += o_list[t]
            if m_list is not None:
                held = dh * ~m_list[t]
                dh.mul_(m_list[t])
            r, z, n = a_list[t].chunk(3, 1)  # (B, H) each
            dr, dz, dghn = dg_list[t].chunk(3, 1)  # (B, H) each
            dn = dxn_list[t]
            h_prev = h_list[t]
            # h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}:  ∂n = ∂h ⊙ (1 - z),  ∂z = ∂h ⊙ (h_{t-1} - n)
            torch.mul(dh, 1 - z, out=dn)
            torch.mul(dh, h_prev - n, out=dz)
            # through tanh: ∂(n pre-activation) = ∂n ⊙ (1 - n²) = ∂x̃_n
            dn.mul_(1 - n * n)
            # n_pre = x̃_n + r ⊙ ghn:  ∂r = ∂n_pre ⊙ ghn,  ∂ghn = ∂n_pre ⊙ r
            torch.mul(dn, g_list[t][:, 2 * H :], out=dr)
            torch.mul(dn, r, out=dghn)
            # through σ: ∂r_pre = ∂r ⊙ r(1-r), ∂z_pre = ∂z ⊙ z(1-z)
            rz = a_list[t][:, : 2 * H]
            dg_list[t][:, : 2 * H].mul_(rz * (1 - rz))
            # ∂L/∂h_{t-1} = ∂h ⊙ z + ∂gh W_hh
            dh = torch.addmm(dh * z, dg_list[t], w_hh)  # (B, H)
            if m_list is not None:
                dh += held
        # x̃ gets the same r, z gradients as gh, and ∂x̃_n for n
        d_xp = torch.cat([d_gh[..., : 2 * H], d_xn], dim=-1)  # (T, B, 3H)
        T_B = T * B
        dw_ih = torch.mm(d_xp.reshape(T_B, -1).t(), x.reshape(T_B, -1))  # (3H, I)
        dw_hh = torch.mm(d_gh.reshape(T_B, -1).t(), hs[:-1].reshape(T_B, -1))  # (3H, H)
        dx = torch.mm(d_xp.reshape(T_B, -1), w_ih).view(T, B, -1) if ctx.needs_input_grad[0] else None  # (T, B, I)
        db_ih = d_xp.reshape(T_B, -1).sum(0) if ctx.has_bias else None  # (3H,)
        db_hh = d_gh.reshape(T_B, -1).sum(0) if ctx.has_bias else None  # (3H,)
        return dx, dh, None, dw_ih, dw_hh, db_ih, db_hh


def rnn_bptt(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, mask=None, relu=False):
    """Vanilla RNN layer, one direction: x (T, B, I), h0 (B, H) -> (out (T, B, H), h_n (B, H))."""
    return _RNNFunction.apply(x.contiguous(), h0, mask, w_ih, w_hh, b_ih, b_hh, relu)


def lstm_bptt(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, mask=None):
    """LSTM layer, one direction: x (T, B, I), h0 (B, P), c0 (B, H) -> (out (T, B, P), h_n, c_n)."""
    return _LSTMFunction.apply(x.contiguous(), h0, c0, mask, w_ih, w_hh, b_ih, b_hh, w_hr)


def gru_bptt(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, mask=None):
    """GRU layer, one direction: x (T, B, I), h0 (B, H) -> (out (T, B, H), h_n (B, H))."""
    return _GRUFunction.apply(x.contiguous(), h0, mask, w_ih, w_hh, b_ih, b_hh)
