"""`seqlab seq2seq --task {copy,reverse,sort,addition,tsv:PATH} --model {rnn-attention,transformer}`.

Trains an encoder-decoder P(y | x) = Π_t P(y_t | y_<t, x) on (source, target) string pairs and
reports exact-match accuracy on held-out pairs (the fraction of sources whose whole decoded target
equals the reference) for greedy decoding (argmax at every step) and for beam search (the K best
partial targets by Σ log P; it can only help when the greedy choice is locally misleading).

Pairs are split 80/10/10 in order (synthetic sources are distinct, so no test source was seen in
training); sources and targets share one character vocabulary with `<eos>` at id 0, appended to
every target so decoding knows where to stop. Models: `rnn-attention` is the Bahdanau RNN
encoder-decoder (registry name seq2seq-rnn), `transformer` the Transformer encoder-decoder
(seq2seq-transformer); see seqlab/models/seq2seq.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seqlab.cli.common import atomic_output_dir, check_new_out_dir, csv_text, default_out_dir, markdown_table
from seqlab.cli.options import parse_int, parse_positive_float, parse_positive_int
from seqlab.errors import DataError

MODELS = {"rnn-attention": "seq2seq-rnn", "transformer": "seq2seq-transformer"}
SIZES = {
    "rnn-attention": {"cell": "gru", "embed_dim": 32, "hidden_size": 64},
    "transformer": {"d_model": 64, "n_head": 4, "n_layer": 2},
}
EOS = "<eos>"

EXAMPLE = """examples:
  seqlab seq2seq --task reverse --model rnn-attention --steps 1500
  seqlab seq2seq --task addition --model transformer --beams 4
  seqlab seq2seq --task tsv:pairs.tsv --model transformer --steps 3000

writes: OUT/results.md (greedy vs beam exact match, examples), OUT/results.csv, OUT/results.json,
        OUT/run/ (the trained model as a run folder)
"""


def add_parser(subparsers, argv):
    p = subparsers.add_parser("seq2seq", help="train an encoder-decoder; exact match, greedy vs beam",
                              description=__doc__, epilog=EXAMPLE)
    p.add_argument("--task", metavar="SPEC", default="reverse",
                   help="copy, reverse, sort, addition or tsv:PATH (default: reverse)")
    p.add_argument("--model", choices=list(MODELS), default="rnn-attention",
                   help="encoder-decoder (default: rnn-attention)")
    p.add_argument("--n", type=parse_positive_int, default=4000, help="pairs for synthetic tasks (default: 4000)")
    p.add_argument("--steps", type=parse_positive_int, default=800, help="training steps (default: 800)")
    p.add_argument("--batch-size", type=parse_positive_int, default=64, help="batch size (default: 64)")
    p.add_argument("--lr", type=parse_positive_float, default=3e-3, help="learning rate (default: 0.003)")
    p.add_argument("--hidden-size", type=parse_positive_int, default=None,
                   help="hidden size (rnn-attention) or d_model (transformer)")
    p.add_argument("--beams", type=parse_positive_int, default=4, help="beam width (default: 4)")
    p.add_argument("--max-test", type=parse_positive_int, default=500, help="test pairs decoded (default: 500)")
    p.add_argument("--seed", type=parse_int, default=0, help="seed (default: 0)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: runs/seq2seq-<timestamp>)")
    p.set_defaults(handler=run)
    return p


def encode_pairs(pairs, tokenizer, eos_id: int):
    """[(src, tgt)] -> src (N, S), tgt (N, T) LongTensors padded with -100; tgt ends with eos."""
    import torch

    from seqlab.data import pad_sequences

    src = [torch.tensor(tokenizer.encode(s)) for s, _ in pairs]
    tgt = [torch.tensor(tokenizer.encode(t) + [eos_id]) for _, t in pairs]
    src_pad, _ = pad_sequences(src, pad_value=-100)
    tgt_pad, _ = pad_sequences(tgt, pad_value=-100)
    return src_pad, tgt_pad


def decode_all(model, tokenizer, src, max_len: int, beams: int) -> list[str]:
    """Decode every source (rows of src (N, S), -100 padded) one batch at a time -> strings."""
    import torch

    out = []
    for rows in src.split(128):
        lengths = (rows != -100).sum(1)  # (B,)
        rows = rows[:, : int(lengths.max())]
        ids = model.translate(rows, max_len=max_len, num_beams=beams, src_lengths=lengths)
        out += [tokenizer.decode(torch.tensor(seq).tolist()) for seq in ids]
    return out


def run(args: argparse.Namespace) -> int:
    import torch

    from seqlab.data import CharTokenizer, data_kind, exact_match, load_pairs
    from seqlab.models.registry import build_model

    if data_kind(args.task) != "pairs":
        raise DataError(f"seq2seq needs a pairs task (copy, reverse, sort, addition, tsv:PATH), got {args.task!r}")
    out = check_new_out_dir(args.out if args.out is not None else default_out_dir("seq2seq"))
    pairs = load_pairs(args.task, n=args.n, seed=args.seed)
    if len(pairs) < 10:
        raise DataError(f"{args.task}: {len(pairs)} pairs are too few (need >= 10)")
    a, b = int(len(pairs) * 0.8), int(len(pairs) * 0.9)
    train, test = pairs[:a], pairs[b:][: args.max_test]
    tokenizer = CharTokenizer(specials=(EOS,)).fit("".join(s + t for s, t in pairs))
    eos_id = tokenizer.token_to_id(EOS)  # specials come first: 0
    src_train, tgt_train = encode_pairs(train, tokenizer, eos_id)
    src_test, _ = encode_pairs(test, tokenizer, eos_id)
    fields = dict(SIZES[args.model])
    if args.hidden_size:
        fields["hidden_size" if args.model == "rnn-attention" else "d_model"] = args.hidden_size
    max_len = max(len(t) for _, t in pairs) + 1
    torch.manual_seed(args.seed)
    model = build_model(MODELS[args.model], vocab_size=tokenizer.vocab_size, eos_token_id=eos_id,
                        max_len=max(max_len, src_train.shape[1]) + 1, **fields)
    print(f"seq2seq {args.model} on {args.task}: {len(train)} training / {len(test)} test pairs, "
          f"V={tokenizer.vocab_size}, {args.steps} steps", file=sys.stderr, flush=True)
    losses = model.fit((src_train, tgt_train), steps=args.steps, batch_size=min(args.batch_size, len(train)),
                       lr=args.lr, seed=args.seed)
    targets = [t for _, t in test]
    greedy = decode_all(model, tokenizer, src_test, max_len, 1)
    results = [["greedy", 1, exact_match(greedy, targets)]]
    beam = None
    if args.beams > 1:
        beam = decode_all(model, tokenizer, src_test, max_len, args.beams)
        results.append(["beam search", args.beams, exact_match(beam, targets)])
    table = markdown_table(["decoding", "beams", "exact match"], results, digits=4)
    examples = [[s, t, g] + ([beam[i]] if beam else []) for i, ((s, t), g) in enumerate(zip(test, greedy))][:10]
    ex_table = markdown_table(["source", "target", "greedy"] + (["beam"] if beam else []), examples)
    with atomic_output_dir(out) as tmp:
        (tmp / "results.md").write_text(
            f"# seqlab seq2seq: {args.model} on {args.task}\n\n{len(train)} training pairs, {args.steps} "
            f"steps, final training loss {losses[-1]:.4f} nats/token; {len(test)} held-out pairs.\n\n"
            f"{table}\nExamples:\n\n{ex_table}", encoding="utf-8")
        (tmp / "results.csv").write_text(csv_text(["decoding", "beams", "exact_match"],
                                                  [[r[0], r[1], f"{r[2]:.6f}"] for r in results]),
                                         encoding="utf-8")
        (tmp / "results.json").write_text(json.dumps({
            "task": args.task, "model": args.model, "train_pairs": len(train), "test_pairs": len(test),
            "steps": args.steps, "final_train_loss": losses[-1],
            "exact_match": {r[0]: r[2] for r in results}, "beams": args.beams}, indent=2) + "\n",
            encoding="utf-8")
        _save_model(tmp / "run", model, tokenizer, args)
    print(table, end="")
    print(f"\nwrote {out}/results.md, results.csv, results.json, run/")
    return 0


def _save_model(path: Path, model, tokenizer, args) -> None:
    from seqlab.train.checkpoint import model_config_dict, save_run
    from seqlab.train.config import RunConfig, TrainConfig

    run_config = RunConfig(model=MODELS[args.model], data=args.task, model_config=model_config_dict(model),
                           tokenizer="char", train=TrainConfig(steps=args.steps, lr=args.lr, seed=args.seed))
    save_run(path, model, run_config, tokenizer=tokenizer, data_kind="pairs")
