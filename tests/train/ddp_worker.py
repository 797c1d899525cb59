"""Launched by test_distributed.py under torchrun: `ddp_worker.py CORPUS_FILE OUT_DIR`.

Every rank calls train_run with the same run config (seqlab.train.distributed reads torchrun's
environment); rank 0 writes OUT_DIR.
"""

import sys

import torch

from seqlab.train import distributed
from seqlab.train.run import train_run
from test_distributed import run_config


def main(corpus: str, out: str) -> None:
    torch.set_num_threads(1)
    result = train_run(run_config(corpus), out, progress=False)
    info = distributed.init_from_env()
    print(f"rank {info.rank}/{info.world_size} backend {info.backend} steps {result.steps} "
          f"best {result.best_val_loss:.6f}", flush=True)
    distributed.finish(info)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
