"""Encoder-decoders P(y | x) = Π_t P(y_t | y_<t, x): one file per architecture on a shared base.

    base.py          Seq2Seq (interface, scoring, decoding, fit, cross_attention), Seq2SeqConfig
    rnn.py           seq2seq-rnn: bidirectional RNN encoder, Bahdanau attention (ICLR 2015)
    rnn_noattn.py    seq2seq-rnn-noattn: one context vector, no attention (Cho et al. / Sutskever et al. 2014)
    transformer.py   seq2seq-transformer: Vaswani et al. 2017, pre-norm

`Seq2Seq(arch="rnn" | "rnn-noattn" | "transformer", ...)` builds the architecture it names.
"""

from seqlab.models.seq2seq.base import ARCHS, Seq2Seq, Seq2SeqConfig, architecture
from seqlab.models.seq2seq.rnn import AttentionState, Seq2SeqRNN
from seqlab.models.seq2seq.rnn_noattn import ContextState, Seq2SeqRNNNoAttn
from seqlab.models.seq2seq.transformer import Seq2SeqTransformer, TransformerDecoderState

__all__ = ["Seq2Seq", "Seq2SeqConfig", "ARCHS", "architecture", "Seq2SeqRNN", "Seq2SeqRNNNoAttn",
           "Seq2SeqTransformer", "AttentionState", "ContextState", "TransformerDecoderState"]
