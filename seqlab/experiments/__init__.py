"""seqlab.experiments: the experiments behind the commands, between `seqlab.cli` and `seqlab.train`.

Each experiment is one file holding a typed setup, a typed result and one function from the one to
the other:

    compare.py    CompareSetup  -> CompareResult    every family on one text corpus, ranked on test
    forecast.py   ForecastSetup -> ForecastResult   a real-valued model on a series' held-out tail
    seq2seq.py    Seq2SeqSetup  -> Seq2SeqResult    an encoder-decoder on held-out pairs
    probe.py      ProbeSetup    -> ProbeResult      long-memory probes across sequence lengths

Shared rules, each decided in one place:
- data: seqlab.data.prepare.prepare_data (split; tokenizer and scaler fitted on the training part);
- training: seqlab.train.Trainer (the one loop), for a step count fixed before training starts;
- scoring: seqlab.train.scoring.evaluate (chain-rule NLL over fixed windows);
- budgets: seqlab.experiments.flops (training FLOPs per token of each family);
- uncertainty: seqlab.experiments.stats (mean ± std over seeds, shared ranks).

An experiment function does not print and writes nothing but the run folders it is asked to
write (under `setup.run_root`); it reports progress through an optional `log(str)` callback. The
CLI parses, calls, prints and writes the reports.
"""
