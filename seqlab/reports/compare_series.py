"""A `SeriesCompareResult` as the files people read: the terminal table, leaderboard.md/.csv,
origins.csv (every entrant at every origin), forecasts.csv (every forecast value with its dates
and intervals) and report.html. Pure functions from the result to text; the CLI writes them.

Columns of the leaderboard (ranked on mean MASE over origins; lower is better; a MASE of 1 is the
in-sample one-step naive forecast's error):

    rank, entrant (linear-ar with its AIC orders, seasonal-naive with its season),
    MASE mean ± std over origins, RMSE, sMAPE %, 80% and 95% interval coverage, CRPS (all means
    over origins, in the series' units), training FLOPs per fit (neural families).
"""

from __future__ import annotations

import shlex

from seqlab.reports.tables import csv_text, markdown_table

__all__ = ["command_line", "terminal_table", "leaderboard_markdown", "leaderboard_csv", "origins_csv",
           "forecasts_csv", "report_html", "setup_record", "date_label", "HEADERS"]

HEADERS = ("rank", "entrant", "MASE", "RMSE", "sMAPE %", "cov 80", "cov 95", "CRPS", "FLOPs/fit")


def command_line(setup) -> str:
    parts = ["seqlab"]
    if setup.threads != 1:
        parts += ["--threads", str(setup.threads)]
    parts += ["compare", "--data", setup.data, "--models", ",".join(setup.models), "--size", setup.size,
              "--budget", f"{setup.budgets[-1]:g}", "--seeds", str(setup.seeds), "--seed", str(setup.seed),
              "--origins", str(setup.origins)]
    for flag, value in (("--horizon", setup.horizon), ("--season", setup.season)):
        if value is not None:
            parts += [flag, str(value)]
    return " ".join(shlex.quote(p) for p in parts)


def date_label(result, t: int) -> str:
    """The date of position t (or "t = N" for a series without dates)."""
    if result.index is None:
        return f"t = {t}"
    if t >= len(result.index):
        return f"t = {t}"
    return str(result.index[t])


def _pm(spread) -> str:
    return f"{spread.mean:.3f} ± {spread.std:.3f}" if spread.n > 1 else f"{spread.mean:.3f}"


def _rows(result) -> list[list]:
    return [[f.rank, f.label, _pm(f.mase), f.rmse, f.smape, f.coverage80, f.coverage95, f.crps,
             f"{f.flops:.2e}" if f.flops else "-"] for f in result.families]


def terminal_table(result) -> str:
    return markdown_table(HEADERS, _rows(result))


def _setup_lines(result) -> list[str]:
    s, H, o = result.setup, result.horizon, result.origins
    dates = "" if result.index is None else f" ({date_label(result, 0)} to {date_label(result, len(result.values) - 1)})"
    return [
        f"Series `{result.spec}`: {len(result.values)} values{dates}.",
        f"Rolling-origin backtest: {len(o)} origins one horizon apart, each forecasting H = {H} values; the first "
        f"origin at {date_label(result, o[0])} (trained on {o[0]} values), the last at {date_label(result, o[-1])}.",
        f"Every entrant is fitted on the values before each origin only (the neural families' scaler too); "
        f"neural families train for {s.budgets[-1]:.3g} FLOPs per fit, {s.seeds} seed(s) (sample paths pooled), "
        f"linear-ar's order is chosen by AIC on the same values.",
        f"Season of seasonal-naive: m = {result.season} ({result.season_source}).",
        "Ranked on mean MASE over origins; ranks are shared when Welch's t-test over the origins' values finds "
        "no difference at 5%. Metrics are in the series' own units.",
    ]


def leaderboard_markdown(result, command: str) -> str:
    return "\n".join(["# seqlab compare: forecasting leaderboard", "", *_setup_lines(result), "", "Reproduce:",
                      "", "```", command, "```", "", terminal_table(result)])


def leaderboard_csv(result) -> str:
    headers = ["rank", "model", "detail", "mase_mean", "mase_std", "rmse", "smape", "coverage80", "coverage95",
               "crps", "origins", "parameters", "steps", "flops", "seed_mase", "seconds"]
    rows = [[f.rank, f.name, f.label[len(f.name):].strip(" ()"), f"{f.mase.mean:.6f}", f"{f.mase.std:.6f}",
             f"{f.rmse:.6g}", f"{f.smape:.6g}", f"{f.coverage80:.4f}", f"{f.coverage95:.4f}", f"{f.crps:.6g}",
             f.mase.n, f.parameters, f.steps, f"{f.flops:.6g}", " ".join(f"{m:.6f}" for m in f.seed_mase),
             f"{f.seconds:.3f}"] for f in result.families]
    return csv_text(headers, rows)


def origins_csv(result) -> str:
    headers = ["model", "origin", "origin_date", "detail", "mase", "rmse", "smape", "coverage80", "coverage95", "crps"]
    rows = []
    for f in result.families:
        for o in f.origins:
            s = o.score
            rows.append([f.name, o.origin, date_label(result, o.origin), o.detail, f"{s.mase:.6f}", f"{s.rmse:.6g}",
                         f"{s.smape:.6g}", f"{s.coverage80:.4f}", f"{s.coverage95:.4f}", f"{s.crps:.6g}"])
    return csv_text(headers, rows)


def forecasts_csv(result) -> str:
    headers = ["model", "origin", "step", "t", "date", "truth", "mean", "lo80", "hi80", "lo95", "hi95"]
    rows = []
    for f in result.families:
        for o in f.origins:
            for h in range(len(o.mean)):
                t = o.origin + h
                rows.append([f.name, o.origin, h + 1, t, date_label(result, t) if result.index is not None else "",
                             f"{result.values[t]:.6g}", f"{o.mean[h]:.6g}", f"{o.lower[0.8][h]:.6g}",
                             f"{o.upper[0.8][h]:.6g}", f"{o.lower[0.95][h]:.6g}", f"{o.upper[0.95][h]:.6g}"])
    return csv_text(headers, rows)


def setup_record(result, command: str) -> dict:
    from seqlab.experiments.compare import setup_dict

    return {"setup": setup_dict(result.setup), "command": command, "kind": "series", "spec": result.spec, "length": len(result.values),
            "horizon": result.horizon, "origins": result.origins, "season": result.season,
            "season_source": result.season_source,
            "dates": None if result.index is None else [date_label(result, 0), date_label(result, len(result.values) - 1)],
            "total_seconds": round(result.seconds, 1)}


def report_html(result, command: str, figures: dict) -> str:
    from seqlab.reports.html import HtmlReport

    report = HtmlReport(f"seqlab compare on {result.spec}")
    report.heading("Setup")
    report.bullets(_setup_lines(result))
    report.paragraph("Reproduce (the same seeds give the same numbers at the same thread count):")
    report.code_block(command)
    report.heading("Leaderboard (mean over origins)")
    rows = _rows(result)
    classes = ["best" if r[0] == 1 else ("baseline" if result.families[i].name in
                                         ("naive", "seasonal-naive", "mean", "drift") else None)
               for i, r in enumerate(rows)]
    report.table(HEADERS, rows, caption="MASE: lower is better, 1 = the in-sample naive one-step error; "
                 "coverage should be near 0.80 and 0.95", row_classes=classes)
    report.heading("Figures")
    for caption, path in figures.items():
        report.image(path, alt=caption, caption=caption)
    report.heading("Per origin")
    per = [[f.name] + [f"{o.score.mase:.3f}" for o in f.origins] for f in result.families]
    report.table(["entrant"] + [date_label(result, o) for o in result.origins], per,
                 caption="MASE at each origin (the date of the first forecast value)")
    report.paragraph(f"Total wall clock: {result.seconds:.1f} s.")
    return report.render()
