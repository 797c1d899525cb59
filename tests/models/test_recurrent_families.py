"""minGRU/minLSTM, RetNet and Mamba as sequence models (seqlab/models/{minrnn,retention,ssm}.py).

The family contract (chain rule, padding, cached decoding = recompute, dtypes, state) runs on them
through models_tiny.KINDS_OF (test_interface.py), and the learning tests through test_learning.py.
Here: what is particular to them. Their parallel forms work in chunks (scan chunks of 64 steps)
or over a T x T decay matrix, so decoding is checked past a chunk boundary; the parallel pass
hands the same state to `step` as the recurrent form; config errors; and the families run through
`seqlab train`, `eval` and `generate` as run folders.
"""

import json

import pytest
import torch

from seqlab.cli.main import main
from seqlab.errors import ConfigError
from seqlab.models import registry

V = 7
NEW = ("mingru", "minlstm", "retnet", "mamba")
SMALL = dict(d_model=16, hidden_size=12, num_layers=2, n_layer=2, n_head=2, dim_feedforward=24, d_state=4)


def small(name, **kw):
    fields = {f for f in registry.config_class(name).__dataclass_fields__}
    return registry.build_model(name, **{k: v for k, v in {**SMALL, "vocab_size": V, **kw}.items()
                                         if k in fields}).eval()


@pytest.mark.parametrize("name", NEW)
def test_decoding_past_a_scan_chunk_equals_the_parallel_form(name):
    # T = 150 crosses the 64-step chunks of the minGRU / SSM scans twice
    torch.manual_seed(0)
    model = small(name)
    x = torch.randint(0, V, (2, 150))
    with torch.no_grad():
        full = model.conditionals(x)  # (2, 151, V)
        params, state = model.start(2)
        inc = [params]
        for x_t in x.unbind(1):
            params, state = model.step(x_t, state)
            inc.append(params)
    torch.testing.assert_close(torch.stack(inc, 1), full, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", NEW)
def test_prefill_state_equals_the_recurrent_state(name):
    # the parallel pass (prefill) and the recurrent form (start + steps) end in the same state
    torch.manual_seed(1)
    model = small(name)
    x = torch.randint(0, V, (3, 9))
    with torch.no_grad():
        _, parallel = model.prefill(x)
        _, recurrent = model.start(3)
        for x_t in x.unbind(1):
            _, recurrent = model.step(x_t, recurrent)
    assert type(parallel) is type(recurrent)
    for a, b in zip(parallel, recurrent):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    if name == "retnet":
        assert parallel.n.tolist() == [10, 10, 10]  # BOS + 9 elements: the rotary position reached


def test_state_shapes_follow_the_config():
    B = 2
    x = torch.randint(0, V, (B, 3))
    with torch.no_grad():
        assert small("mingru").prefill(x)[1].h.shape == (B, 2, 12)  # (B, L, H)
        S, n = small("retnet").prefill(x)[1]
        assert S.shape == (B, 2, 2, 8, 16) and n.dtype == torch.long  # (B, L, h, d_k, d_v = 2 d_k)
        conv, h = small("mamba", d_conv=3, expand=3).prefill(x)[1]
        assert conv.shape == (B, 2, 48, 2) and h.shape == (B, 2, 48, 4)  # (B, L, D, K-1), (B, L, D, N)


@pytest.mark.parametrize("name", NEW)
def test_tied_head_reads_the_embedding_table(name):
    model = small(name)
    # the only (V or V+1, ·) matrix is the input table: the head has no weight of its own
    assert [k for k, w in model.state_dict().items() if w.dim() == 2 and w.shape[0] in (V, V + 1)] == ["embed.weight"]
    untied = small(name, tie_weights=False)
    assert untied.head.weight.shape == (V, 16)


def test_registry_names_fix_the_cell_and_bad_configs_raise():
    assert registry.build_model("mingru", vocab_size=V).config.cell == "gru"
    assert registry.build_model("minlstm", vocab_size=V).config.cell == "lstm"
    with pytest.raises(ConfigError, match="cell"):
        registry.build_model("mingru", vocab_size=V, cell="lstm")
    with pytest.raises(ConfigError, match="even head size"):
        registry.build_model("retnet", vocab_size=V, d_model=12, n_head=4)  # d_k = 3
    with pytest.raises(ConfigError, match="d_state"):
        registry.build_model("mamba", vocab_size=V, d_state=0)
    with pytest.raises(ConfigError, match="dropout"):
        registry.build_model("minlstm", vocab_size=V, dropout=1.0)
    with pytest.raises(ConfigError, match="unknown MambaConfig field"):
        registry.build_model("mamba", vocab_size=V, n_head=2)


@pytest.mark.parametrize("name", NEW)
def test_train_eval_generate_through_the_cli(tmp_path, capsys, name):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the past and the next token; " * 60, encoding="utf-8")
    out = tmp_path / name
    small_opts = {"mingru": ["--d-model", "16", "--hidden-size", "16", "--num-layers", "1"],
                  "minlstm": ["--d-model", "16", "--hidden-size", "16", "--num-layers", "1"],
                  "retnet": ["--d-model", "16", "--n-head", "2", "--n-layer", "1"],
                  "mamba": ["--d-model", "16", "--n-layer", "1", "--d-state", "4"]}[name]
    assert main(["train", "--model", name, "--data", f"file:{corpus}", "--out", str(out), "--steps", "4",
                 "--batch-size", "4", "--block-size", "16", "--eval-interval", "2", "--eval-tokens", "128",
                 "--no-progress", *small_opts]) == 0
    assert json.loads((out / "config.json").read_text())["model"]["name"] == name
    capsys.readouterr()
    assert main(["eval", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loss_nats"] > 0
    # greedy decoding twice (step by step) gives the same text; beams run too
    for _ in range(2):
        assert main(["generate", str(out), "--prompt", "the ", "-n", "12", "--temperature", "0"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first == second and first.startswith("the ") and len(first) == 4 + 12
    assert main(["generate", str(out), "--prompt", "the ", "-n", "6", "--beams", "2"]) == 0
