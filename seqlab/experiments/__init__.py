"""seqlab.experiments: the experiments behind the commands, between `seqlab.cli` and `seqlab.train`.

Each experiment is one file holding a typed setup, a typed result and one function from the one to
the other:

    compare.py          CompareSetup  -> CompareResult        every family on one text corpus, ranked on test
    compare_series.py   CompareSetup  -> SeriesCompareResult  a rolling-origin backtest on a series
    compare_pairs.py    CompareSetup  -> PairsCompareResult   encoder-decoders on held-out pairs
    forecast.py         ForecastSetup -> ForecastResult       a real-valued model on a series' held-out tail
    seq2seq.py          Seq2SeqSetup  -> Seq2SeqResult        an encoder-decoder on held-out pairs
    probe.py            ProbeSetup    -> ProbeResult          memory and recall probes across lengths
    tour/               TourSetup     -> TourResult           the lecture's claims, each measured

(`run_compare` dispatches on the data's kind to the first three.)

Shared rules, each decided in one place:
- data: seqlab.data.prepare.prepare_data (split; tokenizer and scaler fitted on the training part);
- training: seqlab.train.Trainer (the one loop), for a step count fixed before training starts
  (`forecast.train_forecaster` and `seq2seq.train_encoder_decoder` hold the recipes the compares share);
- scoring: seqlab.train.scoring.evaluate (chain-rule NLL over fixed windows);
- sizes: seqlab.experiments.recipes (how each family is built and trained in the comparisons);
- budgets: seqlab.experiments.flops (training FLOPs per token of each family);
- uncertainty: seqlab.experiments.stats (mean ± std over seeds, shared ranks);
- forecast accuracy: seqlab.experiments.forecast_metrics (MASE, RMSE, sMAPE, coverage, CRPS);
- parallel runs: seqlab.experiments.workers (one worker-pool rule; results independent of it).

An experiment function does not print and writes nothing but the run folders it is asked to
write (under `setup.run_root`); it reports progress through an optional `log(str)` callback. The
CLI parses, calls, prints and writes the reports.
"""
