"""Shared by the Transformer oracle tests: run a module and take gradients of one fixed loss."""

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
