"""`seqlab attention` (being written)."""

from __future__ import annotations


def add_parser(subparsers, argv):
    p = subparsers.add_parser("attention", help="(being written)")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from seqlab.errors import ConfigError

    raise ConfigError("seqlab attention is not available yet")
