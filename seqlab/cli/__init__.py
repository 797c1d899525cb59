"""The `seqlab` command line: `main.py` dispatches to one module per command (see docs/cli.md)."""
