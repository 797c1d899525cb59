"""Seq2SeqSetup -> Seq2SeqResult: an encoder-decoder P(y | x) = Π_t P(y_t | y_<t, x), scored on
held-out (source, target) pairs.

Shapes: N pairs, S source length, T target length (with <eos>), V vocabulary.

Data (seqlab.data.prepare.prepare_data, the one data rule): the pairs are split 80/10/10 in order
(synthetic sources are distinct, so no test source was seen in training); one character vocabulary
with `<eos>` (id 0), appended to every target so decoding knows where to stop, is fitted on the
*training* pairs only: a character first seen in a validation or test pair maps to the unknown
symbol. For a synthetic task the spec is recorded with its `n` and `seed` options
("reverse;n=4000;seed=0"), so `seqlab eval` on the saved run re-derives exactly these pairs.

Scores on the test part:

    held-out NLL   L = -(1/N_tok) Σ_pairs Σ_t log P(y_t | y_<t, x)   nats per target token (the
                   one scorer, seqlab.train.scoring.evaluate, on every test pair; what `seqlab eval`
                   prints for the saved run)
    exact match    (1/N) Σ_i [decoded_i == target_i] on the first `max_test` test pairs, for greedy
                   decoding (argmax at every step) and for beam search (the K best partial targets by
                   Σ log P; it can only help when the greedy choice is locally misleading)

Training: seqlab.train.Trainer on a Seq2SeqTask, `steps` steps of `batch_size` random training
pairs, AdamW (betas 0.9, 0.999; weight decay 0.01 on matrices), the rate rising linearly to `lr`
over the first tenth of the steps and constant after (the schedule of the models' quick `fit`),
gradient norm clipped at 1; the validation loss is computed once, at the end, so the saved best
weights are the final ones. With `run_root` the Trainer writes
the run folder run_root/run (config, tokenizer, weights, metrics), a run `seqlab eval` and
`seqlab generate` accept.

Models: `rnn-attention` is the Bahdanau RNN encoder-decoder (registry name seq2seq-rnn),
`transformer` the Transformer encoder-decoder (seq2seq-transformer); see the seqlab/models/seq2seq/ package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from seqlab.errors import ConfigError, DataError

__all__ = ["Seq2SeqSetup", "Seq2SeqResult", "Seq2SeqExample", "run_seq2seq", "pairs_spec",
           "decode_all", "train_encoder_decoder", "MODELS"]

MODELS = {"rnn-attention": "seq2seq-rnn", "transformer": "seq2seq-transformer"}  # name -> registry name
FRACTIONS = (0.8, 0.1, 0.1)
MIN_PAIRS = 10


@dataclass
class Seq2SeqSetup:
    """What `seqlab seq2seq` runs."""

    task: str = "reverse"               # a pairs spec: copy, reverse, sort, addition, tsv:PATH
    model: str = "rnn-attention"        # rnn-attention | transformer
    n: int = 4000                       # pairs of a synthetic task (at most n lines of a tsv file)
    steps: int = 800
    batch_size: int = 64
    lr: float = 3e-3
    hidden_size: int | None = None      # rnn-attention: hidden size (64); transformer: d_model (64)
    beams: int = 4                      # beam width (1: greedy only)
    max_test: int = 500                 # test pairs decoded for exact match
    seed: int = 0                       # pairs, initialisation and batches
    run_root: Path | None = None        # write the trained model as the run folder run_root/run
    device: str = "auto"                # training device (seqlab.train)
    progress: bool | None = False       # the Trainer's progress display (None: bar on a terminal, lines in a log)

    def __post_init__(self):
        from seqlab.data import data_kind

        if self.model not in MODELS:
            raise ConfigError(f"unknown seq2seq model {self.model!r}; choose from {', '.join(MODELS)}")
        for name in ("n", "steps", "batch_size", "beams", "max_test"):
            if getattr(self, name) < 1:
                raise ConfigError(f"seq2seq {name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_size is not None and self.hidden_size < 1:
            raise ConfigError(f"seq2seq hidden size must be >= 1, got {self.hidden_size}")
        if not self.lr > 0:
            raise ConfigError(f"seq2seq lr must be > 0, got {self.lr}")
        if data_kind(self.task) != "pairs":
            raise DataError(f"seq2seq needs a pairs task (copy, reverse, sort, addition, tsv:PATH), "
                            f"got {self.task!r}")

    def model_fields(self) -> dict:
        """The encoder-decoder's config fields at this setup's size (vocabulary aside)."""
        if self.model == "rnn-attention":
            return {"cell": "gru", "embed_dim": 32, "hidden_size": self.hidden_size or 64}
        return {"d_model": self.hidden_size or 64, "n_head": 4, "n_layer": 2}


@dataclass(frozen=True)
class Seq2SeqExample:
    source: str
    target: str
    greedy: str
    beam: str | None


@dataclass
class Seq2SeqResult:
    """Held-out scores of the trained encoder-decoder."""

    setup: Seq2SeqSetup
    spec: str                           # the data spec as recorded in the run (with n and seed)
    train_pairs: int
    test_pairs: int                     # decoded test pairs (at most max_test)
    vocab_size: int                     # V, fitted on the training pairs (with <eos> and unknown)
    test_score: object                  # seqlab.train.Score: NLL per target token, whole test part
    greedy_exact_match: float
    beam_exact_match: float | None      # None when beams == 1
    final_train_loss: float             # mean training loss of the last logged steps, nats/token
    examples: list[Seq2SeqExample] = field(repr=False)
    run_dir: Path | None = None
    train: object | None = field(default=None, repr=False)  # seqlab.train.TrainResult


def pairs_spec(task: str, n: int, seed: int) -> str:
    """A synthetic task (copy, reverse, sort, addition) with the `n` and `seed` options it does not
    already name written in, so a run folder re-derives exactly its pairs; the spec's own options
    win. A file of pairs (`tsv:`) is returned unchanged: it is never truncated by a default n
    (`tsv:PATH;n=100` reads at most 100 lines)."""
    from seqlab.data.spec import parse_spec

    parsed = parse_spec(task)
    if "seed" not in parsed.source.options:  # not synthetic: the file is read as it is
        return task
    extra = [f"{k}={v}" for k, v in (("n", n), ("seed", seed)) if k not in parsed.options]
    return ";".join([task, *extra]) if extra else task


def decode_all(model, tokenizer, src, max_len: int, beams: int) -> list[str]:
    """Decode every source (rows of src (N, S), -100 padded) one batch at a time -> strings."""
    out = []
    for rows in src.split(128):
        lengths = (rows != -100).sum(1)  # (B,)
        rows = rows[:, : int(lengths.max())]
        ids = model.translate(rows, max_len=max_len, num_beams=beams, src_lengths=lengths)
        out += [tokenizer.decode(seq) for seq in ids]
    return out


def train_encoder_decoder(model, name: str, spec: str, prepared, steps: int, batch_size: int, lr: float,
                          seed: int, run_dir: Path | None = None, evaluations: int = 1, device: str = "auto",
                          progress: bool | None = False):
    """Train an encoder-decoder on prepared pairs -> TrainResult; the one training recipe of
    `seqlab seq2seq` and the pairs compare (seqlab.experiments.compare_pairs).

    seqlab.train.Trainer on a Seq2SeqTask of the training pairs, `steps` steps of `batch_size`
    pairs, AdamW (betas 0.9, 0.999; weight decay 0.01 on matrices), the rate rising linearly to `lr`
    over the first tenth of the steps and constant after, gradient norm clipped at 1; the validation
    pairs' NLL is computed `evaluations` times (evenly spaced, the last at the end) and the best
    weights are kept in run_dir/best. With `run_dir` the Trainer writes a run folder that
    `seqlab eval` and `seqlab generate` accept (data spec `spec`, character tokenizer).
    """
    from seqlab.train.checkpoint import model_config_dict
    from seqlab.train.config import RunConfig, TrainConfig
    from seqlab.train.engine import Trainer
    from seqlab.train.tasks import Seq2SeqTask

    sp = prepared.split
    config = TrainConfig(steps=steps, batch_size=min(batch_size, len(sp.train)), lr=lr, min_lr=lr,
                         warmup_steps=steps // 10, weight_decay=0.01, beta2=0.999, grad_clip=1.0,
                         eval_interval=max(1, steps // max(1, evaluations)),
                         log_interval=max(1, min(10, steps // 10)), seed=seed, device=device)
    run_config = RunConfig(model=name, data=spec, model_config=model_config_dict(model), tokenizer="char",
                           split=FRACTIONS, train=config)
    return Trainer(model, Seq2SeqTask(prepared.parts["train"], prepared.parts["val"]), config, run_dir=run_dir,
                   model_name=name, run_config=run_config, tokenizer=prepared.tokenizer, split=sp,
                   data_kind="pairs", progress=progress, stage=run_dir is not None).fit()


def run_seq2seq(setup: Seq2SeqSetup, log: Callable[[str], None] | None = None) -> Seq2SeqResult:
    """Prepare the pairs, train the encoder-decoder, score it on the test part."""
    from seqlab.data import exact_match
    from seqlab.data.prepare import prepare_data
    from seqlab.models.registry import build_model
    from seqlab.train.engine import seed_everything
    from seqlab.train.scoring import evaluate

    spec = pairs_spec(setup.task, setup.n, setup.seed)
    prepared = prepare_data(spec, "char", FRACTIONS, min_part=1)
    sp, tok = prepared.split, prepared.tokenizer
    if sp.length < MIN_PAIRS:
        raise DataError(f"{setup.task}: {sp.length} pairs are too few (need >= {MIN_PAIRS})")
    (src_train, tgt_train), (src_test, tgt_test) = prepared.parts["train"], prepared.parts["test"]
    # sizes (not statistics) of every part: the model must take the longest test source and target
    widths = [t.shape[1] for part in prepared.parts.values() for t in part]
    max_target = max(tgt_train.shape[1], tgt_test.shape[1])  # decoding limit, <eos> included
    seed_everything(setup.seed)
    name = MODELS[setup.model]
    model = build_model(name, vocab_size=tok.vocab_size, eos_token_id=prepared.model_fields["eos_token_id"],
                        max_len=max(widths) + 1, **setup.model_fields())
    if log:
        log(f"seq2seq {setup.model} on {spec}: {len(sp.train)} training / {len(sp.test)} test pairs, "
            f"V={tok.vocab_size}, {setup.steps} steps")
    run_dir = None if setup.run_root is None else Path(setup.run_root) / "run"
    trained = train_encoder_decoder(model, name, spec, prepared, setup.steps, setup.batch_size, setup.lr,
                                    setup.seed, run_dir=run_dir, evaluations=1, device=setup.device,
                                    progress=setup.progress)
    model.eval()
    score = evaluate(model, (src_test, tgt_test))

    shown = sp.test[: setup.max_test]
    targets = [t for _, t in shown]
    greedy = decode_all(model, tok, src_test[: len(shown)], max_target, 1)
    beam = decode_all(model, tok, src_test[: len(shown)], max_target, setup.beams) if setup.beams > 1 else None
    losses = [r["train_loss"] for r in trained.history if r["train_loss"] is not None]
    examples = [Seq2SeqExample(s, t, greedy[i], beam[i] if beam else None)
                for i, (s, t) in enumerate(shown[:10])]
    return Seq2SeqResult(
        setup=setup, spec=spec, train_pairs=len(sp.train), test_pairs=len(shown), vocab_size=tok.vocab_size,
        test_score=score, greedy_exact_match=exact_match(greedy, targets),
        beam_exact_match=exact_match(beam, targets) if beam else None,
        final_train_loss=losses[-1] if losses else float("nan"), examples=examples,
        run_dir=run_dir, train=trained)
