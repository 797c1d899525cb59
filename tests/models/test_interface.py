"""The SequenceModel contract, checked for every registered family (tokens and real values).

Chain rule == sum of step-wise conditionals; cached/incremental params == full recompute;
variable-length batches == one sequence at a time; forward's loss == chain-rule NLL;
config + safetensors round trip. Run on every (model, kind) case of models_tiny.KINDS_OF; a model
that fails to import or build fails here (nothing is skipped).
"""

import dataclasses

import pytest
import torch
from hypothesis import given, settings, strategies as st
from safetensors.torch import load_file, save_file

from models_tiny import KINDS_OF, LM_NAMES, NOT_CHAIN, REAL, TOKENS, V, cases, sample_data, tiny
from seqlab.errors import ConfigError, DataError
from seqlab.models import registry

# LinearAR scores the conditional likelihood given its first tau values (tested in test_ar*)
CHAIN_CASES = cases(exclude=NOT_CHAIN)


def stepwise(model, x):
    """Params (B, T+1, P) by the incremental interface: start, then one step per element."""
    params, state = model.start(x.shape[0])
    out = [params]
    for x_t in x.unbind(1):
        params, state = model.step(x_t, state)
        out.append(params)
    return torch.stack(out, 1)


@pytest.mark.parametrize("name,real", CHAIN_CASES)
def test_chain_rule_and_cache_equal_full_recompute(name, real):
    model = tiny(name, real)
    x = sample_data(real, B=3, T=7)
    with torch.no_grad():
        full = model.conditionals(x)  # (B, T+1, P)
        inc = stepwise(model, x)
        torch.testing.assert_close(inc, full, atol=1e-5, rtol=1e-5)
        # chain rule: log P(x) = Σ_t log P(x_t | x_<t), the conditionals from incremental decoding
        expected = model.emission.log_prob(inc[:, :-1], x).sum(1)
        torch.testing.assert_close(model.log_prob(x), expected, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("name,real", CHAIN_CASES)
def test_prefill_equals_steps(name, real):
    model = tiny(name, real)
    x = sample_data(real, B=2, T=5)
    with torch.no_grad():
        params, state = model.prefill(x)
        torch.testing.assert_close(params, stepwise(model, x)[:, -1], atol=1e-5, rtol=1e-5)
        x_next = x[:, 0]
        p2, _ = model.step(x_next, state)
        torch.testing.assert_close(p2, model.conditionals(torch.cat([x, x_next[:, None]], 1))[:, -1],
                                   atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name,real", CHAIN_CASES)
@settings(max_examples=8, deadline=None)
@given(lengths=st.lists(st.integers(1, 8), min_size=1, max_size=4), seed=st.integers(0, 99))
def test_variable_length_batch_equals_one_at_a_time(name, real, lengths, seed):
    model = tiny(name, real)
    T = max(lengths)
    x = sample_data(real, B=len(lengths), T=T, seed=seed)
    garbage = sample_data(real, B=len(lengths), T=T, seed=seed + 1000)  # padding content must not matter
    pos = torch.arange(T)[None] >= torch.tensor(lengths)[:, None]
    x_padded = torch.where(pos, garbage, x)
    lens = torch.tensor(lengths)
    with torch.no_grad():
        batch = model.log_prob(x_padded, lens)
        single = torch.stack([model.log_prob(x[b:b + 1, :n])[0] for b, n in enumerate(lengths)])
    torch.testing.assert_close(batch, single, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("name,real", CHAIN_CASES)
def test_forward_loss_is_window_nll(name, real):
    model = tiny(name, real)
    w = sample_data(real, B=3, T=9)
    with torch.no_grad():
        out, loss = model(w[:, :-1], w[:, 1:])
        expected = -model.log_prob(w).sum() / w.numel()
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    if real:
        assert out[0].shape == out[1].shape == (3, 8)
    else:
        assert out.shape == (3, 8, V)


@pytest.mark.parametrize("name,real", cases())
def test_config_and_safetensors_round_trip(name, real, tmp_path):
    model = tiny(name, real)
    cfg = dataclasses.asdict(model.config)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "m.safetensors")
    clone = type(model).from_config(cfg)
    clone.load_state_dict(load_file(tmp_path / "m.safetensors"))
    clone.eval()
    x = sample_data(real, B=2, T=6)
    with torch.no_grad():
        torch.testing.assert_close(clone.log_prob(x), model.log_prob(x))


def test_every_registered_model_is_covered():
    # a new registry name must state its kinds in models_tiny.KINDS_OF, or no contract test runs on it
    assert set(KINDS_OF) == set(LM_NAMES)
    assert all(set(k) <= {TOKENS, REAL} and k for k in KINDS_OF.values())


@pytest.mark.parametrize("name", LM_NAMES)
def test_unsupported_kinds_are_refused(name):
    # the kinds KINDS_OF leaves out are really not modelled: building one raises ConfigError or
    # gives the other emission (LinearAR has no vocab_size: it is real-valued whatever is asked)
    for kind in {TOKENS, REAL} - set(KINDS_OF[name]):
        fields = {f.name for f in dataclasses.fields(registry.config_class(name))}
        kw = {"vocab_size": V if kind == TOKENS else None} if "vocab_size" in fields else {}
        try:
            model = registry.build_model(name, **kw)
        except ConfigError:
            continue
        assert model.emission_kind == ("gaussian" if kind == TOKENS else "categorical"), (name, kind)


def test_registry_errors():
    with pytest.raises(ConfigError, match="unknown model"):
        registry.build_model("lstmm")
    with pytest.raises(ConfigError, match="cell"):
        registry.build_model("lstm", vocab_size=V, cell="gru")
    with pytest.raises(ConfigError, match="unknown RNNConfig field"):
        registry.build_model("gru", vocab_size=V, hiden_size=3)
    assert registry.build_model("gru", vocab_size=V).config.cell == "gru"


def test_bad_input_raises_data_error():
    model = tiny("lstm")
    with pytest.raises(DataError, match="outside the vocabulary"):
        model.log_prob(torch.tensor([[0, 1, V]]))
    with pytest.raises(DataError, match="shape"):
        model.log_prob(torch.tensor([0, 1]))
    with pytest.raises(DataError, match="lengths"):
        model.log_prob(torch.tensor([[0, 1]]), lengths=torch.tensor([3]))
    with pytest.raises(DataError, match="vocabulary"):
        model.generate([0, 9], 3)


def _float_tensors(state):
    if torch.is_tensor(state):
        return [state] if state.is_floating_point() else []
    if isinstance(state, dict):
        state = list(state.values())
    if isinstance(state, (list, tuple)):
        return [t for s in state for t in _float_tensors(s)]
    return [t for t in (getattr(state, "k", None), getattr(state, "v", None)) if t is not None]  # KVCache


# LinearAR is float64 by design (closed-form least squares), so it is not run in bfloat16
DTYPE_CASES = [pytest.param(*c.values, dtype, id=f"{c.id}-{str(dtype)[6:]}") for c in cases()
               for dtype in (torch.float64, torch.bfloat16) if (c.values[0], dtype) != ("ar", torch.bfloat16)]


@pytest.mark.parametrize("name,real,dtype", DTYPE_CASES)
def test_models_run_in_the_dtype_they_are_given(name, real, dtype):
    ref = tiny(name, real)
    model = tiny(name, real).to(dtype)
    model.load_state_dict(ref.state_dict())  # the same weights, cast
    x = sample_data(real, B=2, T=6)
    tol = dict(atol=1e-9, rtol=1e-9) if dtype == torch.float64 else dict(atol=0.1, rtol=0.05)
    with torch.no_grad():
        params, state = model.prefill(x)
        # the incremental state (recurrent h/c, KV cache, window) follows the parameters' dtype
        assert all(t.dtype == dtype and t.device == model.device for t in _float_tensors(state))
        if name not in NOT_CHAIN:
            torch.testing.assert_close(params.double(), model.conditionals(x)[:, -1].double(), **tol)
        # the numbers are the float32 model's, to the cast's precision
        lp = model.log_prob(x).double()
        torch.testing.assert_close(lp, ref.log_prob(x).double(), atol=1e-4 if dtype == torch.float64 else 0.5,
                                   rtol=1e-5 if dtype == torch.float64 else 0.05)
    if real:
        f = model.forecast(x, horizon=3, num_samples=8, seed=0)
        assert f.mean.shape == (2, 3) and bool(torch.isfinite(f.samples).all())
    else:
        out = model.generate(x[:, :3], 4, seed=0)
        assert out.shape == (2, 7) and torch.equal(out[:, :3], x[:, :3])
        assert model.generate(x[:, :3], 3, num_beams=2).shape == (2, 6)


NEURAL_CASES = [c for c in CHAIN_CASES if c.values[0] not in ("markov",)]


@pytest.mark.parametrize("name,real", NEURAL_CASES)
def test_state_is_a_batch_first_namedtuple_reordered_into_a_new_state(name, real):
    # the state contract (seqlab.models.base): a typed NamedTuple, every tensor with batch on axis 0,
    # reorder_state (implemented once, in the base) selects rows into a new state, the old one unchanged
    model = tiny(name, real)
    x = sample_data(real, B=3, T=4)
    with torch.no_grad():
        _, state = model.prefill(x)
        assert isinstance(state, tuple) and hasattr(state, "_fields"), type(state)
        tensors = [t for t in torch.utils._pytree.tree_leaves(state) if torch.is_tensor(t)]
        assert tensors and all(t.shape[0] == 3 for t in tensors)
        before = [t.clone() for t in tensors]
        index = torch.tensor([2, 0, 0])
        picked = model.reorder_state(state, index)
        assert type(picked) is type(state)
        assert all(torch.equal(t, b) for t, b in zip(tensors, before))  # not in place
        # stepping the reordered state == stepping the chosen rows' own states
        p, _ = model.step(x[index, 0], picked)
        want = model.conditionals(torch.cat([x[index], x[index, :1]], 1))[:, -1]
        torch.testing.assert_close(p, want, atol=1e-5, rtol=1e-5)
