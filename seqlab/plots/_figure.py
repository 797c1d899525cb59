"""Shared figure plumbing for the CLI's plots: the Agg backend and atomic PNG writes.

Every figure is written to a temporary file next to its target and renamed into place, so an
interrupted run never leaves a truncated PNG.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and in tests; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt", "save_png", "palette"]


def palette(n: int) -> list:
    """n distinct colours (tab10, then tab20 beyond ten)."""
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_png(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write `fig` as PNG to `path` atomically and close it; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the name is chosen before the file exists, so an interrupt (Ctrl-C, SIGTERM) at any point
    # leaves a name to remove; savefig creates the file
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.png")
    try:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    finally:
        plt.close(fig)
    return path
