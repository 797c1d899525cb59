import pytest

from seqlab.errors import ConfigError
from seqlab.train import RunConfig, TrainConfig


@pytest.mark.parametrize("field,value", [
    ("steps", 0), ("batch_size", -1), ("block_size", 2.5), ("grad_accum", True), ("lr", 0.0),
    ("min_lr", 1.0), ("weight_decay", -0.1), ("beta2", 1.0), ("grad_clip", -1.0),
    ("time_budget", 0.0), ("patience", -1), ("eval_interval", 0),
])
def test_bad_values_raise_config_error_naming_the_option(field, value):
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**{field: value})


def test_micro_batch_divides_the_global_batch():
    cfg = TrainConfig(batch_size=12, grad_accum=3)
    assert cfg.micro_batch(1) == 4
    assert cfg.micro_batch(2) == 2
    with pytest.raises(ConfigError, match="not divisible"):
        cfg.micro_batch(5)


def test_default_clipping_is_on_for_recurrent_models_only():
    cfg = TrainConfig()
    assert [cfg.clip_for(n) for n in ("rnn", "lstm", "gru", "transformer", "markov")] == [1, 1, 1, 0, 0]
    assert TrainConfig(grad_clip=0.0).clip_for("lstm") == 0.0
    assert TrainConfig(grad_clip=0.5).clip_for("transformer") == 0.5


def test_run_config_round_trips_through_a_dict():
    rc = RunConfig(model="gru", data="sine", model_config={"hidden_size": 8}, tokenizer="word",
                   split=(0.8, 0.2), train=TrainConfig(steps=7, lr=1e-3, time_budget=3.0))
    again = RunConfig.from_dict(rc.to_dict())
    assert again == rc
    assert again.train.final_lr == pytest.approx(1e-4)


def test_unknown_train_option_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown train option.*stepz"):
        TrainConfig.from_dict({"stepz": 3})
