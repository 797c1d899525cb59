"""Shared by the Transformer oracle tests: run a module and take gradients of one fixed loss, and
run seqlab's own attention path where a layer would call torch's fused kernel."""

import contextlib

import torch


def run_with_grads(module, call, inputs):
    """Output of `call(module, *inputs)` and grads of a fixed, non-symmetric loss w.r.t. the inputs
    and every parameter: (out, input grads, {parameter name: grad})."""
    xs = [x.detach().clone().requires_grad_() for x in inputs]
    out = call(module, *xs)
    loss = (out.sin() * torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).view_as(out)).sum()
    names, params = zip(*module.named_parameters())
    grads = torch.autograd.grad(loss, xs + list(params))
    return out.detach(), grads[: len(xs)], dict(zip(names, grads[len(xs):]))


@contextlib.contextmanager
def explicit_attention():
    """Inside the block every seqlab MultiHeadAttention computes softmax(Q Kᵀ/√d_k + M) V itself
    (seqlab.nn.scaled_dot_product_attention with return_weights=True) instead of calling torch's
    fused F.scaled_dot_product_attention, which the Transformer layers use (need_weights=False).
    Without it, a layer oracle compares torch's attention kernel with itself. Yields the list of
    calls, so a test can check that the explicit path really ran."""
    import seqlab.nn.multihead as mh

    real, calls = mh.scaled_dot_product_attention, []

    def explicit(*args, return_weights=False, **kw):
        calls.append(1)
        out, weights = real(*args, return_weights=True, **kw)
        return (out, weights) if return_weights else out

    mh.scaled_dot_product_attention = explicit
    try:
        yield calls
    finally:
        mh.scaled_dot_product_attention = real


def assert_twin(theirs, ours, call, inputs, atol):
    """`ours` (a seqlab module) equals `theirs` (its torch.nn twin, whose weights it loads): outputs,
    input grads and every parameter's grad, within `atol`. Run twice: with torch's fused attention
    core inside seqlab's layers, then with seqlab's own attention (`explicit_attention`)."""
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    out_t, gx_t, gp_t = run_with_grads(theirs, call, inputs)
    for explicit in (False, True):
        with explicit_attention() if explicit else contextlib.nullcontext() as calls:
            out_o, gx_o, gp_o = run_with_grads(ours, call, inputs)
        assert not explicit or calls, "seqlab's explicit attention path did not run"
        torch.testing.assert_close(out_o, out_t, atol=atol, rtol=0)
        for a, b in zip(gx_o, gx_t, strict=True):
            torch.testing.assert_close(a, b, atol=atol, rtol=0)
        assert gp_o.keys() == gp_t.keys()
        for name in gp_t:
            torch.testing.assert_close(gp_o[name], gp_t[name], atol=atol, rtol=0, msg=name)
