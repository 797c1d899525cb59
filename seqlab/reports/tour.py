"""A `TourResult` as the pages people read: report.md, report.html and the terminal summary.
Pure functions from the result (and the figures already drawn) to text; the CLI writes them.

Every section reads: the notes' words, the claim in one sentence, the experiment in two, the
figures, the measured numbers as tables, and the verdict with the numbers and the threshold it
was decided by. The page ends with the measured result of every section.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path

from seqlab.reports.tables import format_number, markdown_table

__all__ = ["command_line", "section_tables", "report_markdown", "report_html", "terminal_summary",
           "closing_lines"]


def command_line(setup) -> str:
    """The `seqlab tour` command that reproduces `setup` (output folder aside)."""
    parts = ["seqlab"]
    if setup.threads != 1:
        parts += ["--threads", str(setup.threads)]
    parts += ["tour"] + (["--quick"] if setup.quick else []) + ["--seed", str(setup.seed)]
    if setup.data != "pydoc":
        parts += ["--data", setup.data]
    if len(setup.sections) != 9:
        parts += ["--sections", ",".join(map(str, setup.sections))]
    return " ".join(shlex.quote(p) for p in parts)


def _sci(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1e}"


def _f(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _matrix(name: str, m, column: str) -> tuple:
    rows = [[f"token {i + 1}"] + [f"{v:.3f}" for v in row] for i, row in enumerate(m)]
    return (name, [""] + [f"{column}{j + 1}" for j in range(len(m[0]))], rows)


def _tables_1(r, sec):
    return [("one pass vs step by step, and Σ P(x) over all 3^5 sequences of length 5",
             ["family", "max |log_prob - Σ step-wise| (nats)", "Σ P(x)", "|Σ P(x) - 1|"],
             [[f.family, _sci(f.max_difference),
               "- (density)" if f.total_probability is None else f"{f.total_probability:.9f}",
               "-" if f.total_probability is None else _sci(abs(f.total_probability - 1))]
              for f in sec.families])]


def _tables_2(r, sec):
    return [(f"lengths {', '.join(map(str, sec.lengths))} in one padded batch vs alone",
             ["family", "max |padded - alone| (nats)"], [[f.family, _sci(f.max_difference)] for f in sec.families])]


def _tables_3(r, sec):
    rows = []
    for row in sec.rows:
        kind = {"markov": "counts, last τ", "neural-ar": "last τ",
                "transformer": "whole past"}.get(row.family, "latent state")
        rows.append([row.family, "-" if row.tau is None else str(row.tau), kind,
                     "not representable" if row.test_bits is None else f"{row.test_bits:.3f}",
                     "-" if row.size is None else format_number(row.size),
                     "-" if row.test_bits is None else f"{row.seconds:.1f}"])
    return [(f"test bits per character, {sec.test_chars:,} test characters, V = {sec.vocab_size} "
             f"(uniform guess: {math.log2(sec.vocab_size):.3f})",
             ["model", "τ", "reads", "test bits/char", "params / n-gram types", "seconds"], rows)]


def _tables_4(r, sec):
    out = []
    for task, metric in (("copy", "test loss, nats/step"), ("adding", "test MSE")):
        p = getattr(sec, task)
        models = list(p.scores)
        out.append((f"{task}: {metric} (lower is better; the baseline is the best memoryless score)",
                    ["T", "baseline"] + models,
                    [[str(T), f"{p.baselines[i]:.4f}"] + [f"{p.scores[m][i]:.4f}" for m in models]
                     for i, T in enumerate(p.lengths)]))
    rows = []
    for task in ("copy", "adding"):
        p = getattr(sec, task)
        for m, g in p.grad_norms.items():
            rows.append([task, m, _sci(float(g[0])), _sci(float(g[-1])), _sci(sec.gradient_ratio(task, m))])
    out.append((f"gradient of the last output's loss at T = {sec.adding.lengths[-1]}: distance 0 and the largest",
                ["task", "model", "g(0)", "g(d_max)", "g(d_max) / g(0)"], rows))
    return out


def _tables_5(r, sec):
    return [(f"gates over {sec.sentence!r} ({len(sec.labels)} steps with the start symbol)",
             ["model", "gate", "mean", "std over the sentence", "< 0.1 or > 0.9", "untrained std",
              "untrained < 0.1 or > 0.9"],
             [[g.model, g.gate, f"{g.mean:.3f}", f"{g.time_std:.3f}", f"{g.saturated:.1%}", f"{g.init_time_std:.3f}",
               f"{g.init_saturated:.1%}"] for g in sec.gates])]


def _tables_6(r, sec):
    out = [_matrix("X (4 tokens, d = 4)", sec.X, "x"),
           _matrix("W_q", sec.W_q, "q"), _matrix("W_k", sec.W_k, "k"), _matrix("W_v", sec.W_v, "v"),
           _matrix(f"step 1: Q = X W_q (d_k = {sec.d_k})", sec.Q, "q"),
           _matrix(f"step 1: K = X W_k (d_k = {sec.d_k})", sec.K, "k"),
           _matrix(f"step 1: V = X W_v (d_v = {sec.d_v})", sec.V, "v"),
           _matrix("step 2: scores = Q Kᵀ", sec.scores, "key "),
           _matrix(f"step 3: scores / √d_k = scores / {math.sqrt(sec.d_k):.3f}", sec.scaled, "key "),
           _matrix("step 4: softmax over each row", sec.weights, "key "),
           _matrix(f"step 5: Z = softmax · V ({len(sec.tokens)} x d_v = {sec.d_v}); "
                   f"seqlab.nn.scaled_dot_product_attention gives the same to {sec.library_error:.1e}", sec.Z, "z")]
    out.append((f"one query against {sec.keys} keys with N(0, 1) entries (entropy: mean; gradient: median over draws)",
                ["d_k", "entropy, scaled", "entropy, unscaled", "largest gradient, scaled",
                 "largest gradient, unscaled"],
                [[str(d), f"{a:.3f}", f"{b:.3f}", f"{c:.4f}", _sci(e)] for d, a, b, c, e in
                 zip(sec.d_ks, sec.entropy_scaled, sec.entropy_unscaled, sec.grad_scaled, sec.grad_unscaled)]))
    return out


def _tables_7(r, sec):
    L, h = sec.distance.shape
    return [("how different the heads of a layer are: mean pairwise Jensen-Shannon divergence (bits; "
             "0 = identical, 1 = disjoint)",
             ["layer", "trained", "untrained"],
             [[str(i), f"{d:.3f}", f"{u:.3f}"] for i, (d, u) in enumerate(zip(sec.divergence, sec.init_divergence))]),
            ("mean attention distance (characters back), per head", ["layer"] + [f"head {j}" for j in range(h)],
             [[str(i)] + [f"{x:.1f}" for x in sec.distance[i]] for i in range(L)])]


def _tables_8(r, sec):
    return [(f"reverse of {sec.length} characters: {sec.train_pairs} training / {sec.test_pairs} test strings, "
             f"{sec.steps} steps each",
             ["encoder", "max |f(X[π]) - f(X)[π]|", "per-character accuracy", "exact match", "parameters"],
             [["no positions", _sci(sec.error_without), f"{sec.accuracy_without:.3f}", f"{sec.exact_without:.3f}",
               format_number(sec.parameters)],
              ["sinusoidal positions", _sci(sec.error_with), f"{sec.accuracy_with:.3f}", f"{sec.exact_with:.3f}",
               format_number(sec.parameters)]])]


def _tables_9(r, sec):
    return [(f"reverse of 1..{sec.max_length} characters: {sec.train_pairs} training / {sec.test_pairs} test pairs, "
             f"{sec.steps} steps each",
             ["decoder", "greedy exact match", "held-out nats per target token"],
             [["cross-attention on the encoder's K, V", f"{sec.exact_with:.3f}", f"{sec.nll_with:.3f}"],
              ["cross-attention on a zeroed memory", f"{sec.exact_without:.3f}", f"{sec.nll_without:.3f}"]]),
            (f"weight on the anti-diagonal (source position n-1-t for target step t) on {sec.source!r}, mean over "
             f"heads; uniform would be {1 / len(sec.source):.3f}",
             ["decoder layer", "anti-diagonal weight"], [[str(i), f"{a:.3f}"] for i, a in enumerate(sec.alignment)]),
            ("test pairs decoded", ["source", "target", "with cross-attention", "zeroed memory"],
             [list(e) for e in sec.examples])]


_TABLES = {1: _tables_1, 2: _tables_2, 3: _tables_3, 4: _tables_4, 5: _tables_5, 6: _tables_6, 7: _tables_7,
           8: _tables_8, 9: _tables_9}


def section_tables(result, number: int) -> list[tuple[str, list, list]]:
    """(caption, headers, rows) of every table of a section, rows as display strings."""
    return _TABLES[number](result, result.sections[number])


def closing_lines(result) -> list[str]:
    """One line per section run: number, title, verdict and what was measured."""
    from seqlab.experiments.tour import SECTIONS

    return [f"{n}. {SECTIONS[n].title}: {v.word}. {v.measured}." for n, v in result.verdicts().items()]


def _setup_lines(result) -> list[str]:
    s = result.setup
    lines = [f"sizes: {'quick' if s.quick else 'full'}; seed {s.seed}; {s.threads} torch thread(s); "
             f"total wall clock {result.total_seconds:.0f} s",
             f"corpus of sections 3, 5 and 7: `{s.data}` (character vocabulary of {result.vocab_size}, fitted on the "
             f"training part)" if result.vocab_size else f"corpus: `{s.data}` (not used by the sections run)"]
    if result.sentence:
        lines.append(f"sentence of sections 5 and 7 (the first short prose sentence of the test part): "
                     f"{result.sentence!r}")
    return lines


def report_markdown(result, command: str, figures: dict) -> str:
    """report.md: the same content as report.html, figures linked by file name."""
    from seqlab.experiments.tour import SECTIONS

    out = ["# seqlab tour: the lecture's claims, measured", ""]
    out += [f"- {line}" for line in _setup_lines(result)]
    out += ["", "Reproduce (the same seed gives the same numbers at the same thread count):", "", "```",
            command, "```", ""]
    for n, sec in result.sections.items():
        meta, v = SECTIONS[n], sec.verdict()
        out += [f"## {n}. {meta.title}", "", f"> {meta.notes}", "", f"**Claim.** {meta.claim}", "",
                f"**Experiment.** {result.experiment_text(n)}", ""]
        for path, caption in figures.get(n, []):
            out += [f"![{caption}]({Path(path).name})", "", f"*{caption}*", ""]
        for caption, headers, rows in section_tables(result, n):
            out += [f"{caption}:", "", markdown_table(headers, rows)]
        out += [f"**Verdict: {v.word}.** Measured: {v.measured}. Rule: {v.rule}.", ""]
    out += ["## The measured results", ""] + [f"- {line}" for line in closing_lines(result)] + [""]
    return "\n".join(out)


def report_html(result, command: str, figures: dict) -> str:
    """report.html: one self-contained page (seqlab.reports.html), figures inlined."""
    from seqlab.experiments.tour import SECTIONS
    from seqlab.reports.html import HtmlReport

    page = HtmlReport("seqlab tour: the lecture's claims, measured")
    page.bullets(_setup_lines(result))
    page.paragraph("Reproduce (the same seed gives the same numbers at the same thread count):")
    page.code_block(command)
    for n, sec in result.sections.items():
        meta, v = SECTIONS[n], sec.verdict()
        page.heading(f"{n}. {meta.title}")
        page.paragraph(f"Notes: {meta.notes}")
        page.paragraph(f"Claim. {meta.claim}")
        page.paragraph(f"Experiment. {result.experiment_text(n)}")
        for path, caption in figures.get(n, []):
            page.image(path, alt=caption, caption=caption)
        for caption, headers, rows in section_tables(result, n):
            page.table(headers, rows, caption=caption)
        page.paragraph(f"Verdict: {v.word}. Measured: {v.measured}. Rule: {v.rule}.")
    page.heading("The measured results")
    page.bullets(closing_lines(result))
    return page.render()


def terminal_summary(result) -> str:
    from seqlab.experiments.tour import SECTIONS

    rows = [[str(n), SECTIONS[n].title, v.word, f"{result.seconds.get(n, 0.0):.1f}"]
            for n, v in result.verdicts().items()]
    return markdown_table(["section", "claim", "verdict", "seconds"], rows)
