"""`seqlab tour`: the --quick tour end to end through the CLI (report.html checked in headless
Chromium), determinism, and the measured quantities each verdict is computed from."""

import json

import numpy as np
import pytest
import torch

from browser import render  # tests/browser.py (tests/ is on sys.path via tests/conftest.py)
from seqlab.cli.main import main
from seqlab.errors import ConfigError
from seqlab.experiments.tour import SECTIONS, TourSetup
from seqlab.experiments.tour.attention import head_divergence, softmax_sweep
from seqlab.experiments.tour.probability import (ChainRuleResult, FamilyCheck, build_tiny, run_variable_length,
                                                 stepwise_log_prob)
from seqlab.experiments.tour.recurrent import gates_on
from seqlab.experiments.tour.transformer import ReverseTagger, anti_diagonal_mass, equivariance_error


@pytest.fixture(scope="module")
def quick_tour(tmp_path_factory):
    """One `seqlab tour --quick` into a fresh folder (about a minute on 2 cores)."""
    out = tmp_path_factory.mktemp("tour") / "tour"
    assert main(["tour", "--quick", "--no-progress", "--out", str(out)]) == 0
    return out


def _strip_seconds(obj):
    if isinstance(obj, dict):
        return {k: _strip_seconds(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [_strip_seconds(v) for v in obj]
    return obj


def test_quick_tour_writes_every_section_and_the_browser_shows_it(quick_tour):
    files = {p.name for p in quick_tour.iterdir()}
    assert {"report.html", "report.md", "tour.json"} <= files
    pngs = sorted(f for f in files if f.endswith(".png"))
    assert {f.split("-")[0] for f in pngs} == {str(n) for n in SECTIONS}  # every section has a figure
    page = render(quick_tour / "report.html")
    for n, section in SECTIONS.items():
        assert f"{n}. {section.title}" in page.text
    assert page.images == len(pngs) and page.images_decoded == page.images
    assert page.external_urls == [] and page.scripts == 0 and page.csp_violations == []
    assert page.text.count("Verdict: ") == len(SECTIONS)
    closing = page.text.split("The measured results", 1)[1]
    assert all(f"{n}. {s.title}: " in closing for n, s in SECTIONS.items())
    record = json.loads((quick_tour / "tour.json").read_text(encoding="utf-8"))
    assert sorted(record["sections"], key=int) == [str(n) for n in SECTIONS]
    for n, sec in record["sections"].items():  # the verdict in the file is the one its numbers give
        word = "supported" if sec["verdict"]["supported"] else "not supported"
        assert f"{SECTIONS[int(n)].title}: {word}." in closing
    md = (quick_tour / "report.md").read_text(encoding="utf-8")
    assert all(f"]({p})" in md for p in pngs)


def test_two_quick_runs_give_identical_numbers(quick_tour, tmp_path):
    """Sections 2, 5 (trains the LSTM and GRU language models) and 8 (trains two taggers) run again on
    their own give exactly the numbers they gave inside the whole quick tour."""
    again = tmp_path / "again"
    assert main(["tour", "--quick", "--no-progress", "--sections", "2,5,8", "--out", str(again)]) == 0
    first = json.loads((quick_tour / "tour.json").read_text(encoding="utf-8"))["sections"]
    second = json.loads((again / "tour.json").read_text(encoding="utf-8"))["sections"]
    assert set(second) == {"2", "5", "8"}
    for n in second:
        assert _strip_seconds(second[n]) == _strip_seconds(first[n])


def test_bad_sections_are_one_line_errors_and_leave_no_folder(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["tour", "--quick", "--sections", "3,10", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sections" in err[0] and not out.exists()
    with pytest.raises(ConfigError):
        TourSetup(sections=())


def test_stepwise_scores_equal_one_pass_and_detect_a_wrong_order():
    model = build_tiny("gru", seed=0)
    x = torch.randint(0, 3, (4, 9), generator=torch.Generator().manual_seed(1))
    one_pass = model.log_prob(x).double()
    assert torch.allclose(stepwise_log_prob(model, x), one_pass, atol=1e-5)
    assert (stepwise_log_prob(model, x.flip(1)) - one_pass).abs().max() > 0.01  # the check can fail


def test_chain_rule_verdict_follows_its_threshold():
    good = [FamilyCheck("rnn", 1e-6, 1.0 + 1e-7), FamilyCheck("lstm", 2e-6, 1.0)]
    assert ChainRuleResult(good).verdict().supported
    assert not ChainRuleResult(good + [FamilyCheck("gru", 3e-3, 1.0)]).verdict().supported
    assert not ChainRuleResult(good + [FamilyCheck("gru", 1e-6, 0.98)]).verdict().supported


def test_padding_check_over_two_families():
    result = run_variable_length(seed=0, families=("lstm", "seq2seq-rnn"))
    assert [f.family for f in result.families] == ["lstm", "seq2seq-rnn"]
    assert result.verdict().supported and max(f.max_difference for f in result.families) < 1e-4


def test_sqrt_dk_keeps_the_softmax_entropy_and_no_scale_collapses_it():
    h_s, h_u, g_s, g_u = softmax_sweep(d_ks=(4, 64, 512), draws=300)
    assert max(h_s) - min(h_s) < 0.1 * max(h_s)        # scaled: about the same at every d_k
    assert h_u[0] > h_u[1] > h_u[2] and h_u[2] < 0.25 * h_s[2]
    assert g_u[2] < 0.1 * g_s[2]


def test_head_divergence_is_zero_for_equal_heads_and_one_bit_for_disjoint_ones():
    eye = np.eye(4)
    same = np.stack([eye, eye])[None]                   # (1 layer, 2 heads, 4, 4)
    disjoint = np.stack([eye, np.roll(eye, 1, axis=1)])[None]
    assert head_divergence(same)[0] == pytest.approx(0.0)
    assert head_divergence(disjoint)[0] == pytest.approx(1.0)


def test_anti_diagonal_mass_of_a_perfect_and_a_uniform_alignment():
    n = 5
    perfect = np.zeros((1, 2, n + 1, n))
    perfect[0, :, np.arange(n), n - 1 - np.arange(n)] = 1.0
    assert anti_diagonal_mass(perfect, n) == [pytest.approx(1.0)]
    assert anti_diagonal_mass(np.full((1, 1, n + 1, n), 1 / n), n) == [pytest.approx(1 / n)]


def test_an_encoder_without_positions_is_permutation_equivariant():
    x = torch.randint(0, 10, (4, 7), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    assert equivariance_error(ReverseTagger(10, positions=False), x, seed=0) < 1e-9
    torch.manual_seed(0)
    assert equivariance_error(ReverseTagger(10, positions=True), x, seed=0) > 1e-3


def test_gates_replay_the_recurrent_layer():
    from seqlab.models.registry import build_model

    for cell, names in (("lstm", {"i", "f", "o"}), ("gru", {"z", "r"})):
        model = build_model(cell, vocab_size=12, embed_dim=6, hidden_size=10).eval()
        gates, error = gates_on(model, torch.tensor([3, 1, 4, 1, 5]))
        assert set(gates) == names and error < 1e-5
        for v in gates.values():
            assert v.shape == (6, 10) and v.min() >= 0 and v.max() <= 1
