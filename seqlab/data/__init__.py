"""seqlab.data: every data source behind one spec syntax, plus tokenizers, splits and batching.

    load_text("pydoc")            str        file:PATH, pydoc, stdlib, url:URL, tinyshakespeare
    load_series("sunspots")       (T,) f64   csv:PATH, sine, ar:0.5,-0.3, sunspots, co2, nile, ...
    load_pairs("addition")        [(s, t)]   copy, reverse, sort, addition, tsv:PATH
    load_probe("copy-memory:100")            copy-memory[:T], adding-problem[:T], selective-copying[:T],
                                             induction-heads[:T], mqar[:T]
    data_kind(spec)               "text" | "series" | "pairs" | "probe"

See docs/data.md for the spec table, options and conventions.
"""

from seqlab.data.spec import DATA_KINDS, Source, Spec, data_kind, load, parse_spec, sources, spec_table
from seqlab.data.text import load_text, read_text_file
from seqlab.data.download import PRESETS, default_cache_dir, fetch
from seqlab.data.timeseries import FILLS, STATSMODELS_SETS, ar_process, fill_nonfinite, load_series, load_series_with_index, sine
from seqlab.data.seq2seq import addition, chrf, exact_match, load_pairs, read_tsv, string_task, token_accuracy
from seqlab.data.probes import (AddingProblem, CopyMemory, RecallProbe, adding_problem, copy_baseline, copy_memory,
                                 induction_heads, load_probe, mqar, selective_copying)
from seqlab.data.splits import DEFAULT_FRACTIONS, NANOGPT_FRACTIONS, Split, fingerprint, split
from seqlab.data.scaling import MinMaxScaler, StandardScaler, scaler_from_dict, sliding_windows
from seqlab.data.tokenizers import CharTokenizer, Tokenizer, WordTokenizer, build_tokenizer, tokenizer_from_dict
from seqlab.data.bpe import BPETokenizer
from seqlab.data.batching import (
    BucketBatchSampler,
    LMBlocks,
    PadCollate,
    lengths_to_mask,
    make_loader,
    pad_sequences,
    random_blocks,
    shard,
)

__all__ = [
    "DATA_KINDS", "Source", "Spec", "data_kind", "load", "parse_spec", "sources", "spec_table",
    "load_text", "read_text_file", "PRESETS", "default_cache_dir", "fetch",
    "FILLS", "STATSMODELS_SETS", "ar_process", "fill_nonfinite", "load_series", "load_series_with_index", "sine",
    "addition", "chrf", "exact_match", "load_pairs", "read_tsv", "string_task", "token_accuracy",
    "AddingProblem", "CopyMemory", "RecallProbe", "adding_problem", "copy_baseline", "copy_memory", "load_probe",
    "selective_copying", "induction_heads", "mqar",
    "DEFAULT_FRACTIONS", "NANOGPT_FRACTIONS", "Split", "fingerprint", "split",
    "MinMaxScaler", "StandardScaler", "scaler_from_dict", "sliding_windows",
    "CharTokenizer", "Tokenizer", "WordTokenizer", "BPETokenizer", "build_tokenizer", "tokenizer_from_dict",
    "BucketBatchSampler", "LMBlocks", "PadCollate", "lengths_to_mask", "make_loader", "pad_sequences",
    "random_blocks", "shard",
]
