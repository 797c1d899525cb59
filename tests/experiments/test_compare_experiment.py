"""The compare experiment as a function: steps bought by the FLOP budget, validation-only selection,
the test number `seqlab eval` reproduces bit for bit, and a scaling study over budgets."""

from __future__ import annotations


import pytest
import torch

from seqlab.errors import ConfigError
from seqlab.experiments.compare import CompareSetup, run_compare
from seqlab.experiments.flops import steps_for
from seqlab.experiments.recipes import SIZES
from seqlab.experiments.flops import train_flops_per_token

WORDS = "the cat sat on the mat while a dog ran past the old red barn and the bird sang".split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    import random

    rng = random.Random(1)
    text = "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))) for _ in range(300))
    path = tmp_path_factory.mktemp("cmpx") / "c.txt"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _setup(corpus, root, **kw):
    base = dict(data=f"file:{corpus}", models=("markov", "gru", "transformer"), size="tiny", budgets=(5e7,),
                seeds=2, block_size=16, val_tokens=400, max_order=4, sample_tokens=8, jobs=1, run_root=root)
    base.update(kw)
    return CompareSetup(**base)


@pytest.fixture(scope="module")
def result(corpus, tmp_path_factory):
    return run_compare(_setup(corpus, tmp_path_factory.mktemp("runs")))


def test_steps_are_bought_by_the_flop_budget(result):
    T = result.setup.T
    for fam in result.leaderboard.families:
        if fam.name == "markov":
            continue
        c = result.flops_per_token[fam.name]
        B = SIZES["tiny"].recipes[fam.name].batch_size
        for run in fam.runs:
            assert run.steps == steps_for(c, 5e7, B, T) == int(5e7 // (c * B * T))
            assert run.tokens == run.steps * B * T
            assert run.flops == pytest.approx(run.tokens * c) and run.flops <= 5e7
            assert run.flops > 5e7 - c * B * T  # no whole step left unspent


def test_flops_per_token_is_the_models_count(result):
    from seqlab.models.registry import build_model

    for name, c in result.flops_per_token.items():
        fields = dict(SIZES["tiny"].recipes[name].model)
        if name == "transformer":
            fields["block_size"] = 16
        model = build_model(name, vocab_size=result.vocab_size, **fields)
        assert c == train_flops_per_token(model, 16)


def test_markov_order_is_the_validation_argmin(result):
    markov = result.leaderboard.family("markov").runs[0]
    vals = markov.curve.val_bits
    assert int(markov.detail) == 1 + vals.index(min(vals))
    assert markov.val_bits == pytest.approx(min(vals))


def test_test_number_equals_eval_run_exactly(result):
    from seqlab.train import eval_run

    root = result.setup.run_root
    for fam in result.leaderboard.families:
        for run in fam.runs:
            score = eval_run(root / run.run_dir, split="test")
            assert score.bits_per_token == run.test_bits  # the same scorer on the same windows: bit for bit
            assert score.tokens == result.test_tokens


def test_seeds_differ_and_spread_is_reported(result):
    for fam in result.leaderboard.families:
        if fam.name == "markov":
            assert fam.test.deterministic and fam.test.n == 1
        else:
            assert [r.seed for r in fam.runs] == [0, 1]
            assert fam.test.n == 2 and len(set(fam.test.values)) == 2  # different init and batch order
            assert fam.test.mean == pytest.approx(sum(r.test_bits for r in fam.runs) / 2)


def test_scaling_study_over_budgets(corpus, tmp_path):
    res = run_compare(_setup(corpus, tmp_path, models=("markov", "rnn"), seeds=1, budgets=(1e8, 2.5e7)))
    assert [b.budget for b in res.budgets] == [2.5e7, 1e8]  # ascending
    rnn = [b.family("rnn").runs[0] for b in res.budgets]
    assert rnn[1].steps == 4 * rnn[0].steps or abs(rnn[1].steps - 4 * rnn[0].steps) <= 4
    assert rnn[0].run_dir.startswith("budget-2.5e+07/rnn/")
    over = res.overtakes_counting()
    assert set(over) == {"rnn"}
    for budget, leader in res.leaders():
        assert leader == "rnn"
    # the same Markov fit appears at every budget
    assert res.budgets[0].family("markov").runs[0] is res.budgets[1].family("markov").runs[0]


def test_unknown_family_is_refused_before_training(corpus, tmp_path):
    with pytest.raises(ConfigError, match="unknown model 'hmm' for text data"):
        run_compare(_setup(corpus, tmp_path, models=("markov", "hmm")))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kw, fragment", [
    (dict(models=("markov", "markov")), "once"),
    (dict(budgets=(0.0,)), "positive"),
    (dict(budgets=(1e9, 1e9)), "once"),
    (dict(seeds=0), "seeds"),
    (dict(sample_tokens=-5), "sample-tokens"),
    (dict(size="huge"), "size"),
])
def test_bad_setups_are_config_errors(corpus, tmp_path, kw, fragment):
    with pytest.raises(ConfigError, match=fragment):
        _setup(corpus, tmp_path, **kw)


def test_budget_below_ten_steps_is_refused_before_training(corpus, tmp_path):
    with pytest.raises(ConfigError, match="fewer than 10 steps"):
        run_compare(_setup(corpus, tmp_path, budgets=(1e5,)))
    assert list(tmp_path.iterdir()) == []


def test_threads_are_restored(corpus, tmp_path):
    before = torch.get_num_threads()
    run_compare(_setup(corpus, tmp_path, models=("markov",), seeds=1))
    assert torch.get_num_threads() == before


def test_post_lecture_families_compare_on_request_only(corpus, tmp_path):
    from seqlab.experiments.compare import DEFAULT_MODELS
    from seqlab.experiments.compare_series import POST_LECTURE, SERIES_DEFAULT

    assert not set(POST_LECTURE) & set(DEFAULT_MODELS) and not set(POST_LECTURE) & set(SERIES_DEFAULT)
    res = run_compare(_setup(corpus, tmp_path, models=("markov", "mingru", "retnet", "mamba"), seeds=1,
                             budgets=(1e8,)))
    assert {f.name for f in res.leaderboard.families} == {"markov", "mingru", "retnet", "mamba"}
    from seqlab.train import eval_run

    for fam in res.leaderboard.families:  # their run folders score with seqlab eval to the same number
        assert eval_run(tmp_path / fam.runs[0].run_dir, split="test").bits_per_token == fam.runs[0].test_bits
