"""Decoding from any seqlab model: sampling, greedy, beam search, streaming and forecasting.

Everything here runs on the incremental interface (`start`/`prefill`, `step`, `reorder_state`), so
each new element costs one step of the model (recurrent state or KV cache), never a recompute.
The functions take the pieces they need (`Decoder`) rather than a model, so Seq2Seq reuses them
with the encoder output bound into its step.

Shapes: B batch, T0 prompt length, N new elements, K beams, V vocabulary, Q quantiles, S samples.

- temperature τ: sample from softmax(logits / τ); τ <= 0 means greedy (argmax / the mean).
- top-k keeps the k most likely tokens; top-p keeps the smallest most-likely set with mass >= p.
- Beam search keeps the K best partial sequences by Σ log P; a beam that emits `eos_token_id` is
  finished and keeps its score. The best beam is chosen by Σ log P / n^length_penalty (n its
  generated tokens up to eos; Hugging Face's rule), so length_penalty > 0 favours longer beams.
  Beams are deterministic: sampling options with num_beams > 1 are refused, not ignored.

Hugging Face's generation options, with its names and meaning (`GenerationOptions`):
- do_sample: False decodes greedily (or by beams), True samples; None (default) samples when
  temperature > 0.
- repetition_penalty ρ (CTRL, Keskar et al. 2019): the logit l of every token already in the
  sequence (prompt included) becomes l / ρ if l > 0, else l ρ; ρ > 1 discourages repeats.
- no_repeat_ngram_size n: a token that would complete an n-gram already in the sequence is banned.
- num_return_sequences m: m samples per prompt (rows b*m .. b*m+m-1 continue prompt b), or the m
  best beams (m <= num_beams).
- top_k larger than the vocabulary keeps every token (a UserWarning says so).
Shared defaults: temperature 1, no top-k / top-p, no penalties. Beam search on a language model
tends to loop ("the the the"); add no_repeat_ngram_size=3 or repetition_penalty=1.3, or sample.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from typing import Callable

import torch

from seqlab.errors import ConfigError, DataError

__all__ = ["Decoder", "GenerationOptions", "generate", "stream", "sample_tokens", "beam_search", "forecast",
           "Forecast"]


@dataclasses.dataclass
class Decoder:
    """What decoding needs: the emission, one step, and a state reorder (for beams)."""

    emission: object
    step: Callable  # (x_t (B,), state) -> (params (B, P), state)
    reorder: Callable  # (state, index (B',)) -> state


def _decoder(model) -> Decoder:
    return Decoder(model.emission, model.step, model.reorder_state)


def _as_batch(model, prompt):
    """prompt -> ((B, T0) tensor on the model's device, whether it came unbatched)."""
    p = torch.as_tensor(prompt)
    single = p.dim() == 1
    if single:
        p = p[None]
    if p.dim() != 2:
        raise DataError(f"prompt must be (T,) or (B, T), got shape {tuple(p.shape)}")
    if model.emission_kind == "categorical":
        if p.is_floating_point():
            raise DataError("prompt must hold integer token ids")
        if p.numel() and (int(p.min()) < 0 or int(p.max()) >= model.emission.vocab_size):
            raise DataError(f"prompt holds token ids outside the vocabulary [0, {model.emission.vocab_size})")
        p = p.long()
    else:
        p = p.to(getattr(model, "dtype", torch.float32))  # real values in the model's dtype
        if bool(torch.isnan(p).any()):
            raise DataError("prompt/history holds NaN values")
    return p.to(model.device), single


def _generator(seed, device):
    if seed is None:
        return None
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def _check_args(max_new_tokens, temperature, num_beams):
    if max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if num_beams < 1:
        raise ConfigError(f"num_beams must be >= 1, got {num_beams}")
    if temperature is None or temperature < 0:
        raise ConfigError(f"temperature must be >= 0, got {temperature}")


@dataclasses.dataclass
class GenerationOptions:
    """Hugging Face's generation options beyond temperature / top-k / top-p (see the module doc)."""

    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    length_penalty: float = 1.0
    num_return_sequences: int = 1

    def __post_init__(self):
        if not self.repetition_penalty > 0:
            raise ConfigError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if self.no_repeat_ngram_size < 0:
            raise ConfigError(f"no_repeat_ngram_size must be >= 0, got {self.no_repeat_ngram_size}")
        if self.num_return_sequences < 1:
            raise ConfigError(f"num_return_sequences must be >= 1, got {self.num_return_sequences}")

    @property
    def edits_logits(self) -> bool:
        return self.repetition_penalty != 1.0 or self.no_repeat_ngram_size > 0

    def process(self, params: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        """Logits (N, V) of rows whose sequences so far are seqs (N, t) -> penalised logits."""
        if not self.edits_logits or seqs.shape[1] == 0:
            return params
        params = params.float().clone()
        if self.repetition_penalty != 1.0:
            seen = params.gather(1, seqs)  # (N, t) logits of the tokens already there
            # l -> l / ρ if l > 0 else l ρ
            params.scatter_(1, seqs, torch.where(seen > 0, seen / self.repetition_penalty,
                                                 seen * self.repetition_penalty))
        n = self.no_repeat_ngram_size
        if n > 0 and seqs.shape[1] >= n - 1:
            rows = seqs.tolist()
            for i, row in enumerate(rows):
                prefix = tuple(row[len(row) - n + 1:]) if n > 1 else ()
                banned = {row[j + n - 1] for j in range(len(row) - n + 1) if tuple(row[j:j + n - 1]) == prefix}
                if banned:
                    params[i, list(banned)] = float("-inf")
        return params


def _options(model, temperature, top_k, top_p, num_beams, do_sample, options: GenerationOptions):
    """Check the combination; returns (temperature, top_k) as sampling will use them."""
    if do_sample is False:
        temperature = 0.0  # greedy (or beams)
    elif do_sample and temperature <= 0:
        raise ConfigError("do_sample=True needs temperature > 0")
    if num_beams > 1:
        sampling = [name for name, on in (("do_sample", bool(do_sample)), ("top_k", top_k is not None),
                                          ("top_p", top_p is not None),
                                          ("temperature", temperature not in (0.0, 1.0))) if on]
        if sampling:
            raise ConfigError(f"beam search (num_beams={num_beams}) is deterministic and does not use "
                              f"{', '.join(sampling)}: drop them, or sample with num_beams=1")
        if options.num_return_sequences > num_beams:
            raise ConfigError(f"num_return_sequences={options.num_return_sequences} needs at least as many "
                              f"beams, got num_beams={num_beams}")
    elif options.length_penalty != 1.0:
        raise ConfigError("length_penalty applies to beam search only (num_beams > 1)")
    if options.edits_logits and model.emission_kind != "categorical":
        raise ConfigError("repetition_penalty and no_repeat_ngram_size need a token model")
    if top_k is not None:
        if top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {top_k}")
        vocab = getattr(model.emission, "vocab_size", None)
        if vocab is not None and top_k > vocab:
            warnings.warn(f"top_k={top_k} is larger than the vocabulary ({vocab} tokens): every token is kept",
                          stacklevel=3)
            top_k = vocab
    return temperature, top_k


def sample_tokens(dec: Decoder, params, state, max_new_tokens, temperature=1.0, top_k=None,
                  top_p=None, generator=None, eos_token_id=None, options: GenerationOptions | None = None,
                  prompt: torch.Tensor | None = None):
    """Yield N elements (B,) by ancestral sampling from `params` (B, P) onward.

    The model steps only between yields, never after the last element. Rows that emitted
    `eos_token_id` keep emitting it. `options` penalise the logits given the sequence so far
    (`prompt` (B, T0) and what was generated).
    """
    done = None
    seqs = prompt if options is not None and options.edits_logits else None
    for i in range(max_new_tokens):
        if i > 0:
            params, state = dec.step(tok, state)
        if seqs is not None:
            params = options.process(params, seqs)
        tok = dec.emission.sample(params, generator, temperature, top_k, top_p)  # (B,)
        if seqs is not None:
            seqs = torch.cat([seqs, tok[:, None]], 1)
        if eos_token_id is not None:
            if done is not None:
                tok = torch.where(done, torch.full_like(tok, eos_token_id), tok)
            done = tok == eos_token_id if done is None else done | (tok == eos_token_id)
        yield tok
        if done is not None and bool(done.all()):
            return


@torch.no_grad()
def beam_search(dec: Decoder, params, state, max_new_tokens: int, num_beams: int,
                eos_token_id: int | None = None, options: GenerationOptions | None = None,
                prompt: torch.Tensor | None = None):
    """Beam search from `params` (B, V): -> (tokens (B, N), scores (B,) Σ log P of the best beam),
    or with options.num_return_sequences = m > 1 the m best: (B, m, N) and (B, m).

    With K >= V^(N-1) beams no partial sequence is ever dropped, so the result is the exact
    highest-scoring continuation (tested by exhaustive search). `options` penalise the logits
    given each beam's sequence so far (`prompt` (B, T0) then its tokens) and weigh the final
    choice by length_penalty.
    """
    options = options or GenerationOptions()
    m = options.num_return_sequences
    em = dec.emission
    if em.kind != "categorical":
        raise ConfigError("beam search needs a token model (categorical emission)")
    B, V = params.shape
    K = num_beams
    dev = params.device
    scores = torch.zeros(B, 1, device=dev)  # (B, k) with k = 1 live beam at the start
    seqs = torch.zeros(B, 1, 0, dtype=torch.long, device=dev)  # (B, k, n)
    finished = torch.zeros(B, 1, dtype=torch.bool, device=dev)
    prompt = torch.zeros(B, 0, dtype=torch.long, device=dev) if prompt is None else prompt

    def log_probs(params, k):  # (B*k, V) logits -> (B, k, V) log P, penalised given each beam
        if options.edits_logits:
            history = torch.cat([prompt.repeat_interleave(k, 0), seqs.reshape(B * k, -1)], 1)
            params = options.process(params, history)
        return torch.log_softmax(params.float(), -1).view(B, k, V)

    logp = log_probs(params, 1)  # (B, 1, V)
    for i in range(max_new_tokens):
        k = scores.shape[1]
        if eos_token_id is not None:
            # a finished beam continues only with eos, at no cost
            stay = torch.full((V,), float("-inf"), device=dev)
            stay[eos_token_id] = 0.0
            logp = torch.where(finished[..., None], stay, logp)
        cand = (scores[..., None] + logp).view(B, k * V)  # (B, k*V)
        top = cand.topk(min(K, k * V), dim=-1)
        beam, tok = top.indices // V, top.indices % V  # (B, K')
        scores = top.values
        seqs = torch.cat([seqs.gather(1, beam[..., None].expand(-1, -1, seqs.shape[2])), tok[..., None]], 2)
        finished = finished.gather(1, beam)
        if eos_token_id is not None:
            finished = finished | (tok == eos_token_id)
        if i == max_new_tokens - 1 or bool(finished.all()):
            break
        flat = (torch.arange(B, device=dev)[:, None] * k + beam).reshape(-1)  # rows of the (B*k) state
        state = dec.reorder(state, flat)
        params, state = dec.step(tok.reshape(-1), state)  # (B*K', V)
        logp = log_probs(params, tok.shape[1])
    if seqs.shape[2] < max_new_tokens and eos_token_id is not None:
        pad = torch.full((B, seqs.shape[1], max_new_tokens - seqs.shape[2]), eos_token_id,
                         dtype=torch.long, device=dev)
        seqs = torch.cat([seqs, pad], 2)
    ranked = scores
    if options.length_penalty != 1.0:  # Σ log P / n^length_penalty, n generated tokens up to eos
        n = torch.full_like(scores, float(seqs.shape[2]))
        if eos_token_id is not None:
            is_eos = seqs == eos_token_id  # (B, k, N)
            first = torch.where(is_eos.any(2), is_eos.float().argmax(2) + 1.0, n)
            n = first
        ranked = scores / n.clamp(min=1.0) ** options.length_penalty
    order = ranked.argsort(1, descending=True)[:, :m]  # (B, m)
    rows = torch.arange(B, device=dev)[:, None]
    if m == 1:
        return seqs[rows[:, 0], order[:, 0]], scores[rows[:, 0], order[:, 0]]
    return seqs[rows, order], scores[rows, order]


@contextlib.contextmanager
def _inference(model):
    """Eval mode and no autograd for the block; the model's train/eval mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def stream(model, prompt, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None,
           eos_token_id=None, do_sample=None, repetition_penalty=1.0, no_repeat_ngram_size=0):
    """Generator over new elements: python scalars for a 1-D prompt, (B,) tensors otherwise."""
    _check_args(max_new_tokens, temperature, 1)
    opts = GenerationOptions(repetition_penalty, no_repeat_ngram_size)
    temperature, top_k = _options(model, temperature, top_k, top_p, 1, do_sample, opts)
    p, single = _as_batch(model, prompt)
    with _inference(model):
        params, state = model.prefill(p)
        gen = sample_tokens(_decoder(model), params, state, max_new_tokens, temperature, top_k,
                            top_p, _generator(seed, p.device), eos_token_id, opts, p)
        for tok in gen:
            yield tok.item() if single else tok


def generate(model, prompt, max_new_tokens, temperature=1.0, top_k=None, top_p=None, num_beams=1,
             seed=None, eos_token_id=None, do_sample=None, repetition_penalty=1.0,
             no_repeat_ngram_size=0, length_penalty=1.0, num_return_sequences=1):
    """prompt (B, T0) or (T0,) -> (B, T0 + N) or (T0 + N,): the prompt and its continuation.

    With num_return_sequences = m > 1: (B m, T0 + N), rows b m .. b m + m - 1 continuing prompt b
    ((m, T0 + N) for a 1-D prompt). The other options: see the module doc.
    """
    _check_args(max_new_tokens, temperature, num_beams)
    opts = GenerationOptions(repetition_penalty, no_repeat_ngram_size, length_penalty, num_return_sequences)
    temperature, top_k = _options(model, temperature, top_k, top_p, num_beams, do_sample, opts)
    p, single = _as_batch(model, prompt)
    m = num_return_sequences
    single = single and m == 1
    with _inference(model):
        if num_beams > 1 and max_new_tokens > 0:
            params, state = model.prefill(p)
            new, _ = beam_search(_decoder(model), params, state, max_new_tokens, num_beams,
                                 eos_token_id, opts, p)
            if m > 1:
                new = new.reshape(-1, max_new_tokens)  # (B m, N)
            p = p.repeat_interleave(m, 0)
        else:
            p = p.repeat_interleave(m, 0)  # m samples per prompt
            params, state = model.prefill(p)
            toks = list(sample_tokens(_decoder(model), params, state, max_new_tokens, temperature,
                                      top_k, top_p, _generator(seed, p.device), eos_token_id, opts, p))
            new = torch.stack(toks, 1) if toks else p[:, :0]
            if eos_token_id is not None and new.shape[1] < max_new_tokens:
                pad = torch.full((p.shape[0], max_new_tokens - new.shape[1]), eos_token_id,
                                 dtype=new.dtype, device=new.device)
                new = torch.cat([new, pad], 1)
    out = torch.cat([p, new.to(p.dtype)], 1)
    return out[0] if single else out


@dataclasses.dataclass
class Forecast:
    """mean (B, H); quantiles (B, H, Q) at `levels` (Q,); samples (S, B, H) of the recursive paths."""

    mean: torch.Tensor
    quantiles: torch.Tensor
    levels: tuple
    samples: torch.Tensor

    def interval(self, lo: float, hi: float):
        """(lower, upper) each (B, H) for two of the computed quantile levels."""
        try:
            i, j = self.levels.index(lo), self.levels.index(hi)
        except ValueError:
            raise ConfigError(f"quantiles {lo}, {hi} not computed; have {self.levels}") from None
        return self.quantiles[..., i], self.quantiles[..., j]


def forecast(model, history, horizon, num_samples=200, quantiles=(0.05, 0.5, 0.95), seed=None):
    """Forecast the next `horizon` values after `history` (T0,) or (B, T0) of a real-valued model.

    Step 1 (one-step ahead) is exact: mean μ and Gaussian quantiles μ + σ Φ⁻¹(q). Steps 2.. are
    recursive: S sample paths feed their own draws back (x_{t+1} ~ N(μ_t, σ_t²)), and the mean and
    quantiles are taken over paths. Outputs drop the batch axis for a 1-D history.
    """
    if model.emission_kind != "gaussian":
        raise ConfigError("forecast needs a real-valued model (Gaussian emission)")
    if horizon < 1 or num_samples < 1:
        raise ConfigError("forecast: horizon and num_samples must be >= 1")
    levels = tuple(float(q) for q in quantiles)
    if any(not 0.0 < q < 1.0 for q in levels):
        raise ConfigError(f"quantiles must lie in (0, 1), got {levels}")
    h, single = _as_batch(model, history)
    B, S = h.shape[0], num_samples
    with _inference(model):
        params, state = model.prefill(h)  # (B, 2)
        # one-step: exact moments of the Gaussian
        mu, log_std = params[:, 0], params[:, 1]  # (B,)
        q = torch.tensor(levels, device=h.device)
        normal_q = torch.distributions.Normal(0.0, 1.0).icdf(q)  # (Q,)
        q1 = mu[:, None] + log_std.exp()[:, None] * normal_q  # (B, Q)
        # recursive paths: replicate each row S times (sample-major: row s*B + b)
        idx = torch.arange(B, device=h.device).repeat(S)
        state = model.reorder_state(state, idx)
        params = params[idx]
        g = _generator(seed, h.device)
        draws = []
        for t in range(horizon):
            if t > 0:
                params, state = model.step(x, state)
            x = model.emission.sample(params, g)  # (S*B,)
            draws.append(x)
        samples = torch.stack(draws, 1).view(S, B, horizon)  # (S, B, H)
    mean = samples.mean(0)  # (B, H)
    quant = torch.quantile(samples, q, dim=0).permute(1, 2, 0)  # (B, H, Q)
    mean[:, 0] = mu
    quant[:, 0] = q1
    if single:
        return Forecast(mean[0], quant[0], levels, samples[:, 0])
    return Forecast(mean, quant, levels, samples)
