"""`python -m seqlab ...` (also what `torchrun -m seqlab train ...` runs)."""

from seqlab.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
