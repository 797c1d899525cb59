"""seqlab.train: the training engine, run folders (checkpoints) and distributed training.

    train_run(run_config, out_dir)   everything `seqlab train` does -> TrainResult
    eval_run(dir, data_spec, split)  loss in nats, bits per token, perplexity of a run folder
    load_run(dir) -> Run             model, tokenizer, config, split of a run folder
    Trainer(model, task, config)     the loop itself, for Python users and `seqlab compare`

See docs/training.md.
"""

from seqlab.train.checkpoint import Run, is_run_dir, load_run, read_config, save_run
from seqlab.train.config import RunConfig, TrainConfig
from seqlab.train.engine import Trainer, TrainResult, make_optimizer, seed_everything
from seqlab.train.schedule import WarmupCosine, lr_at
from seqlab.train.scoring import Score, evaluate
from seqlab.train.tasks import LMTask, Seq2SeqTask

__all__ = [
    "RunConfig", "TrainConfig", "Trainer", "TrainResult", "LMTask", "Seq2SeqTask", "evaluate", "Score",
    "Run", "save_run", "load_run", "is_run_dir", "read_config", "lr_at", "WarmupCosine",
    "make_optimizer", "seed_everything", "train_run", "eval_run",
]


def __getattr__(name):
    # run.py pulls in seqlab.data and seqlab.models; import it on first use only
    if name in ("train_run", "eval_run"):
        from seqlab.train import run

        return getattr(run, name)
    raise AttributeError(f"module 'seqlab.train' has no attribute {name!r}")
