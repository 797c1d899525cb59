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

Every write goes to a temporary file in the target's folder and is renamed over the target
(`os.replace` is atomic on POSIX), so a crash mid-save leaves the previous file. Nothing is ever
unpickled: weights and tensors are safetensors, everything else JSON. Optimizer state dicts are
flattened: each tensor becomes a safetensors entry and its place in the JSON tree holds
{"__tensor__": key}; dicts with integer keys (torch's per-parameter state) are stored as
{"__items__": [[key, value], ...]}, tuples as {"__tuple__": [...]}.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from seqlab.errors import CheckpointError, ConfigError, DataError
from seqlab.train.config import RunConfig

__all__ = ["Run", "save_run", "load_run", "is_run_dir", "read_config", "atomic_write_text",
           "atomic_write_json", "save_tensors", "save_weights", "load_weights", "flatten_state",
           "unflatten_state", "rng_state", "set_rng_state", "save_trainer_state",
           "load_trainer_state", "FORMAT"]

FORMAT = "seqlab-run"
VERSION = 1
STATE_FORMAT = "seqlab-trainer-state"


# ------------------------------------------------------------------ atomic writes
def _atomic(path: Path, write) -> Path:
    """Call write(tmp_path) on a temporary sibling of `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return _atomic(path, write)


def _finite(obj: Any) -> Any:
    """NaN / ±inf -> None, so the file is strict JSON."""
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def atomic_write_json(path, obj: Any) -> Path:
    """Strict JSON (non-finite numbers written as null), atomically."""
    return atomic_write_text(path, json.dumps(_finite(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def save_tensors(path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """safetensors file written atomically; tensors are copied to contiguous CPU storage first."""
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    return _atomic(path, lambda tmp: save_file(flat, tmp, metadata=metadata))


def save_weights(model: torch.nn.Module, path) -> Path:
    """model.state_dict() as safetensors (shared tensors are stored once per name)."""
    return save_tensors(path, dict(model.state_dict()), {"format": "pt"})


def load_weights(model: torch.nn.Module, path) -> None:
    """Load a safetensors state dict into `model` (strict); any mismatch -> CheckpointError."""
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"cannot read weights {path}: {' '.join(str(e).split())}") from None
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
    torch.set_rng_state(tensors["rng/torch"])
    n_cuda = int(info.get("cuda_devices", 0))
    if n_cuda and torch.cuda.is_available() and torch.cuda.device_count() >= n_cuda:
        torch.cuda.set_rng_state_all([tensors[f"rng/cuda/{i}"] for i in range(n_cuda)])
    name, pos, has_gauss, cached = info["numpy"]
    np.random.set_state((name, tensors["rng/numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = info["python"]
    random.setstate((version, tuple(internal), gauss))


# ------------------------------------------------------------------ trainer state (resume)
def save_trainer_state(path, model: torch.nn.Module, optimizer, state: dict) -> Path:
    """One atomic file: weights, optimizer, RNG states and the JSON `state` (step, counters...)."""
    tensors: dict[str, torch.Tensor] = {f"model/{k}": v for k, v in model.state_dict().items()}
    optim_tree = flatten_state(optimizer.state_dict(), tensors, "optim") if optimizer is not None else None
    rng_info, rng_tensors = rng_state()
    tensors.update(rng_tensors)
    meta = {"format": STATE_FORMAT, "state": json.dumps(state), "optim": json.dumps(optim_tree),
            "rng": json.dumps(rng_info)}
    return save_tensors(path, tensors, meta)


def load_trainer_state(path) -> dict[str, Any]:
    """{"model": state dict, "optim": optimizer state dict or None, "state": dict, "rng": (info, tensors)}."""
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
        return {"model": {k[6:]: v for k, v in tensors.items() if k.startswith("model/")},
                "optim": None if optim_tree is None else unflatten_state(optim_tree, tensors),
                "state": json.loads(meta["state"]),
                "rng": (json.loads(meta["rng"]), tensors)}
    except (OSError, SafetensorError, KeyError, ValueError) as e:
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


def read_config(path) -> dict:
    """config.json of a run folder; a folder that is not a seqlab run -> CheckpointError."""
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
    """Write (or refresh) a run folder's config.json, tokenizer.json and model weights.

    best=True also stores the weights as best/model.safetensors. Returns the folder.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if tokenizer is not None:
        tokenizer.save(path / "tokenizer.json")
    save_weights(model, path / "model.safetensors")
    if best:
        save_weights(model, path / "best" / "model.safetensors")
    atomic_write_json(path / "config.json", config_record(run_config, model, data_kind, split, tokenizer))
    return path


def build_from_record(record: dict):
    """The (untrained) model a config.json describes."""
    from seqlab.models import registry

    try:
        return registry.build_model(record["model"]["name"], **record["model"]["config"])
    except (ConfigError, DataError, TypeError) as e:
        raise CheckpointError(f"cannot rebuild model {record['model']['name']!r}: {e}") from None


def load_run(path, which: str = "last", device: str | torch.device = "cpu") -> Run:
    """Load a run folder: model (eval mode, `which` = "last" or "best" weights), tokenizer, config."""
    if which not in ("last", "best"):
        raise ConfigError(f"which must be 'last' or 'best', got {which!r}")
    path = Path(path)
    record = read_config(path)
    model = build_from_record(record)
    weights = path / "model.safetensors"
    if which == "best" and (path / "best" / "model.safetensors").is_file():
        weights = path / "best" / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"incomplete run folder (no model.safetensors): {path}")
    load_weights(model, weights)
    tokenizer = None
    if record.get("tokenizer") is not None:
        from seqlab.data.tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.load(path / "tokenizer.json")
        except (OSError, DataError, ValueError) as e:
            raise CheckpointError(f"cannot read the run's tokenizer.json: {e}") from None
    split = None
    if record.get("split"):
        from seqlab.data.splits import Split

        split = Split.from_dict(record["split"])
    try:
        run_config = RunConfig.from_dict(record["run"])
    except (ConfigError, KeyError, TypeError) as e:
        raise CheckpointError(f"corrupt run config in {path}: {e}") from None
    return Run(path, run_config, model.to(device).eval(), tokenizer, split,
               record.get("data_kind", "text"), record)
