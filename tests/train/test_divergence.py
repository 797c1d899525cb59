"""Training that goes wrong. Divergence: a non-finite or exploding loss, or non-finite weights,
stops training with one DivergenceError line naming the step (exit 2 from the CLI), and the run
folder keeps its last finite checkpoint (never NaN or inf weights). A block larger than the
training data is refused (it used to be clamped while config.json recorded the unused value)."""

import math
import re

import pytest
import torch
from safetensors.torch import load_file

from seqlab.cli.main import main
from seqlab.errors import DataError, DivergenceError
from seqlab.train import LMTask, TrainConfig, Trainer
from tiny import BigramLM, stream

DATA = stream(1500)
TASK = LMTask(DATA[:1300], DATA[1300:], block_size=12)


def _cfg(**kw):
    base = dict(steps=20, batch_size=8, block_size=12, eval_interval=4, log_interval=3, warmup_steps=0,
                lr=1e-2, grad_clip=0.0)
    base.update(kw)
    return TrainConfig(**base)


def _all_finite(path) -> bool:
    tensors = load_file(str(path))
    return bool(tensors) and all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("seqlab: error: "), err
    return err[0]


class _BreaksAt(BigramLM):
    """A BigramLM whose training loss (mode "loss") or gradient (mode "grad") turns non-finite at
    its `at`-th training forward call, i.e. at optimiser step `at`."""

    def __init__(self, at: int, mode: str):
        super().__init__()
        self.at, self.mode, self.calls = at, mode, 0
        if mode == "grad":  # a finite loss whose gradient is inf: AdamW then makes the weights NaN
            self.bias.register_hook(self._inf_at_step)

    def _inf_at_step(self, grad):
        return torch.full_like(grad, math.inf) if self.calls == self.at else grad

    def forward(self, x, targets=None):
        out, loss = super().forward(x, targets)
        if self.training and targets is not None:
            self.calls += 1
            if self.calls == self.at and self.mode == "loss":
                loss = loss * math.nan
        return out, loss


@pytest.mark.parametrize("at", [7, 9])
def test_nan_training_loss_names_its_step_and_keeps_the_last_finite_checkpoint(tmp_path, at):
    run = tmp_path / "run"
    trainer = Trainer(_BreaksAt(at, "loss"), TASK, _cfg(), run_dir=run, model_name="bigram")
    with pytest.raises(DivergenceError) as e:
        trainer.fit()
    msg = str(e.value)
    assert "\n" not in msg
    assert f"diverged at step {at}: the training loss is nan" in msg
    assert f"keeps the checkpoint of step {4 * (at // 4)}" in msg  # eval_interval 4: the last one before
    assert _all_finite(run / "model.safetensors") and _all_finite(run / "best" / "model.safetensors")
    # the checkpoint on disk is the one of step 4 or 8, not a later one
    from seqlab.train.checkpoint import load_trainer_state

    assert load_trainer_state(run / "trainer_state.safetensors")["state"]["step"] == 4 * (at // 4)


def test_infinite_gradient_never_reaches_the_disk(tmp_path):
    # the loss of step 8 is finite but its update makes the weights NaN; step 8's checkpoint is refused
    run = tmp_path / "run"
    trainer = Trainer(_BreaksAt(8, "grad"), TASK, _cfg(), run_dir=run, model_name="bigram")
    with pytest.raises(DivergenceError, match=r"step 8: the weights are no longer finite; .* step 4 "):
        trainer.fit()
    assert _all_finite(run / "model.safetensors")


def test_divergence_before_the_first_checkpoint_leaves_no_run_folder(tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(_BreaksAt(2, "loss"), TASK, _cfg(), run_dir=run, model_name="bigram", stage=True)
    with pytest.raises(DivergenceError, match="step 2: .*no run folder was written"):
        trainer.fit()
    assert list(tmp_path.iterdir()) == []  # the staged folder is gone too


def test_a_healthy_run_is_not_flagged():
    result = Trainer(BigramLM(), TASK, _cfg(steps=12)).fit()
    assert result.steps == 12 and math.isfinite(result.best_val_loss)


# ------------------------------------------------------------------------------------- the CLI
def _train(tmp_path, *extra):
    return main(["train", "--model", "gru", "--data", "sine", "--out", str(tmp_path / "run"),
                 "--block-size", "16", "--batch-size", "4", "--hidden-size", "8", "--grad-clip", "0",
                 "--no-progress", *extra])


def test_cli_absurd_lr_after_a_checkpoint_exits_2_and_keeps_finite_weights(tmp_path, capsys):
    # lr warms up linearly towards 1e3: steps 1-2 train, the loss explodes a few steps later
    code = _train(tmp_path, "--steps", "40", "--lr", "1e3", "--warmup-steps", "40",
                  "--eval-interval", "2", "--log-interval", "1")
    line = _one_error_line(capsys)
    assert code == 2
    m = re.search(r"training diverged at step (\d+): the training loss (is nan|is inf|exploded to \S+) "
                  r"\(it started at [0-9.]+\); \S+ keeps the checkpoint of step (\d+)", line)
    assert m, line
    step, kept = int(m.group(1)), int(m.group(3))
    assert kept < step and kept % 2 == 0
    run = tmp_path / "run"
    for f in ("model.safetensors", "best/model.safetensors", "trainer_state.safetensors"):
        assert _all_finite(run / f), f
    assert not (run / "result.json").exists()


def test_cli_absurd_lr_before_any_checkpoint_writes_nothing(tmp_path, capsys):
    code = _train(tmp_path, "--steps", "30", "--lr", "1e6", "--warmup-steps", "0", "--eval-interval", "10")
    line = _one_error_line(capsys)
    assert code == 2
    assert re.search(r"training diverged at step [1-9]: the training loss .*no run folder was written", line)
    assert not (tmp_path / "run").exists()


def test_cli_csv_with_huge_values_exits_2_instead_of_reporting_nan(tmp_path, capsys):
    # 1e200-sized values overflow the scaler's variance; the run used to end with "best val loss nan"
    values = torch.linspace(-1, 1, 300, dtype=torch.float64).sin() * 1e200
    csv = tmp_path / "huge.csv"
    csv.write_text("x\n" + "\n".join(repr(float(v)) for v in values) + "\n")
    code = main(["train", "--model", "gru", "--data", f"csv:{csv}", "--out", str(tmp_path / "run"),
                 "--steps", "8", "--block-size", "8", "--batch-size", "4", "--hidden-size", "8",
                 "--eval-interval", "4", "--no-progress"])
    line = _one_error_line(capsys)
    assert code == 2 and "nan nats" not in line
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------- a block larger than the data
def test_block_larger_than_the_training_part_is_refused_not_clamped():
    with pytest.raises(DataError) as e:
        LMTask(DATA[:50], DATA[50:60], block_size=64)
    assert str(e.value).startswith("block size 64 needs at least 65 training elements, but the training "
                                   "part has 50; use a block size of at most 49")
    assert LMTask(DATA[:50], None, block_size=49).block_size == 49  # the largest block that fits


def test_cli_block_size_larger_than_the_corpus_exits_2_before_writing(tmp_path, capsys):
    corpus = tmp_path / "small.txt"
    corpus.write_text("abcdefghij" * 20)  # 200 characters: 180 in the training part
    code = main(["train", "--model", "lstm", "--data", f"file:{corpus}", "--out", str(tmp_path / "run"),
                 "--block-size", "500", "--steps", "2", "--no-progress"])
    line = _one_error_line(capsys)
    assert code == 2 and "block size 500 needs at least 501 training elements" in line and "has 180" in line
    assert not (tmp_path / "run").exists()
