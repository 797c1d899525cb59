"""A `PairsCompareResult` as the files people read: the terminal table, leaderboard.md/.csv,
runs.csv and report.html. Pure functions from the result to text; the CLI writes them.

Columns (ranked on mean greedy exact match over seeds; higher is better):

    rank, entrant, exact match (greedy, mean ± std over seeds), exact match with beam search,
    token accuracy and chrF (greedy), held-out NLL per target token, exact match on the longer
    sources of the length-generalisation set, parameters.
"""

from __future__ import annotations

import shlex

from seqlab.reports.tables import csv_text, markdown_table

__all__ = ["command_line", "terminal_table", "leaderboard_markdown", "leaderboard_csv", "runs_csv",
           "report_html", "setup_record", "HEADERS"]

HEADERS = ("rank", "entrant", "exact (greedy)", "exact (beam)", "token acc", "chrF", "NLL", "exact (longer)",
           "params")


def command_line(setup) -> str:
    parts = ["seqlab"]
    if setup.threads != 1:
        parts += ["--threads", str(setup.threads)]
    parts += ["compare", "--data", setup.data, "--models", ",".join(setup.models), "--size", setup.size,
              "--seeds", str(setup.seeds), "--seed", str(setup.seed), "--beams", str(setup.beams),
              "--max-test", str(setup.max_test)]
    if setup.steps is not None:
        parts += ["--steps", str(setup.steps)]
    if setup.batch_size is not None:
        parts += ["--batch-size", str(setup.batch_size)]
    return " ".join(shlex.quote(p) for p in parts)


def _opt(v, digits: int = 3):
    return "-" if v is None else round(v, digits)


def _pm(spread) -> str:
    return f"{spread.mean:.3f} ± {spread.std:.3f}" if spread.n > 1 else f"{spread.mean:.3f}"


def _rows(result) -> list[list]:
    return [[f.rank, f.name, _pm(f.exact), _opt(f.beam_exact), _opt(f.token_accuracy), _opt(f.chrf, 1),
             _opt(f.test_nll), _opt(f.long_exact), f.runs[0].parameters] for f in result.families]


def terminal_table(result) -> str:
    return markdown_table(HEADERS, _rows(result))


def _setup_lines(result) -> list[str]:
    s = result.setup
    run = result.families[0].runs[0]
    return [
        f"Pairs `{result.spec}`: {result.train_pairs:,} training pairs (80/10/10 split in order); "
        f"one character vocabulary fitted on the training pairs only (V = {result.vocab_size}, with <eos>).",
        f"Every entrant trained {run.steps} steps, {s.seeds} seed(s) from {s.seed}; its checkpoint chosen on the "
        f"validation pairs' NLL; scores on the first {result.test_pairs} test pairs, greedy and beam search "
        f"({s.beams} beams).",
        ("Length generalisation: " + (f"`{result.long_spec}` (sources longer than any in training), greedy."
                                      if result.long_spec else "not defined for this data (a file of pairs).")),
        "Ranked on mean greedy exact match; ranks are shared when Welch's t-test over seeds finds no difference "
        "at 5%. Encoder-decoders train for equal steps and batches (their FLOPs are not counted).",
    ]


def leaderboard_markdown(result, command: str) -> str:
    lines = ["# seqlab compare: encoder-decoders on pairs", "", *_setup_lines(result), "", "Reproduce:", "",
             "```", command, "```", "", terminal_table(result), "", "Examples (first seed, greedy):", ""]
    for fam in result.families:
        rows = [[s, t, g, "yes" if g == t else "no"] for s, t, g in fam.runs[0].examples]
        lines += [f"**{fam.name}**", "", markdown_table(["source", "target", "greedy", "exact"], rows)]
    return "\n".join(lines)


def leaderboard_csv(result) -> str:
    headers = ["rank", "model", "exact_greedy_mean", "exact_greedy_std", "exact_beam", "token_accuracy", "chrf",
               "test_nll", "exact_longer", "seeds", "parameters", "steps"]
    rows = [[f.rank, f.name, f"{f.exact.mean:.6f}", f"{f.exact.std:.6f}", _csv(f.beam_exact), _csv(f.token_accuracy),
             _csv(f.chrf), _csv(f.test_nll), _csv(f.long_exact), f.exact.n, f.runs[0].parameters, f.runs[0].steps]
            for f in result.families]
    return csv_text(headers, rows)


def _csv(v) -> str:
    return "" if v is None else f"{v:.6f}"


def runs_csv(result) -> str:
    headers = ["model", "seed", "exact_greedy", "exact_beam", "token_accuracy", "chrf", "test_nll", "exact_longer",
               "best_step", "steps", "seconds", "run_dir"]
    rows = []
    for f in result.families:
        for r in f.runs:
            rows.append([f.name, r.seed, f"{r.greedy.exact_match:.6f}", _csv(r.beam.exact_match if r.beam else None),
                         f"{r.greedy.token_accuracy:.6f}", f"{r.greedy.chrf:.4f}", f"{r.test_nll:.6f}",
                         _csv(r.long_greedy.exact_match if r.long_greedy else None), r.best_step, r.steps,
                         f"{r.seconds:.2f}", r.run_dir])
    return csv_text(headers, rows)


def setup_record(result, command: str) -> dict:
    from seqlab.experiments.compare import setup_dict

    return {"setup": setup_dict(result.setup), "command": command, "kind": "pairs", "spec": result.spec, "long_spec": result.long_spec,
            "train_pairs": result.train_pairs, "test_pairs": result.test_pairs, "vocab_size": result.vocab_size,
            "total_seconds": round(result.seconds, 1)}


def report_html(result, command: str, figures: dict) -> str:
    from seqlab.reports.html import HtmlReport

    report = HtmlReport(f"seqlab compare on {result.spec}")
    report.heading("Setup")
    report.bullets(_setup_lines(result))
    report.paragraph("Reproduce:")
    report.code_block(command)
    report.heading("Leaderboard (test pairs)")
    rows = _rows(result)
    report.table(HEADERS, rows, caption="exact match: the whole decoded target equals the reference; higher is better",
                 row_classes=["best" if r[0] == 1 else None for r in rows])
    report.heading("Figures")
    for caption, path in figures.items():
        report.image(path, alt=caption, caption=caption)
    report.heading("Examples")
    report.side_by_side([(f.name, "\n".join(f"{s} -> {g}{'' if g == t else '   (want ' + t + ')'}"
                                            for s, t, g in f.runs[0].examples)) for f in result.families])
    report.paragraph(f"Total wall clock: {result.seconds:.1f} s.")
    return report.render()
