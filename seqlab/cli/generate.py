"""`seqlab generate DIR --prompt TEXT -n N`: continue a prompt with a trained token model.

Sampling draws x_t ~ softmax(logits_t / temperature) restricted to the top-k tokens and/or the
top-p nucleus; `--temperature 0` (or `--no-do-sample`) is greedy; `--beams K` runs beam search,
which is deterministic: sampling options given with it are refused with one line, never ignored.
The options follow Hugging Face's `generate` (names and meaning): `--num-samples`
(num_return_sequences), `--do-sample`, `--repetition-penalty`, `--no-repeat-ngram-size`,
`--length-penalty` (beams); see seqlab.models.decoding.

Defaults: sampling at temperature 1 from the best-validation weights (`--last` for the last).
Beam search on a language model tends to loop ("the the the"): add `--no-repeat-ngram-size 3` or
`--repetition-penalty 1.3`, or sample. `--seed` makes sampling repeatable; `--stream` prints each
token as soon as it is generated (one model step each: recurrent state or KV cache). For a seq2seq
run the prompt is the source and the decoded target is printed (up to `<eos>`).

A prompt holding characters the run's tokenizer cannot represent is rejected with one line naming
them, before anything is generated. `--top-k` larger than the vocabulary keeps every token (a
note on stderr says so).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from seqlab.cli.common import check_run_dir
from seqlab.cli.options import parse_float, parse_int, parse_positive_int
from seqlab.errors import ConfigError

EXAMPLE = """example:
  seqlab generate runs/lstm --prompt "The " -n 200 --temperature 0.8 --top-k 20 --seed 1
  seqlab generate runs/lstm --prompt "def " -n 100 --beams 4 --no-repeat-ngram-size 3
  seqlab generate runs/lstm --prompt-file prompt.txt --num-samples 3 --repetition-penalty 1.2
"""


def add_parser(subparsers, argv):
    p = subparsers.add_parser("generate", help="continue a prompt with a trained model",
                              description=__doc__, epilog=EXAMPLE)
    p.add_argument("run_dir", metavar="DIR", help="a run folder written by seqlab train/compare")
    prompt = p.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", default="", help="text to continue (default: empty, start of text)")
    prompt.add_argument("--prompt-file", type=Path, default=None, metavar="FILE",
                        help="read the prompt from a UTF-8 text file (its final newline dropped)")
    p.add_argument("-n", "--max-new-tokens", type=parse_positive_int, default=200, metavar="N",
                   help="number of tokens to generate (default: 200)")
    p.add_argument("--num-samples", type=parse_positive_int, default=1, metavar="M",
                   help="continuations to print (num_return_sequences; with --beams the M best beams) "
                        "(default: 1)")
    p.add_argument("--temperature", type=parse_float, default=1.0, metavar="T",
                   help="sampling temperature, logits / T; 0 = greedy (default: 1.0)")
    p.add_argument("--do-sample", action=argparse.BooleanOptionalAction, default=None,
                   help="sample (--do-sample) or decode greedily (--no-do-sample) (default: sample "
                        "when --temperature > 0)")
    p.add_argument("--top-k", type=parse_positive_int, default=None, metavar="K",
                   help="sample among the K most likely tokens (default: all)")
    p.add_argument("--top-p", type=parse_float, default=None, metavar="P",
                   help="sample from the smallest set of tokens with probability >= P, 0 < P <= 1 (default: off)")
    p.add_argument("--repetition-penalty", type=parse_float, default=1.0, metavar="R",
                   help="divide the positive logits of tokens already in the text by R (multiply the "
                        "negative ones); > 1 discourages repeats (default: 1.0, off)")
    p.add_argument("--no-repeat-ngram-size", type=parse_int, default=0, metavar="N",
                   help="never repeat an N-gram of tokens (default: 0, off)")
    p.add_argument("--beams", type=parse_positive_int, default=1, metavar="K",
                   help="beam search with K beams, deterministic (default: 1, no beam search)")
    p.add_argument("--length-penalty", type=parse_float, default=1.0, metavar="A",
                   help="beams: rank by log P / length^A; > 1 favours longer beams (default: 1.0)")
    p.add_argument("--seed", type=parse_int, default=None, help="random seed for sampling (default: none)")
    p.add_argument("--stream", action="store_true", help="print tokens as they are generated")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--last", action="store_true", help="use the last weights instead of the best on validation")
    weights.add_argument("--best", action="store_true", help="use the best-validation weights (the default)")
    p.set_defaults(handler=run)
    return p


def check_options(args: argparse.Namespace) -> None:
    if args.temperature < 0:
        raise ConfigError(f"--temperature must be >= 0, got {args.temperature}")
    if args.top_p is not None and not 0.0 < args.top_p <= 1.0:
        raise ConfigError(f"--top-p must lie in (0, 1], got {args.top_p}")
    if args.stream and (args.beams > 1 or args.num_samples > 1):
        raise ConfigError("--stream prints one sampled continuation: not with --beams or --num-samples")
    if not args.repetition_penalty > 0:
        raise ConfigError(f"--repetition-penalty must be > 0, got {args.repetition_penalty}")
    if args.no_repeat_ngram_size < 0:
        raise ConfigError(f"--no-repeat-ngram-size must be >= 0, got {args.no_repeat_ngram_size}")
    if args.beams > 1:  # beams are deterministic: a sampling option would be silently ignored
        given = [flag for flag, on in (("--do-sample", args.do_sample is True), ("--top-k", args.top_k is not None),
                                       ("--top-p", args.top_p is not None), ("--seed", args.seed is not None),
                                       ("--temperature", args.temperature not in (0.0, 1.0))) if on]
        if given:
            raise ConfigError(f"--beams {args.beams} is deterministic beam search; it does not use "
                              f"{', '.join(given)}: drop them, or sample without --beams")
        if args.num_samples > args.beams:
            raise ConfigError(f"--num-samples {args.num_samples} needs at least as many --beams, got {args.beams}")
    elif args.length_penalty != 1.0:
        raise ConfigError("--length-penalty applies to beam search only (--beams K > 1)")
    if args.do_sample and args.temperature == 0:
        raise ConfigError("--do-sample needs --temperature > 0")


def read_prompt(args: argparse.Namespace) -> str:
    if args.prompt_file is None:
        return args.prompt
    try:
        text = args.prompt_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"prompt file not found: {args.prompt_file}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{args.prompt_file}: not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"cannot read {args.prompt_file}: {e.strerror or e}") from None
    return text[:-1] if text.endswith("\n") else text  # the newline that ends a text file's last line


def encode_prompt(tokenizer, text: str) -> list[int]:
    """Token ids of `text`; characters outside the vocabulary -> VocabularyError naming them."""
    return list(tokenizer.encode(text, errors="strict"))


def run(args: argparse.Namespace) -> int:
    check_options(args)
    check_run_dir(args.run_dir)
    text = read_prompt(args)
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always")
        code = _generate(args, text)
    for note in notes:  # e.g. --top-k larger than the vocabulary
        print(f"seqlab: note: {note.message}", file=sys.stderr)
    if sys.stderr.isatty():  # the continuation is on stdout; the hint only for a person watching
        print(f"next: seqlab eval {args.run_dir}   or   seqlab generate {args.run_dir} --prompt ... "
              f"--num-samples 3 --temperature 0.8", file=sys.stderr)
    return code


def _generate(args: argparse.Namespace, text: str) -> int:
    import torch

    from seqlab.train import load_run

    loaded = load_run(args.run_dir, which="last" if args.last else "best")
    model, tokenizer = loaded.model, loaded.tokenizer
    if model.emission_kind != "categorical" or tokenizer is None:
        raise ConfigError(f"{args.run_dir} holds a real-valued model; use seqlab forecast")
    ids = encode_prompt(tokenizer, text)
    prompt = torch.tensor(ids, dtype=torch.long)  # (T0,)
    sampling = {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p, "seed": args.seed}
    out = sys.stdout
    if loaded.data_kind == "pairs":  # an encoder-decoder: the prompt is the source
        if args.stream or args.num_samples > 1:
            raise ConfigError("--stream and --num-samples are for language models; a seq2seq run translates the prompt")
        out_ids = model.translate(prompt[None], max_len=args.max_new_tokens, num_beams=args.beams,
                                  **({} if args.beams > 1 else sampling))[0]
        out.write(tokenizer.decode(out_ids) + "\n")
        return 0
    options = {"do_sample": args.do_sample, "repetition_penalty": args.repetition_penalty,
               "no_repeat_ngram_size": args.no_repeat_ngram_size}
    if args.stream:
        out.write(text)
        out.flush()
        new: list[int] = []
        shown = ""
        for tok in model.stream(prompt, args.max_new_tokens, **sampling, **options):
            new.append(int(tok))
            decoded = tokenizer.decode(new)
            # byte-level tokenizers may end mid-character: print only the settled prefix
            settled = decoded.rstrip("\ufffd")
            out.write(settled[len(shown):])
            out.flush()
            shown = settled
        out.write(tokenizer.decode(new)[len(shown):] + "\n")
        return 0
    if args.beams > 1:
        sampling = {}
        options["length_penalty"] = args.length_penalty
    seqs = model.generate(prompt, args.max_new_tokens, num_beams=args.beams,
                          num_return_sequences=args.num_samples, **sampling, **options)  # (T0 + N,) or (M, T0 + N)
    rows = [seqs] if seqs.dim() == 1 else list(seqs)
    for i, row in enumerate(rows):
        if len(rows) > 1:
            out.write(f"--- sample {i + 1} of {len(rows)} ---\n")
        out.write(text + tokenizer.decode(row[len(ids):].tolist()) + "\n")
    return 0
