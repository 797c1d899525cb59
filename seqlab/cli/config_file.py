"""Config files for the commands: TOML, JSON or YAML with the same keys as the flags.

    # run.toml                                   seqlab train --config run.toml --steps 500
    model = "lstm"
    data = "file:corpus.txt"
    steps = 2000                                 # keys are the flags without "--"; "_" or "-"
    hidden_size = 256
    split = [0.9, 0.05, 0.05]                    # a list where the flag takes "a,b,c"

A file's values become the parser's defaults, so a flag given on the command line wins over the
file. Every value goes through the option's own parser and choices, so a wrong key or type is the
same one-line error a flag gets, naming the file: `run.toml: hidden_size: expected an integer, got
'big'`, `run.toml: unknown key 'hiden_size' (did you mean 'hidden_size'?)`. Nothing in a file is
executed: TOML is read with the standard library's tomllib, JSON with json, YAML with PyYAML's
safe loader (plain values only).

`to_text` writes values back (`--print-config`): TOML by default, or JSON / YAML, in a form
`read_config_file` reads to the same values.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
from pathlib import Path
from typing import Any

from seqlab.errors import ConfigError
from seqlab.train.integrity import read_json

__all__ = ["read_config_file", "apply_defaults", "option_actions", "to_text", "command_args", "peek_option",
           "read_setup_record", "FORMATS"]

FORMATS = {".toml": "toml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
# options a file cannot set: they say where the values come from, or print instead of running
_NOT_IN_FILES = {"config", "from", "print_config", "help"}


def command_args(argv, command: str) -> list[str] | None:
    """The arguments after `command` when the command line runs `seqlab COMMAND`, else None
    (a command's parser is built with the whole command line; only its own may shape it)."""
    argv = list(argv)
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] == "--threads" else 1  # global options before the command
    return argv[i + 1:] if i < len(argv) and argv[i] == command else None


def peek_option(argv, flag: str) -> str | None:
    """The value of `flag` (`--flag V` or `--flag=V`) in a command line, if given."""
    for i, arg in enumerate(argv or ()):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def read_setup_record(folder, skip=()) -> tuple[dict[str, Any], str]:
    """(values, origin) of FOLDER/setup.json's "setup" record (what `compare --from` reruns):
    None values (= the default) and the keys in `skip` left out; a folder without a readable
    record -> ConfigError naming the file."""
    path = Path(folder) / "setup.json"
    if not Path(folder).is_dir():
        raise ConfigError(f"folder not found: {folder}")
    try:
        record = read_json(path, ConfigError)
    except FileNotFoundError:
        raise ConfigError(f"{folder} has no setup.json: not a folder written by seqlab compare") from None
    setup = record.get("setup") if isinstance(record, dict) else None
    if not isinstance(setup, dict):
        raise ConfigError(f"{path}: no \"setup\" record (a JSON object of the options)")
    return {k: v for k, v in setup.items() if v is not None and k not in skip}, str(path)


def read_config_file(path) -> dict[str, Any]:
    """The mapping in a .toml / .json / .yaml file; anything else -> ConfigError naming the file."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{path}: a config file must end in .toml, .json, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        if kind == "toml":
            import tomllib

            values = tomllib.loads(text)
        elif kind == "json":
            values = json.loads(text)
        else:
            import yaml

            values = yaml.safe_load(text)
    except Exception as e:  # each parser has its own error class; all mean "not valid <kind>"
        raise ConfigError(f"{path}: not valid {kind.upper()}: {' '.join(str(e).split())}"[:300]) from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values, got a {type(values).__name__}")
    return values


def option_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """{key: action} of every `--long-option` of `parser`, keyed as in a file (`hidden_size`)."""
    out = {}
    for action in parser._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and not flag.startswith("--no-"):
                out[flag[2:].replace("-", "_")] = action
    return out


def _expected(action: argparse.Action) -> str:
    if action.choices is not None:
        return "one of " + ", ".join(repr(c) for c in action.choices if c is not None)
    return "a string"


def coerce(action: argparse.Action, key: str, value: Any, origin: str) -> Any:
    """`value` read from a file for `action`, parsed and checked as the flag's text would be."""
    def fail(message: str):
        raise ConfigError(f"{origin}: {key}: {message}"[:300])

    if action.nargs == 0:  # --x / --no-x and store_true: a boolean
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            fail(f"expected true or false, got {value!r}")
        return value
    if isinstance(value, (dict, list)) and not (isinstance(value, list) and value):
        fail(f"expected a single value, got {value!r}")
    if isinstance(value, list):  # the flag's comma-separated form
        if not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value):
            fail(f"expected a list of numbers or names, got {value!r}")
        text = ",".join(str(v) for v in value)
    elif value is None:
        text = "none"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and not math.isfinite(value):
        fail(f"expected a finite number, got {value!r}")
    else:
        text = str(value)
    parse = action.type
    if parse is None or parse is str or parse is Path:
        if not isinstance(value, str):
            fail(f"expected {_expected(action)}, got {value!r}")
        parsed = value if parse is not Path else Path(value)
    else:
        try:
            parsed = parse(text)
        except argparse.ArgumentTypeError as e:
            fail(str(e))
        except (TypeError, ValueError):
            fail(f"invalid value {value!r}")
    if action.choices is not None and parsed not in action.choices:
        fail(f"invalid choice {value!r} (choose from {', '.join(repr(c) for c in action.choices if c is not None)})")
    return parsed


def apply_defaults(parser: argparse.ArgumentParser, values: dict[str, Any], origin: str,
                   command: str) -> dict[str, Any]:
    """Check every key and value of `values` (read from `origin`) against `parser`'s options and
    make them the parser's defaults (flags still win). Returns {dest: parsed value}."""
    actions = option_actions(parser)
    defaults = {}
    for raw_key, value in values.items():
        key = str(raw_key).replace("-", "_")
        if key in _NOT_IN_FILES:
            raise ConfigError(f"{origin}: {raw_key!r} cannot be set in a config file, only on the command line")
        action = actions.get(key)
        if action is None:
            close = difflib.get_close_matches(key, [k for k in actions if k not in _NOT_IN_FILES], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{origin}: unknown key {raw_key!r}{hint}; the keys are the options of "
                              f"'seqlab {command} --help' without '--'")
        defaults[action.dest] = coerce(action, key, value, origin)
    parser.set_defaults(**defaults)
    return defaults


# ------------------------------------------------------------------ writing
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to a config file")


def to_text(sections: dict[str, dict[str, Any]], fmt: str = "toml") -> str:
    """{comment: {key: value}} as a config file; None values are left out (they mean: default)."""
    flat = {k: (list(v) if isinstance(v, tuple) else v)
            for values in sections.values() for k, v in values.items() if v is not None}
    if fmt == "json":
        return json.dumps(flat, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(flat, sort_keys=False, allow_unicode=True)
    lines = []
    for comment, values in sections.items():
        kept = {k: v for k, v in values.items() if v is not None}
        if not kept:
            continue
        lines.append(f"# {comment}")
        lines += [f"{k} = {_toml_value(v)}" for k, v in kept.items()]
        lines.append("")
    return "\n".join(lines)
