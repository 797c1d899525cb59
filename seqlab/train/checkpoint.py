"""Run folders: a trained run is a folder of safetensors and JSON files, and it is the checkpoint.

Layout (docs/training.md):

    config.json                  {"format": "seqlab-run", "version", "run": RunConfig, "model":
                                  {"name", "config"}, "data_kind", "split": record, "tokenizer"}
    tokenizer.json               text runs only
    model.safetensors            last weights
    best/model.safetensors       best-validation weights, best/info.json its step and loss
    trainer_state.safetensors    one file for an exact resume: "model/*" weights, "optim/*"
                                 optimizer tensors, "rng/*" RNG states; metadata["state"] holds
                                 the JSON part (step, schedule, counters, python RNG state)
    manifest.json                {"format": "seqlab-manifest", "files": {name: sha256}} of every
                                 file above, written with each checkpoint
    .lock                        advisory lock (fcntl.flock) held while a process trains the run

Files are written and vouched for by seqlab.train.integrity: each one atomically (temporary
sibling, then rename), the files of one checkpoint as one transaction recorded with their sha256
in manifest.json (`write_files`), and checked against it when loaded (`verify_files`: a flipped
byte, a truncated file or a file from another run is refused with the file's name); `.lock` keeps
a second process out. Nothing is ever unpickled: weights and tensors are safetensors, everything
else JSON, and every value read back is type-checked (a wrong value is a one-line CheckpointError
naming the file, never a traceback). Optimizer state dicts are flattened: each tensor becomes a
safetensors entry and its place in the JSON tree holds {"__tensor__": key}; dicts with integer
keys (torch's per-parameter state) are stored as {"__items__": [[key, value], ...]}, tuples as
{"__tuple__": [...]}.
"""

from __future__ import annotations

import dataclasses
import json
import random
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from seqlab.errors import CheckpointError, ConfigError, DataError
from seqlab.train.config import RunConfig
from seqlab.train.integrity import Writer, atomic_write, json_writer, verify_files, write_files

__all__ = ["Run", "save_run", "load_run", "is_run_dir", "read_config", "save_tensors", "save_weights",
           "load_weights", "flatten_state", "unflatten_state", "rng_state", "set_rng_state",
           "save_trainer_state", "load_trainer_state", "weights_writer", "trainer_state_writer",
           "resumed_config", "load_tokenizer", "check_fields", "model_config_dict", "RESUME_OPTIONS", "FORMAT"]

FORMAT = "seqlab-run"
VERSION = 2                      # 2: manifest.json with the sha256 of every file
STATE_FORMAT = "seqlab-trainer-state"

# train options a resumed run applies: they decide how long and where it runs, and when it
# evaluates, logs and stops, never what a resumed step computes
RESUME_OPTIONS = ("steps", "time_budget", "patience", "min_delta", "eval_interval", "log_interval",
                  "grad_accum", "device", "compile", "amp")


# ------------------------------------------------------------------ safetensors files
def tensors_writer(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Writer:
    """A safetensors file of `tensors`, copied to contiguous CPU storage now (not when written)."""
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    return lambda tmp: save_file(flat, tmp, metadata=metadata)


def weights_writer(model: torch.nn.Module) -> Writer:
    """model.state_dict() as safetensors (shared tensors are stored once per name)."""
    return tensors_writer(dict(model.state_dict()), {"format": "pt"})


def save_tensors(path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """safetensors file written atomically; tensors are copied to contiguous CPU storage first."""
    return atomic_write(path, tensors_writer(tensors, metadata))


def save_weights(model: torch.nn.Module, path) -> Path:
    """model.state_dict() as safetensors, written atomically."""
    return atomic_write(path, weights_writer(model))


def _check_finite(tensors: dict[str, torch.Tensor], path, prefix: str = "") -> None:
    for k, v in tensors.items():
        if k.startswith(prefix) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"{path}: tensor {k[len(prefix):]} holds NaN or infinite values")


def load_weights(model: torch.nn.Module, path) -> None:
    """Load a safetensors state dict into `model` (strict); a mismatch or a NaN/inf value ->
    CheckpointError naming the file."""
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"cannot read weights {path}: {' '.join(str(e).split())}") from None
    _check_finite(tensors, path)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(f"weights in {path} do not fit the model: {first[1].strip() if len(first) > 1 else first[0]}") from None


# ------------------------------------------------------------------ state flattening
def flatten_state(obj: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """JSON-able tree of `obj` with tensors moved into `tensors` under keys starting with prefix."""
    if torch.is_tensor(obj):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: flatten_state(v, tensors, f"{prefix}/{k}") for k, v in obj.items()}
        return {"__items__": [[k, flatten_state(v, tensors, f"{prefix}/{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [flatten_state(v, tensors, f"{prefix}/{i}") for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a trainer state")


def unflatten_state(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of flatten_state."""
    if isinstance(tree, dict):
        if set(tree) == {"__tensor__"}:
            return tensors[tree["__tensor__"]]
        if set(tree) == {"__tuple__"}:
            return tuple(unflatten_state(v, tensors) for v in tree["__tuple__"])
        if set(tree) == {"__items__"}:
            return {k: unflatten_state(v, tensors) for k, v in tree["__items__"]}
        return {k: unflatten_state(v, tensors) for k, v in tree.items()}
    if isinstance(tree, list):
        return [unflatten_state(v, tensors) for v in tree]
    return tree


# ------------------------------------------------------------------ RNG states
def rng_state() -> tuple[dict, dict[str, torch.Tensor]]:
    """(JSON part, tensors) of the torch CPU, CUDA, numpy and python RNG states."""
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    name, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng/numpy"] = torch.from_numpy(keys.astype(np.int64))
    py = random.getstate()
    info = {"numpy": [name, int(pos), int(has_gauss), float(cached)],
            "python": [py[0], list(py[1]), py[2]],
            "cuda_devices": sum(k.startswith("rng/cuda/") for k in tensors)}
    return info, tensors


def set_rng_state(info: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Restore what rng_state() captured; a malformed state -> CheckpointError."""
    try:
        _set_rng_state(info, tensors)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"corrupt RNG state in the trainer state: {' '.join(str(e).split())}") from None


def _set_rng_state(info: dict, tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    n_cuda = int(info.get("cuda_devices", 0))
    if n_cuda and torch.cuda.is_available() and torch.cuda.device_count() >= n_cuda:
        torch.cuda.set_rng_state_all([tensors[f"rng/cuda/{i}"] for i in range(n_cuda)])
    name, pos, has_gauss, cached = info["numpy"]
    np.random.set_state((name, tensors["rng/numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = info["python"]
    random.setstate((version, tuple(internal), gauss))


# ------------------------------------------------------------------ trainer state (resume)
def trainer_state_writer(model: torch.nn.Module, optimizer, state: dict) -> Writer:
    """One file: weights, optimizer, RNG states and the JSON `state` (step, counters...)."""
    tensors: dict[str, torch.Tensor] = {f"model/{k}": v for k, v in model.state_dict().items()}
    optim_tree = flatten_state(optimizer.state_dict(), tensors, "optim") if optimizer is not None else None
    rng_info, rng_tensors = rng_state()
    tensors.update(rng_tensors)
    meta = {"format": STATE_FORMAT, "state": json.dumps(state), "optim": json.dumps(optim_tree),
            "rng": json.dumps(rng_info)}
    return tensors_writer(tensors, meta)


def save_trainer_state(path, model: torch.nn.Module, optimizer, state: dict) -> Path:
    """trainer_state_writer's file, written atomically."""
    return atomic_write(path, trainer_state_writer(model, optimizer, state))


# the JSON part of a trainer state: key -> the types its value may have
_STATE_TYPES: dict[str, tuple[type, ...]] = {
    "step": (int,), "tokens": (int,), "elapsed": (int, float), "step_time": (int, float),
    "best_val": (int, float), "best_step": (int,), "last_val": (int, float),
    "bad_evals": (int,), "eval_step": (int,)}


def _check_state(state: Any, path, require=()) -> dict:
    """The trainer state's JSON part: the keys in `require` present, known keys of the right type
    (json.dumps writes NaN/inf as NaN/Infinity, which json.loads reads back as floats)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"corrupt trainer state {path}: its state is not a JSON object")
    missing = [k for k in require if k not in state]
    if missing:
        raise CheckpointError(f"corrupt trainer state {path}: no {missing[0]!r} in its state")
    for key, types_ in _STATE_TYPES.items():
        value = state.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, types_):
            raise CheckpointError(f"corrupt trainer state {path}: state {key} = {value!r} is not "
                                  f"{'an integer' if types_ == (int,) else 'a number'}"[:300])
        if types_ == (int,) and value < -1:
            raise CheckpointError(f"corrupt trainer state {path}: state {key} = {value!r} is negative")
    return state


def load_trainer_state(path, require=()) -> dict[str, Any]:
    """{"model": state dict, "optim": optimizer state dict or None, "state": dict, "rng": (info, tensors)}.

    A file that is not a trainer state, malformed JSON metadata, a missing `require`d state key,
    a state value of the wrong type or NaN/inf weights -> CheckpointError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no trainer state to resume from: {path}")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        if meta.get("format") != STATE_FORMAT:
            raise CheckpointError(f"not a seqlab trainer state: {path}")
        optim_tree = json.loads(meta["optim"])
        rng_info = json.loads(meta["rng"])
        state = _check_state(json.loads(meta["state"]), path, require)
        if not isinstance(rng_info, dict) or "rng/torch" not in tensors:
            raise CheckpointError(f"corrupt trainer state {path}: no RNG state")
        _check_finite(tensors, path, prefix="model/")
        return {"model": {k[6:]: v for k, v in tensors.items() if k.startswith("model/")},
                "optim": None if optim_tree is None else unflatten_state(optim_tree, tensors),
                "state": state, "rng": (rng_info, tensors)}
    except (OSError, SafetensorError, KeyError, ValueError, TypeError, AttributeError) as e:
        raise CheckpointError(f"corrupt trainer state {path}: {' '.join(str(e).split())}") from None


# ------------------------------------------------------------------ run folders
@dataclass
class Run:
    """A loaded run folder."""

    path: Path
    config: RunConfig
    model: torch.nn.Module
    tokenizer: Any                 # seqlab.data.tokenizers.Tokenizer or None (real values)
    split: Any                     # seqlab.data.splits.Split record (no data) or None
    data_kind: str                 # "text" | "series" | "pairs"
    record: dict                   # config.json as read


def is_run_dir(path) -> bool:
    try:
        read_config(path)
        return True
    except CheckpointError:
        return False


def _describe(hint: Any) -> str:
    """What a value of type `hint` is, in the words of seqlab.cli.options' messages."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        kinds = [_describe(a) for a in args if a is not type(None)]
        return " or ".join(kinds) + (" or null" if type(None) in args else "")
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a JSON object"}
    if hint in names:
        return names[hint]
    if typing.get_origin(hint) is dict:
        return "a JSON object"
    if typing.get_origin(hint) in (tuple, list):
        return f"a list of {_describe(args[0])[2:]}s" if args else "a list"
    return getattr(hint, "__name__", str(hint))


def _fits(value: Any, hint: Any) -> bool:
    """Does a JSON value fit a dataclass field type (int, float, bool, str, X | None, Literal, ...)?"""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in args
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    if origin in (tuple, list):
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value) if args else isinstance(value, list)
    return True  # a type JSON cannot express: the dataclass checks it


def check_fields(cls, values: dict, where: str, path) -> None:
    """Each value in `values` that is a field of dataclass `cls` must fit the field's type."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key in names and not _fits(value, hints[key]):
            raise CheckpointError(f"{path}: {where}{key}: expected {_describe(hints[key])}, got {value!r}"[:300])


def _check_record(record: dict, path: Path) -> None:
    """Types and values of config.json, each error one line naming the file."""
    version = record.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: version: expected a positive integer, got {version!r}")
    if version > VERSION:
        raise CheckpointError(f"{path}: written by a newer seqlab (run format {version}, this "
                              f"seqlab reads up to {VERSION})")
    model = record["model"]
    if not isinstance(model["name"], str) or not isinstance(model.get("config"), dict):
        raise CheckpointError(f"{path}: model: expected a name (string) and a config (JSON object)")
    run = record.get("run")
    if not isinstance(run, dict):
        raise CheckpointError(f"{path}: run: expected a JSON object, got {run!r}"[:300])
    check_fields(RunConfig, run, "run.", path)
    if "train" in run:
        from seqlab.train.config import TrainConfig

        if not isinstance(run["train"], dict):
            raise CheckpointError(f"{path}: run.train: expected a JSON object, got {run['train']!r}"[:300])
        check_fields(TrainConfig, run["train"], "run.train.", path)
    try:
        run_config = RunConfig.from_dict(run)
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: {' '.join(str(e).split())}") from None
    if run_config.model != model["name"]:
        raise CheckpointError(f"{path}: run.model {run_config.model!r} differs from model.name {model['name']!r}")
    from seqlab.models import registry

    try:
        check_fields(registry.config_class(model["name"]), model["config"], "model.config.", path)
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None
    if record.get("data_kind", "text") not in ("text", "series", "pairs"):
        raise CheckpointError(f"{path}: data_kind: expected one of 'text', 'series', 'pairs', got "
                              f"{record.get('data_kind')!r}"[:300])
    if record.get("tokenizer") is not None and not isinstance(record["tokenizer"], str):
        raise CheckpointError(f"{path}: tokenizer: expected a string or null, got {record['tokenizer']!r}"[:300])
    if record.get("split") is not None:
        from seqlab.data.splits import Split

        if not isinstance(record["split"], dict):
            raise CheckpointError(f"{path}: split: expected a JSON object, got {record['split']!r}"[:300])
        try:
            Split.from_dict(record["split"])
        except DataError as e:
            raise CheckpointError(f"{path}: {e}") from None


def read_config(path) -> dict:
    """config.json of a run folder, every value type-checked; a folder that is not a seqlab run
    or a malformed value -> CheckpointError naming the file."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"run folder not found: {path}")
    cfg = path / "config.json"
    if not cfg.is_file():
        raise CheckpointError(f"not a seqlab run folder (no config.json): {path}")
    try:
        record = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"not a seqlab run folder (config.json is not valid JSON): {path}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"not a seqlab run folder (config.json has no 'format: {FORMAT}'): {path}")
    if not isinstance(record.get("model"), dict) or "name" not in record["model"]:
        raise CheckpointError(f"corrupt run folder (config.json names no model): {path}")
    _check_record(record, cfg)
    return record


def model_config_dict(model) -> dict:
    cfg = getattr(model, "config", None)
    return dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg or {})


def config_record(run_config: RunConfig, model, data_kind: str, split=None, tokenizer=None) -> dict:
    """The config.json dict of a run."""
    import seqlab

    return {"format": FORMAT, "version": VERSION, "seqlab": getattr(seqlab, "__version__", None),
            "run": run_config.to_dict(),
            "model": {"name": run_config.model, "class": type(model).__name__,
                      "config": model_config_dict(model)},
            "data_kind": data_kind,
            "split": None if split is None else split.to_dict(),
            "tokenizer": None if tokenizer is None else getattr(tokenizer, "kind", None)}


def save_run(path, model, run_config: RunConfig, tokenizer=None, split=None,
             data_kind: str = "text", best: bool = False) -> Path:
    """Write (or refresh) a run folder's config.json, tokenizer.json and model weights as one
    checkpoint (write_files: recorded in manifest.json).

    best=True also stores the weights as best/model.safetensors. Returns the folder.
    """
    path = Path(path)
    files: dict[str, Writer] = {}
    if tokenizer is not None:
        files["tokenizer.json"] = tokenizer.save
    files["model.safetensors"] = weights_writer(model)
    if best:
        files["best/model.safetensors"] = weights_writer(model)
    files["config.json"] = json_writer(config_record(run_config, model, data_kind, split, tokenizer))
    write_files(path, files)
    return path


def build_from_record(record: dict):
    """The (untrained) model a config.json describes."""
    from seqlab.models import registry

    try:
        return registry.build_model(record["model"]["name"], **record["model"]["config"])
    except (ConfigError, DataError, TypeError, ValueError) as e:
        raise CheckpointError(f"cannot rebuild model {record['model']['name']!r}: {e}") from None


def load_tokenizer(path, record: dict):
    """The run's tokenizer.json (None for real-valued runs); one that does not fit the model's
    vocabulary -> CheckpointError naming the file."""
    if record.get("tokenizer") is None:
        return None
    from seqlab.data.tokenizers import Tokenizer

    file = Path(path) / "tokenizer.json"
    try:
        tokenizer = Tokenizer.load(file)
    except (OSError, DataError, ConfigError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"cannot read {file}: {' '.join(str(e).split())}") from None
    if tokenizer.kind != record["tokenizer"]:
        raise CheckpointError(f"{file}: a {tokenizer.kind} tokenizer, but config.json records "
                              f"{record['tokenizer']!r}: the tokenizer comes from another run")
    if not all(isinstance(sym, str) for sym in getattr(tokenizer, "itos", ())):
        raise CheckpointError(f"{file}: its vocabulary holds a symbol that is not a string")
    vocab = record["model"].get("config", {}).get("vocab_size")
    if vocab is not None and tokenizer.vocab_size != vocab:
        raise CheckpointError(f"{file}: {tokenizer.vocab_size} symbols, but the model was built for "
                              f"{vocab}: the tokenizer comes from another run")
    return tokenizer


def load_run(path, which: str = "last", device: str | torch.device = "cpu") -> Run:
    """Load a run folder: model (eval mode, `which` = "last" or "best" weights), tokenizer, config.

    Every file read is checked against manifest.json first (verify_files).
    """
    if which not in ("last", "best"):
        raise ConfigError(f"which must be 'last' or 'best', got {which!r}")
    path = Path(path)
    record = read_config(path)
    weights = "model.safetensors"
    if which == "best" and (path / "best" / "model.safetensors").is_file():
        weights = "best/model.safetensors"
    if not (path / weights).is_file():
        raise CheckpointError(f"incomplete run folder (no model.safetensors): {path}")
    verify_files(path, ["config.json", weights] + (["tokenizer.json"] if record.get("tokenizer") else []))
    model = build_from_record(record)
    load_weights(model, path / weights)
    tokenizer = load_tokenizer(path, record)
    split = None
    if record.get("split"):
        from seqlab.data.splits import Split

        split = Split.from_dict(record["split"])
    run_config = RunConfig.from_dict(record["run"])  # read_config checked it
    return Run(path, run_config, model.to(device).eval(), tokenizer, split,
               record.get("data_kind", "text"), record)


def resumed_config(stored: RunConfig, given: RunConfig | None) -> RunConfig:
    """The config a resumed run continues with: `stored` (from config.json) with the options of
    `given` in RESUME_OPTIONS applied. Any other difference is refused with a ConfigError (a
    resumed run never drops an option silently). `given` None: continue as stored."""
    if given is None:
        return stored
    for name in ("model", "model_config", "tokenizer", "tokenizer_options", "split", "data"):
        old, new = getattr(stored, name), getattr(given, name)
        if old != new:
            hint = ("; pass the spec as data= (CLI: --data) to read the same data from elsewhere"
                    if name == "data" else "; start a new run for that")
            raise ConfigError(f"resume cannot change {name} (the run has {old!r}, given {new!r}){hint}")
    changed = {f.name: getattr(given.train, f.name) for f in dataclasses.fields(given.train)
               if getattr(given.train, f.name) != getattr(stored.train, f.name)}
    fixed = [k for k in changed if k not in RESUME_OPTIONS]
    if fixed:
        k = fixed[0]
        raise ConfigError(f"resume cannot change train option {k} (the run has {getattr(stored.train, k)!r}, "
                          f"given {changed[k]!r}): it would change what the resumed steps compute; "
                          f"resume accepts {', '.join(RESUME_OPTIONS)}")
    stored.train = dataclasses.replace(stored.train, **changed)
    return stored
