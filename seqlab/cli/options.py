"""Command-line options derived from typed dataclass fields.

Every model and training configuration in seqlab is a typed `@dataclass`. Instead of writing the
same option twice (once in the dataclass, once in argparse), `add_dataclass_options` turns each
field into an option and `dataclass_from_args` turns the parsed values back into an instance:

    field `hidden_size: int = 128`              ->  `--hidden-size INT`   (default 128)
    field `cell: Literal["rnn", "lstm"] = ...`   ->  `--cell {rnn,lstm}`
    field `tie_weights: bool = False`           ->  `--tie-weights / --no-tie-weights`
    field `dropout: float = 0.0`                ->  `--dropout FLOAT`
    field `max_steps: int | None = None`        ->  `--max-steps INT` (or `none`)

Each option's help line is the field's doc, what follows `#` on the field's line in the class
source (`steps: int = 1000  # optimiser steps (the schedule's length)`) or `metadata["help"]`,
then its default; a `Literal[...]` field (or one with `metadata["choices"]`) lists its choices.

A value that does not fit the field's type is rejected by argparse with a message that names the
option and the expected type (`argument --hidden-size: expected an integer, got 'big'`), never a
bare `AssertionError` or a `SyntaxError` from evaluating the string. Options the user did not give
stay unset (`None` in the namespace), so the dataclass keeps its own defaults and its own
validation (`__post_init__`) runs on the combined value; a `ValueError` raised there becomes a
`ConfigError` with the same one-line message.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import io
import math
import textwrap
import tokenize
import types
import typing
from typing import Any, Literal, Union

from seqlab.errors import ConfigError

__all__ = [
    "add_dataclass_options",
    "dataclass_from_args",
    "parse_int",
    "parse_float",
    "parse_positive_int",
    "parse_positive_float",
    "parse_int_list",
    "parse_name_list",
    "option_name",
    "given_values",
    "field_docs",
]


# ---------------------------------------------------------------- value parsers (argparse `type=`)
# argparse reports an ArgumentTypeError as "argument --x: <message>", so each message names the
# expected type and echoes the bad value.

def parse_int(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def parse_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def parse_positive_int(text: str) -> int:
    value = parse_int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def parse_positive_float(text: str) -> float:
    value = parse_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def parse_int_list(text: str) -> list[int]:
    """'10,20,50' -> [10, 20, 50] (each a positive integer)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of integers, got {text!r}")
    return [parse_positive_int(t) for t in items]


def parse_name_list(text: str) -> list[str]:
    """'rnn, lstm' -> ['rnn', 'lstm'] (order kept, duplicates dropped)."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of names, got {text!r}")
    return list(dict.fromkeys(items))


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _optional(parse):
    """Wrap a parser so the words 'none'/'null' give None (for `X | None` fields)."""

    def parse_or_none(text: str):
        if text.strip().lower() in ("none", "null"):
            return None
        return parse(text)

    parse_or_none.__name__ = getattr(parse, "__name__", "value")
    return parse_or_none


# ------------------------------------------------------------------ dataclass field -> option

def option_name(field_name: str) -> str:
    """`hidden_size` -> `--hidden-size`."""
    return "--" + field_name.replace("_", "-")


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """`int | None` -> (int, True); `int` -> (int, False)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(args) != len(typing.get_args(tp)):
            return args[0], True
    return tp, False


def _option_for(tp: Any) -> dict[str, Any] | None:
    """argparse keyword arguments for one field type, or None when the type has no CLI form."""
    tp, optional = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = list(typing.get_args(tp))
        if all(isinstance(c, str) for c in choices):
            kw = {"choices": choices, "metavar": "{" + ",".join(choices) + "}"}
            if optional:
                kw["type"] = _optional(str)
                kw["choices"] = choices + [None]
            return kw
        return None
    parsers = {int: (parse_int, "INT"), float: (parse_float, "FLOAT"), str: (str, "TEXT")}
    if tp is bool:
        return {"action": argparse.BooleanOptionalAction} if not optional else {
            "type": _optional(_parse_bool), "metavar": "BOOL"}
    if tp in parsers:
        parse, metavar = parsers[tp]
        return {"type": _optional(parse) if optional else parse, "metavar": metavar}
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if args and all(a is int for a in args):
            return {"type": parse_int_list, "metavar": "INT,INT,..."}
    return None  # nested dataclasses, dicts, callables: not exposed on the command line


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """{field name: the comment after it on its line in the class source}, e.g.
    `steps: int = 1000  # optimiser steps` -> {"steps": "optimiser steps"}; {} without source."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
        tree = ast.parse(source)
    except (SyntaxError, tokenize.TokenError):
        return {}
    docs = {}
    for node in tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else ():
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            doc = comments.get(node.end_lineno)
            if doc:
                docs[node.target.id] = doc
    return docs


def _default_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _field_help(cls: type, field: dataclasses.Field) -> str:
    """What the option does (the field's doc) and its default; % escaped for argparse."""
    doc = (field.metadata.get("help") if field.metadata else None) or field_docs(cls).get(field.name, "")
    if field.default is not dataclasses.MISSING:
        default = f"(default: {_default_text(field.default)})"
    elif field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        default = f"(default: {_default_text(field.default_factory())})"  # type: ignore[misc]
    else:
        default = "(required)"
    return f"{doc} {default}".strip().replace("%", "%%")


def add_dataclass_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    *,
    skip: tuple[str, ...] = (),
    dest_prefix: str = "",
    taken: set[str] | None = None,
) -> list[str]:
    """Add one `--option` per typed field of dataclass `cls`; return the field names added.

    `skip` names fields that the command sets itself (e.g. `vocab_size` comes from the tokenizer).
    `taken` is a set of option strings already on the parser; fields that would clash are skipped
    and the set is updated. Values are stored under `dest_prefix + field.name`, default None.
    """
    hints = typing.get_type_hints(cls)
    added = []
    for field in dataclasses.fields(cls):
        if field.name in skip or field.name.startswith("_") or not field.init:
            continue
        kwargs = _option_for(hints.get(field.name, field.type))
        if kwargs is None:
            continue
        choices = field.metadata.get("choices") if field.metadata else None
        if choices and kwargs.get("type") is str:  # a str field with a closed set
            kwargs = {"choices": list(choices), "metavar": "{" + ",".join(choices) + "}"}
        flag = option_name(field.name)
        if taken is not None:
            if flag in taken:
                continue
            taken.add(flag)
        parser.add_argument(flag, dest=dest_prefix + field.name, default=None,
                            help=_field_help(cls, field), **kwargs)
        added.append(field.name)
    return added


def dataclass_from_args(cls: type, args: argparse.Namespace, names: list[str], *,
                        dest_prefix: str = "", **fixed: Any):
    """Build `cls` from the options the user gave (others keep the dataclass defaults).

    `fixed` are values the command supplies itself (they win over options). A ValueError or
    TypeError from the dataclass's own validation becomes a ConfigError with a one-line message.
    """
    values = {}
    for name in names:
        value = getattr(args, dest_prefix + name, None)
        if value is not None:
            values[name] = value
    values.update(fixed)
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"invalid {cls.__name__}: {message}") from None


def given_values(args: argparse.Namespace, names: list[str], dest_prefix: str = "") -> dict:
    """The subset of `names` the user set on the command line, as {field: value}."""
    out = {}
    for name in names:
        value = getattr(args, dest_prefix + name, None)
        if value is not None:
            out[name] = value
    return out
