"""`seqlab attention DIR --text TEXT`: per-layer, per-head attention heatmaps of a Transformer run.

Shapes: L layers, h heads, T text tokens, T' = T + 1 positions with the start symbol.

Runs the model once on `<bos> + TEXT` (the internal start symbol is position 0) and draws, for
every layer l and head j, the matrix α^{(l,j)} (T, T) with α_{t,s} = softmax_s(q_t·k_s / sqrt(d_k)
+ M_{t,s}) (M the causal mask), i.e. how much query position t reads key position s. The weights
come from seqlab.nn.MultiHeadAttention's explicit path (`need_weights=True`,
`average_attn_weights=False`) applied to exactly the inputs each attention layer saw in the
normal forward pass (captured with forward pre-hooks), so the picture is the computation.

Also prints, per layer and head, the mean attention distance Σ_s α_{t,s} (t - s) averaged over
queries t: small for heads that read the previous few tokens, large for long-range heads.

On a seq2seq run TEXT is the source: the model translates it (greedy, at most 2 S + 16 tokens) and
the figure shows where each decoding step looked in the source, from the model's `cross_attention` (the Bahdanau α_t of
seq2seq-rnn, one panel; every decoder layer and head of seq2seq-transformer); rows are the output
tokens and <eos>, columns the source tokens. seq2seq-rnn-noattn has no attention to show.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from seqlab.cli.common import check_run_dir
from seqlab.reports.tables import markdown_table
from seqlab.errors import ConfigError
from seqlab.models.attention_maps import self_attention_weights

EXAMPLE = """examples:
  seqlab attention runs/compare-20260101-120000/transformer --text "def main():"
  seqlab attention runs/gpt --text "The quick brown fox" --out fox.png
  seqlab attention runs/reverse --text "abcdef"        # a seq2seq run: attention over the source

writes: OUT (default DIR/attention.png), one heatmap per (layer, head), masked cells hatched
        grey, with a colour bar; token labels for up to 64 tokens
"""


def add_parser(subparsers, argv):
    p = subparsers.add_parser("attention", help="per-layer, per-head attention heatmaps of a Transformer run",
                              description=__doc__, epilog=EXAMPLE)
    p.add_argument("run_dir", metavar="DIR", help="a transformer run folder")
    p.add_argument("--text", required=True, help="text to run the model on (at most block_size tokens)")
    p.add_argument("--out", type=Path, default=None, metavar="PNG",
                   help="output image (default: DIR/attention.png)")
    p.add_argument("--last", action="store_true", help="use the last weights instead of the best on validation")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    import torch

    from seqlab.plots.attention import plot_attention
    from seqlab.train import load_run

    check_run_dir(args.run_dir)
    loaded = load_run(args.run_dir, which="last" if args.last else "best")
    model, tokenizer = loaded.model, loaded.tokenizer
    if tokenizer is None or model.emission_kind != "categorical":
        raise ConfigError(f"{args.run_dir} holds a real-valued model; attention needs a token transformer run")
    if not args.text:
        raise ConfigError("--text is empty")
    if hasattr(model, "cross_attention"):
        return _run_seq2seq(args, loaded)
    ids = tokenizer.encode(args.text, errors="strict")
    block = getattr(model.config, "block_size", None)
    if block is not None and len(ids) > block:
        raise ConfigError(f"--text is {len(ids)} tokens long; this model reads at most block_size={block}")
    x = torch.tensor([ids], dtype=torch.long)  # (1, T)
    weights = self_attention_weights(model, x)  # (L, h, T', T')
    L, h, Tq, _ = weights.shape
    labels = [tokenizer.decode([i]) for i in ids]
    labels = (["<bos>"] + labels) if Tq == len(ids) + 1 else labels[-Tq:]
    out = args.out if args.out is not None else Path(args.run_dir) / "attention.png"
    import numpy as np

    causal = np.triu(np.ones((Tq, Tq), dtype=bool), 1)  # key s > query t: blocked
    plot_attention(weights.numpy(), labels, out, mask=causal,
                   title=f"{loaded.config.model} attention on {args.text[:40]!r} ({L} layers x {h} heads)")
    t = torch.arange(Tq, dtype=torch.float32)
    dist = (weights * (t[:, None] - t[None, :]).clamp(min=0)).sum(-1).mean(-1)  # (L, h)
    rows = [[layer] + [float(d) for d in dist[layer]] for layer in range(L)]
    print("mean attention distance (tokens back), per layer and head:\n")
    print(markdown_table(["layer"] + [f"head {j}" for j in range(h)], rows, digits=2), end="")
    print(f"\nwrote {out}")
    print(f"next: open {out}   or   seqlab generate {args.run_dir} --prompt {shlex.quote(args.text[:20])}")
    return 0


def _run_seq2seq(args: argparse.Namespace, loaded) -> int:
    """`seqlab attention` on an encoder-decoder run: translate TEXT, draw its attention over TEXT."""
    import torch

    from seqlab.plots.attention import plot_attention

    model, tokenizer = loaded.model, loaded.tokenizer
    name = loaded.config.model
    src = torch.tensor(tokenizer.encode(args.text, errors="strict"), dtype=torch.long)  # (S,)
    eos = model.config.eos_token_id
    limit = min(2 * len(src) + 16, model.config.max_len - 1)  # output tokens shown at most
    out = model.translate(src[None], max_len=limit)[0]  # output tokens, eos cut
    ended = eos is not None and len(out) < limit  # the step that emitted <eos> gets a row too
    tgt = torch.tensor(out + ([eos] if ended else []), dtype=torch.long)  # (T,)
    weights = model.cross_attention(src, tgt)  # (L, h, T, S) or None
    if weights is None:
        raise ConfigError(f"{args.run_dir} is a {name} run: its decoder reads only the encoder's final "
                          f"state, there is no attention over the source to show")
    L, h, T, S = weights.shape
    rows = [tokenizer.decode([i]) for i in out] + (["<eos>"] if ended else [])
    cols = [tokenizer.decode([i]) for i in src.tolist()]
    path = args.out if args.out is not None else Path(args.run_dir) / "attention.png"
    plot_attention(weights.float().numpy(), rows, path, keys=cols,
                   title=f"{name} attention over the source {args.text[:40]!r} ({L} layers x {h} heads)")
    mean = weights.float().mean((0, 1))  # (T, S), over layers and heads
    print(f"translation: {tokenizer.decode(out)!r}\n")
    print("most attended source token per output token (mean over layers and heads):\n")
    table = [[rows[t], cols[int(mean[t].argmax())], float(mean[t].max())] for t in range(T)]
    print(markdown_table(["output", "source", "weight"], table, digits=2), end="")
    print(f"\nwrote {path}")
    print(f"next: open {path}   or   seqlab generate {args.run_dir} --prompt {shlex.quote(args.text[:20])}")
    return 0
