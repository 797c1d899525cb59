"""A `CompareResult` as the files people read: the terminal table, leaderboard.md/.csv, runs.csv,
scaling.md/.csv and report.html. Pure functions from the result to text (the CLI writes them).

Columns of the leaderboard (one row per family, ranked; the uniform guess log2 V as a last row):

    rank        shared when the difference is not significant (Welch's t-test at 5% over seeds)
    test bits   mean ± std over seeds of the whole test part's bits per token (the ranking)
    val bits    mean over seeds, on the validation slice the checkpoint was selected on
    params      trainable parameters (Markov: stored n-gram types)
    tokens      training tokens read per run (mean over seeds)
    FLOPs       training FLOPs per run (Markov: counting time x measured matmul rate)
"""

from __future__ import annotations

import math
import shlex

from seqlab.reports.tables import csv_text, format_number, markdown_table

__all__ = ["command_line", "terminal_table", "leaderboard_markdown", "leaderboard_csv", "runs_csv",
           "scaling_markdown", "scaling_csv", "report_html", "HEADERS"]

HEADERS = ("rank", "model", "test bits/token", "val bits", "params", "tokens", "FLOPs", "seeds")


def command_line(setup) -> str:
    """The exact `seqlab compare` command that reproduces `setup` (output folder aside)."""
    parts = ["seqlab"]
    if setup.threads != 1:
        parts += ["--threads", str(setup.threads)]
    parts += ["compare", "--data", setup.data, "--models", ",".join(setup.models),
              "--tokenizer", setup.tokenizer, "--size", setup.size]
    if setup.budget_seconds is not None:
        parts += ["--budget-seconds", f"{setup.budget_seconds:g}"]
    elif len(setup.budgets) == 1:
        parts += ["--budget", f"{setup.budgets[0]:g}"]
    else:
        parts += ["--budgets", ",".join(f"{b:g}" for b in setup.budgets)]
    parts += ["--seeds", str(setup.seeds), "--seed", str(setup.seed)]
    for flag, value in (("--block-size", setup.block_size), ("--batch-size", setup.batch_size)):
        if value is not None:
            parts += [flag, str(value)]
    parts += ["--val-tokens", str(setup.val_tokens), "--max-order", str(setup.max_order),
              "--sample-tokens", str(setup.sample_tokens)]
    if setup.prompt is not None:
        parts += ["--prompt", setup.prompt]
    return " ".join(shlex.quote(p) for p in parts)


def _pm(spread, digits: int = 3) -> str:
    if spread.n > 1 and not spread.deterministic:
        return f"{spread.mean:.{digits}f} ± {spread.std:.{digits}f}"
    return f"{spread.mean:.{digits}f}"


def _seeds(fam) -> str:
    return "counts" if fam.test.deterministic else str(fam.test.n)


def _sci(x: float) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.2e}"


def _rows(result, board=None) -> list[list]:
    board = board or result.leaderboard
    rows = [[f.rank, f.label, _pm(f.test), _pm(f.val) if f.val.n == 1 else f"{f.val.mean:.3f}",
             f.parameters, f.tokens, _sci(f.flops), _seeds(f)] for f in board.families]
    rows.append(["-", "uniform guess", f"{result.uniform_bits:.3f}", f"{result.uniform_bits:.3f}",
                 0, 0, "-", "-"])
    return rows


def terminal_table(result) -> str:
    """The ranked table as printed on stdout (fits 120 columns; samples are printed below it)."""
    return markdown_table(HEADERS, _rows(result))


def _budget_phrase(setup) -> str:
    if setup.budget_seconds is not None:
        return f"{setup.budget_seconds:g} s of wall clock per run (not reproducible across machines)"
    return f"{setup.budgets[-1]:.3g} training FLOPs per run"


def _setup_lines(result) -> list[str]:
    s = result.setup
    return [
        f"Data `{s.data}` ({result.text_length:,} characters, {s.tokenizer} tokenizer fitted on the training part, "
        f"V = {result.vocab_size}); contiguous 90/5/5 split: train {result.train_tokens:,} tokens, "
        f"validation {result.val_tokens:,} (selection), test {result.test_tokens:,} (ranking).",
        f"Every neural family trained for {_budget_phrase(s)}, {s.seeds} seed(s) from {s.seed}, "
        f"{s.threads} torch thread(s) per run; windows of T = {s.T} tokens. Markov's order (1..{s.max_order}) and every "
        f"neural checkpoint were chosen on validation; ranks come from the test part only.",
        "Ranks are shared when Welch's t-test over seeds finds no difference at 5% "
        "(rank = 1 + the number of families significantly better; never behind a worse family).",
        f"Markov's FLOPs are FLOP-equivalents: its counting time x this machine's measured matmul rate "
        f"({result.matmul_flops_per_second:.3g} FLOP/s).",
    ]


def leaderboard_markdown(result, command: str) -> str:
    lines = ["# seqlab compare: leaderboard", "", *_setup_lines(result), "", "Reproduce:", "",
             "```", command, "```", "", terminal_table(result)]
    if len(result.budgets) > 1:
        lines += ["", scaling_markdown(result)]
    lines += ["", f"Samples (the prompt {result.prompt!r} continued at temperature 0.8, seed "
              f"{result.setup.seed}, from each family's first seed):", ""]
    for fam in result.leaderboard.families:
        lines += [f"**{fam.label}**", "", "```", fam.sample, "```", ""]
    return "\n".join(lines)


def leaderboard_csv(result) -> str:
    """One row per family of the leaderboard; bits columns first, timing columns last."""
    headers = ["rank", "model", "order", "test_bits_mean", "test_bits_std", "val_bits_mean", "val_bits_std",
               "test_loss_nats_mean", "seeds", "parameters", "tokens", "flops", "steps", "train_seconds",
               "sample"]
    rows = []
    for f in result.leaderboard.families:
        rows.append([f.rank, f.name, f.detail, f"{f.test.mean:.6f}", f"{f.test.std:.6f}", f"{f.val.mean:.6f}",
                     f"{f.val.std:.6f}", f"{sum(r.test_loss_nats for r in f.runs) / len(f.runs):.6f}",
                     _seeds(f), f.parameters, f.tokens, f"{f.flops:.6g}", f.steps, f"{f.train_seconds:.3f}",
                     f.sample])
    return csv_text(headers, rows)


def runs_csv(result) -> str:
    """Every run: family, seed, budget, its scores and its folder."""
    headers = ["budget", "model", "seed", "order", "test_bits", "val_bits", "test_loss_nats", "best_step", "steps",
               "tokens", "flops", "parameters", "train_seconds", "run_dir"]
    rows = []
    for b in result.budgets:
        for f in b.families:
            for r in f.runs:
                rows.append([f"{b.budget:g}", r.family, r.seed, r.detail, f"{r.test_bits:.6f}", f"{r.val_bits:.6f}",
                             f"{r.test_loss_nats:.6f}", r.best_step, r.steps, r.tokens, f"{r.flops:.6g}",
                             r.parameters, f"{r.train_seconds:.3f}", r.run_dir])
    return csv_text(headers, rows)


def _scaling_rows(result) -> tuple[list[str], list[list]]:
    names = list(result.setup.models)
    headers = ["budget (FLOPs)"] + names + ["best neural"]
    leaders = dict(result.leaders())
    rows = []
    for b in result.budgets:
        rows.append([f"{b.budget:.3g}"] + [_pm(b.family(n).test) for n in names] + [leaders[b.budget] or "-"])
    return headers, rows


def scaling_markdown(result) -> str:
    headers, rows = _scaling_rows(result)
    over = result.overtakes_counting()
    lines = ["Scaling: mean test bits per token at each budget.", "", markdown_table(headers, rows)]
    if "markov" in result.setup.models:
        lines.append("First budget at which each family beats counting (Markov): " + ", ".join(
            f"{n} {('%.3g' % b) if b else 'never (in these budgets)'}" for n, b in over.items()) + ".")
    return "\n".join(lines) + "\n"


def scaling_csv(result) -> str:
    names = list(result.setup.models)
    rows = []
    for b in result.budgets:
        for n in names:
            f = b.family(n)
            rows.append([f"{b.budget:g}", n, f"{f.test.mean:.6f}", f"{f.test.std:.6f}", f.rank])
    return csv_text(["budget", "model", "test_bits_mean", "test_bits_std", "rank"], rows)


def report_html(result, command: str, figures: dict) -> str:
    """report.html: setup, the command, the ranked table with the uniform row, figures, samples.

    figures: caption -> PNG path, in display order.
    """
    from seqlab.reports.html import HtmlReport

    report = HtmlReport(f"seqlab compare on {result.setup.data}")
    report.heading("Setup")
    report.bullets(_setup_lines(result))
    report.paragraph("Reproduce (the same seeds give the same bits on any machine at the same thread count):"
                     if result.setup.budget_seconds is None else "Reproduce:")
    report.code_block(command)
    report.heading("Leaderboard (ranked on test)")
    rows = _rows(result)
    classes = ["best" if r[0] == 1 else None for r in rows[:-1]] + ["baseline"]
    report.table(HEADERS, rows, caption="lower bits per token is better; ± is the std over seeds",
                 row_classes=classes)
    if len(result.budgets) > 1:
        headers, srows = _scaling_rows(result)
        report.heading("Scaling")
        report.table(headers, srows, caption="mean test bits per token at each training budget")
        over = result.overtakes_counting()
        if over:
            report.bullets([f"{n}: beats counting from {('%.3g FLOPs' % b) if b else 'no budget tried'}"
                            for n, b in over.items()])
    report.heading("Figures")
    for caption, path in figures.items():
        report.image(path, alt=caption, caption=caption)
    report.heading("Samples")
    report.paragraph(f"The prompt `{result.prompt}` continued by each family at temperature 0.8 "
                     f"(seed {result.setup.seed}, first seed's selected checkpoint).")
    report.side_by_side([(f.label, f.sample) for f in result.leaderboard.families])
    report.paragraph(f"Total wall clock: {format_number(result.seconds, 1)} s.")
    return report.render()
