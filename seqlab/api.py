"""seqlab from Python in one line: `seqlab.load(folder)` and the Hugging Face saving convention.

    import seqlab

    lm = seqlab.load("runs/lstm")                    # a run folder (seqlab train / compare) or a
    lm.generate("ROMEO:", 200, temperature=0.8)      # save_pretrained folder -> str
    lm.score("To be, or not to be")                  # bits per token
    lm.save_pretrained("models/lstm")                # config.json + model.safetensors (+ tokenizer.json)

    ts = seqlab.load("runs/sine-gru")
    ts.forecast(series, 24)                          # dated forecast with a 90% interval
    seqlab.load("runs/reverse").translate("abc")     # a seq2seq run

`load` uses the best-validation weights (`last=True`: the last), the same as `seqlab eval` and
`seqlab generate`. Every file read is checked as `load_run` checks a run folder: the manifest's
sha256, every config value's type, no pickle. Folders are local paths only: nothing is fetched.

`save_model` / `load_model` back `SequenceModel.save_pretrained(dir)` / `from_pretrained(dir)`:
config.json `{"format": "seqlab-model", "class": "RNNLM", "config": {...}}` and
model.safetensors, plus tokenizer.json and the series scaler when saved from a `Pretrained`. The
class name is looked up among seqlab.models.registry's models only, so a folder never chooses
code to run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqlab.errors import CheckpointError, ConfigError, DataError

__all__ = ["load", "Pretrained", "DatedForecast", "save_model", "load_model", "MODEL_FORMAT"]

MODEL_FORMAT = "seqlab-model"


# ------------------------------------------------------------------ save_pretrained / from_pretrained
def _model_class(name: Any, path: Path):
    """(model class, config class) of a class name, among the registry's models only."""
    from seqlab.models import registry

    for reg_name in registry.NAMES:
        try:
            cls, cfg_cls = registry.get(reg_name)
        except ConfigError:
            continue
        if cls.__name__ == name:
            return cls, cfg_cls
    if name == "Seq2Seq":  # folders saved before the seq2seq architectures had classes of their own
        from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig

        return Seq2Seq, Seq2SeqConfig
    raise CheckpointError(f"{path}: class {name!r} is not a seqlab model")


def save_model(model, folder, extra: dict | None = None, files: dict | None = None) -> Path:
    """Write `model` into `folder` as config.json + model.safetensors (one checkpoint with its
    manifest, seqlab.train.integrity); `extra` adds keys to config.json, `files` more writers."""
    from seqlab.train.checkpoint import model_config_dict, weights_writer
    from seqlab.train.integrity import json_writer, write_files

    folder = Path(folder)
    record = {"format": MODEL_FORMAT, "class": type(model).__name__, "config": model_config_dict(model),
              **(extra or {})}
    import seqlab

    record["seqlab"] = seqlab.__version__
    _model_class(record["class"], folder / "config.json")  # only registry models can be loaded again
    write_files(folder, {**(files or {}), "model.safetensors": weights_writer(model),
                         "config.json": json_writer(record)})
    return folder


def _read_record(folder: Path) -> dict:
    from seqlab.train.integrity import read_json

    cfg = folder / "config.json"
    if not folder.is_dir():
        raise CheckpointError(f"folder not found: {folder} (from_pretrained reads local folders only)")
    try:
        record = read_json(cfg)
    except FileNotFoundError:
        raise CheckpointError(f"not a seqlab model folder (no config.json): {folder}") from None
    if not isinstance(record, dict):
        raise CheckpointError(f"{cfg}: expected a JSON object")
    return record


def load_model(folder, cls=None, which: str = "best"):
    """The model in a save_pretrained folder or a run folder (`which` weights), in eval mode.

    cls: the class `from_pretrained` was called on; the folder's model must be one.
    """
    from seqlab.train.checkpoint import check_fields, load_run, load_weights
    from seqlab.train.integrity import verify_files

    folder = Path(folder)
    record = _read_record(folder)
    if record.get("format") == "seqlab-run":
        model = load_run(folder, which=which).model
    elif record.get("format") == MODEL_FORMAT:
        cfg = folder / "config.json"
        model_cls, cfg_cls = _model_class(record.get("class"), cfg)
        config = record.get("config")
        if not isinstance(config, dict):
            raise CheckpointError(f"{cfg}: config: expected a JSON object, got {config!r}"[:300])
        check_fields(cfg_cls, config, "config.", cfg)
        verify_files(folder, ["config.json", "model.safetensors"])
        try:
            model = model_cls.from_config(config)
        except (ConfigError, TypeError, ValueError) as e:
            raise CheckpointError(f"{cfg}: {' '.join(str(e).split())}") from None
        load_weights(model, folder / "model.safetensors")
        model.eval()
    else:
        raise CheckpointError(f"not a seqlab model folder (config.json has no 'format: {MODEL_FORMAT}' "
                              f"or 'seqlab-run'): {folder}")
    if cls is not None and not isinstance(model, cls):
        raise CheckpointError(f"{folder} holds a {type(model).__name__}, not a {cls.__name__}")
    return model


# ------------------------------------------------------------------ forecasts with dates
@dataclass
class DatedForecast:
    """The next `horizon` values after a series: mean and a central interval, in the series' units.

    index: dates (numpy datetime64) continuing the series' dates at their step, or positions
    T0..T0+H-1 when the series had no dates. lower/upper: the `level` interval (0.9: the 5% and
    95% quantiles).
    """

    index: np.ndarray
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float

    def to_frame(self):
        """A pandas DataFrame (mean, lower, upper) indexed by date (needs pandas)."""
        import pandas as pd

        return pd.DataFrame({"mean": self.mean, "lower": self.lower, "upper": self.upper},
                            index=pd.Index(self.index, name="date" if self.index.dtype.kind == "M" else "t"))


def _series_values(series, column=None) -> tuple[np.ndarray, np.ndarray | None]:
    """(values (T,), dates (T,) datetime64 or None) of an array, list, pandas Series or DataFrame."""
    dates = None
    if hasattr(series, "columns"):  # a DataFrame: its one numeric column, or `column`
        numeric = [c for c in series.columns if np.issubdtype(series[c].dtype, np.number)]
        if column is None and len(numeric) != 1:
            raise DataError(f"the DataFrame has {len(numeric)} numeric columns ({', '.join(map(str, numeric))}); "
                            f"say which with column=")
        col = numeric[0] if column is None else column
        if col not in series.columns:
            raise DataError(f"no column {col!r} in the DataFrame")
        date_cols = [c for c in series.columns if np.issubdtype(series[c].dtype, np.datetime64)]
        if date_cols:  # a date column, else the index's dates (below)
            dates = series[date_cols[0]].to_numpy()
        series = series.set_index(series.columns[series.columns.get_loc(date_cols[0])])[col] if date_cols \
            else series[col]
    if hasattr(series, "index") and hasattr(series, "to_numpy"):  # a pandas Series
        if np.issubdtype(getattr(series.index, "dtype", np.dtype(object)), np.datetime64):
            dates = series.index.to_numpy()
        series = series.to_numpy(dtype=np.float64)
    values = np.asarray(torch.as_tensor(series).detach().cpu().double() if torch.is_tensor(series) else series,
                        dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise DataError("the series is empty")
    if not np.isfinite(values).all():
        raise DataError("the series holds NaN or infinite values")
    return values, dates


def _future_dates(dates: np.ndarray | None, start: int, horizon: int) -> np.ndarray:
    if dates is None or len(dates) < 2:
        return np.arange(start, start + horizon)
    dates = dates.astype("datetime64[ns]")
    steps = np.diff(dates)
    step = steps[-1]
    months = (dates.astype("datetime64[M]").astype(np.int64))
    month_steps = np.diff(months)
    # monthly, quarterly or yearly data fall on calendar months, not on a fixed number of days
    if len(set(month_steps.tolist())) == 1 and month_steps[0] >= 1 and \
            (dates.astype("datetime64[M]").astype("datetime64[ns]") == dates).all():
        m = int(month_steps[0])
        future = months[-1] + m * np.arange(1, horizon + 1)
        return future.astype("datetime64[M]").astype("datetime64[ns]")
    return dates[-1] + step * np.arange(1, horizon + 1)


# ------------------------------------------------------------------ the loaded bundle
class Pretrained:
    """A model with its tokenizer (text, pairs) or scaler (series) and config; speaks text and
    series. Made by `seqlab.load`; `.model` is the torch module (eval mode)."""

    def __init__(self, model, tokenizer=None, config=None, data_kind: str = "text", path=None,
                 scaler: dict | None = None, block_size: int | None = None, record: dict | None = None):
        self.model, self.tokenizer, self.config, self.data_kind = model, tokenizer, config, data_kind
        self.path = None if path is None else Path(path)
        self._scaler, self.block_size, self._record = scaler, block_size, record

    def __repr__(self) -> str:
        what = type(self.model).__name__
        vocab = f", vocab {self.tokenizer.vocab_size}" if self.tokenizer is not None else ""
        return f"Pretrained({what}, {self.data_kind}{vocab}, from {self.path})"

    # -------------------------------------------------------------- text
    def _need(self, kind: str, what: str) -> None:
        if self.data_kind != kind:
            hint = {"text": "generate / score", "series": "forecast", "pairs": "translate"}[self.data_kind]
            raise ConfigError(f"{what} needs a {kind} model; this one ({self.path}) is a {self.data_kind} "
                              f"model: use .{hint.split(' / ')[0]}()")

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; a character the tokenizer cannot represent -> VocabularyError."""
        if self.tokenizer is None:
            raise ConfigError(f"{self.path} holds a real-valued model; it has no tokenizer")
        return list(self.tokenizer.encode(text, errors="strict"))

    def decode(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids])

    def generate(self, prompt: str = "", max_new_tokens: int = 200, **options) -> str | list[str]:
        """`prompt` followed by `max_new_tokens` generated tokens, as text.

        options: those of seqlab.models.decoding.generate (temperature, top_k, top_p, num_beams,
        do_sample, repetition_penalty, no_repeat_ngram_size, length_penalty, seed, ...);
        num_return_sequences=n > 1 returns a list of n strings.
        """
        self._need("text", "generate")
        ids = self.encode(prompt)
        n = int(options.get("num_return_sequences", 1) or 1)
        out = self.model.generate(torch.tensor(ids, dtype=torch.long), max_new_tokens, **options)
        rows = [out] if out.dim() == 1 else list(out)
        texts = [prompt + self.decode(r[len(ids):].tolist()) for r in rows]
        return texts if n > 1 else texts[0]

    def score(self, text: str) -> float:
        """Bits per token of `text` under the model (chain rule, windows of the training length)."""
        from seqlab.train.scoring import evaluate

        self._need("text", "score")
        ids = torch.tensor(self.encode(text), dtype=torch.long)
        if ids.numel() == 0:
            raise DataError("score: the text is empty")
        return float(evaluate(self.model, ids, block_size=self.block_size).bits_per_token)

    def translate(self, source: str, **options) -> str:
        """The model's target for `source` (greedy unless options say otherwise), cut at <eos>."""
        self._need("pairs", "translate")
        src = torch.tensor([self.encode(source)], dtype=torch.long)
        max_len = options.pop("max_len", max(16, 2 * src.shape[1] + 4))
        return self.decode(self.model.translate(src, max_len=max_len, **options)[0])

    # -------------------------------------------------------------- series
    def scaler(self) -> tuple[float, float]:
        """(mean, std) the model's inputs were standardised with (the training part's); re-derived
        from the run's data spec and recorded split when the folder does not record it."""
        if self._scaler is None:
            from seqlab.data.prepare import prepare_data
            from seqlab.data.spec import recorded_spec

            if self.config is None or self._record is None:
                raise CheckpointError(f"{self.path}: no scaler recorded for this series model")
            with recorded_spec(self.path / "config.json"):
                prepared = prepare_data(self.config.data, split_record=self._record.get("split"))
            self._scaler = {"mean": float(prepared.scaler.mean), "std": float(prepared.scaler.std)}
        return self._scaler["mean"], self._scaler["std"]

    def forecast(self, series, horizon: int, level: float = 0.9, num_samples: int = 200,
                 seed: int | None = 0, column=None) -> DatedForecast:
        """Forecast the `horizon` values after `series` (array, list, tensor, pandas Series or
        DataFrame; its dates, if any, continue in the result) with a central `level` interval."""
        self._need("series", "forecast")
        if not 0 < level < 1:
            raise ConfigError(f"level must lie in (0, 1), got {level}")
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise ConfigError(f"horizon must be a positive integer, got {horizon!r}")
        values, dates = _series_values(series, column)
        mu, sigma = self.scaler()
        z = (values - mu) / sigma
        if self.block_size:
            z = z[-self.block_size:]
        lo, hi = round((1 - level) / 2, 6), round((1 + level) / 2, 6)
        fc = self.model.forecast(torch.tensor(z, dtype=torch.float32), horizon, num_samples=num_samples,
                                 quantiles=(lo, 0.5, hi), seed=seed)
        back = lambda t: t.detach().cpu().double().numpy() * sigma + mu  # noqa: E731
        lower, upper = fc.interval(lo, hi)
        return DatedForecast(_future_dates(dates, len(values), horizon), back(fc.mean), back(lower),
                             back(upper), level)

    # -------------------------------------------------------------- saving
    def save_pretrained(self, folder) -> Path:
        """config.json + model.safetensors (+ tokenizer.json, the series scaler) in `folder`;
        `seqlab.load(folder)` and `<ModelClass>.from_pretrained(folder)` read it back."""
        extra = {"data_kind": self.data_kind, "block_size": self.block_size,
                 "tokenizer": None if self.tokenizer is None else self.tokenizer.kind}
        if self.data_kind == "series":
            mean, std = self.scaler()
            extra["scaler"] = {"mean": mean, "std": std}
        files = {} if self.tokenizer is None else {"tokenizer.json": self.tokenizer.save}
        return save_model(self.model, folder, extra, files)


def _check_extra(record: dict, path: Path) -> None:
    kind = record.get("data_kind", "text")
    if kind not in ("text", "series", "pairs"):
        raise CheckpointError(f"{path}: data_kind: expected one of 'text', 'series', 'pairs', got {kind!r}"[:300])
    block = record.get("block_size")
    if block is not None and (isinstance(block, bool) or not isinstance(block, int) or block < 1):
        raise CheckpointError(f"{path}: block_size: expected a positive integer or null, got {block!r}"[:300])
    scaler = record.get("scaler")
    if scaler is not None:
        ok = isinstance(scaler, dict) and all(
            isinstance(scaler.get(k), (int, float)) and not isinstance(scaler.get(k), bool)
            and math.isfinite(scaler[k]) for k in ("mean", "std")) and scaler["std"] > 0
        if not ok:
            raise CheckpointError(f"{path}: scaler: expected {{\"mean\": number, \"std\": number > 0}}, got {scaler!r}"[:300])
    if record.get("tokenizer") is not None and not isinstance(record["tokenizer"], str):
        raise CheckpointError(f"{path}: tokenizer: expected a string or null, got {record['tokenizer']!r}"[:300])


def load(folder, last: bool = False, device: str | torch.device = "cpu") -> Pretrained:
    """Load a run folder (seqlab train / compare) or a save_pretrained folder: model, tokenizer,
    config. Best-validation weights unless `last`. Local folders only."""
    from seqlab.train.checkpoint import load_run, load_tokenizer
    from seqlab.train.integrity import verify_files

    folder = Path(folder)
    record = _read_record(folder)
    if record.get("format") == "seqlab-run":
        run = load_run(folder, which="last" if last else "best", device=device)
        block = run.config.train.block_size
        return Pretrained(run.model, run.tokenizer, run.config, run.data_kind, folder, None, block, run.record)
    model = load_model(folder).to(device)
    cfg = folder / "config.json"
    _check_extra(record, cfg)
    tokenizer = None
    if record.get("tokenizer") is not None:
        verify_files(folder, ["tokenizer.json"])
        vocab = {"model": {"config": {"vocab_size": getattr(model.config, "vocab_size", None)}}}
        tokenizer = load_tokenizer(folder, {**vocab, "tokenizer": record["tokenizer"]})
    return Pretrained(model, tokenizer, None, record.get("data_kind", "text"), folder, record.get("scaler"),
                      record.get("block_size"), record)

