"""`seqlab generate DIR --prompt TEXT -n N`: continue a prompt with a trained token model.

Sampling draws x_t ~ softmax(logits_t / temperature) restricted to the top-k tokens and/or the
top-p nucleus; `--temperature 0` is greedy; `--beams K` runs beam search (deterministic, ignores
the sampling options); `--seed` makes sampling repeatable; `--stream` prints each token as soon as
it is generated (one model step each: recurrent state or KV cache). For a seq2seq run the prompt is
the source and the decoded target is printed (up to `<eos>`).

A prompt holding characters the run's tokenizer cannot represent is rejected with one line naming
them, before anything is generated.
"""

from __future__ import annotations

import argparse
import sys

from seqlab.cli.common import check_run_dir
from seqlab.cli.options import parse_float, parse_int, parse_positive_int
from seqlab.errors import ConfigError

EXAMPLE = """example:
  seqlab generate runs/lstm --prompt "The " -n 200 --temperature 0.8 --top-k 20 --seed 1
  seqlab generate runs/lstm --prompt "def " -n 100 --beams 4
"""


def add_parser(subparsers, argv):
    p = subparsers.add_parser("generate", help="continue a prompt with a trained model",
                              description=__doc__, epilog=EXAMPLE)
    p.add_argument("run_dir", metavar="DIR", help="a run folder written by seqlab train/compare")
    p.add_argument("--prompt", default="", help="text to continue (default: empty, start of text)")
    p.add_argument("-n", "--max-new-tokens", type=parse_positive_int, default=200, metavar="N",
                   help="number of tokens to generate (default: 200)")
    p.add_argument("--temperature", type=parse_float, default=1.0,
                   help="sampling temperature; 0 = greedy (default: 1.0)")
    p.add_argument("--top-k", type=parse_positive_int, default=None, help="keep the k most likely tokens")
    p.add_argument("--top-p", type=parse_float, default=None, help="keep the nucleus of mass p, 0 < p <= 1")
    p.add_argument("--beams", type=parse_positive_int, default=1, help="beam search width (default: 1)")
    p.add_argument("--seed", type=parse_int, default=None, help="random seed for sampling")
    p.add_argument("--stream", action="store_true", help="print tokens as they are generated")
    p.add_argument("--best", action="store_true", help="use the best checkpoint instead of the last")
    p.set_defaults(handler=run)
    return p


def check_options(args: argparse.Namespace) -> None:
    if args.temperature < 0:
        raise ConfigError(f"--temperature must be >= 0, got {args.temperature}")
    if args.top_p is not None and not 0.0 < args.top_p <= 1.0:
        raise ConfigError(f"--top-p must lie in (0, 1], got {args.top_p}")
    if args.stream and args.beams > 1:
        raise ConfigError("--stream works with sampling only, not with --beams > 1")


def encode_prompt(tokenizer, text: str) -> list[int]:
    """Token ids of `text`; characters outside the vocabulary -> VocabularyError naming them."""
    return list(tokenizer.encode(text, errors="strict"))


def run(args: argparse.Namespace) -> int:
    check_options(args)
    check_run_dir(args.run_dir)
    import torch

    from seqlab.train import load_run

    loaded = load_run(args.run_dir, **({"which": "best"} if args.best else {}))
    model, tokenizer = loaded.model, loaded.tokenizer
    if model.emission_kind != "categorical" or tokenizer is None:
        raise ConfigError(f"{args.run_dir} holds a real-valued model; use seqlab forecast")
    ids = encode_prompt(tokenizer, args.prompt)
    prompt = torch.tensor(ids, dtype=torch.long)  # (T0,)
    if loaded.data_kind == "pairs":  # an encoder-decoder: the prompt is the source
        if args.stream:
            raise ConfigError("--stream is for language models; a seq2seq run translates the whole prompt")
        out_ids = model.translate(prompt[None], max_len=args.max_new_tokens, num_beams=args.beams,
                                  **({} if args.beams > 1 else {"temperature": args.temperature,
                                                                "top_k": args.top_k, "top_p": args.top_p,
                                                                "seed": args.seed}))[0]
        sys.stdout.write(tokenizer.decode(out_ids) + "\n")
        return 0
    temperature = args.temperature
    out = sys.stdout
    if args.stream:
        out.write(args.prompt)
        out.flush()
        new: list[int] = []
        shown = ""
        for tok in model.stream(prompt, args.max_new_tokens, temperature=temperature,
                                top_k=args.top_k, top_p=args.top_p, seed=args.seed):
            new.append(int(tok))
            text = tokenizer.decode(new)
            # byte-level tokenizers may end mid-character: print only the settled prefix
            settled = text.rstrip("\ufffd")
            out.write(settled[len(shown):])
            out.flush()
            shown = settled
        out.write(tokenizer.decode(new)[len(shown):] + "\n")
        return 0
    seq = model.generate(prompt, args.max_new_tokens, temperature=temperature, top_k=args.top_k,
                         top_p=args.top_p, num_beams=args.beams, seed=args.seed)  # (T0 + N,)
    out.write(args.prompt + tokenizer.decode(seq[len(ids):].tolist()) + "\n")
    return 0
