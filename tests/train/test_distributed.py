"""Two DDP processes (gloo, 127.0.0.1) train to the same weights as one process, same global batch."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqlab.train import RunConfig, TrainConfig, load_run, train_run
from seqlab.train.distributed import DistInfo, all_reduce_sum, init_from_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def run_config(corpus: str) -> RunConfig:
    # gru: recurrent, so gradient clipping (on by default) is exercised across ranks too
    return RunConfig(model="gru", data=f"file:{corpus}", model_config={"embed_dim": 8, "hidden_size": 16},
                     train=TrainConfig(steps=8, batch_size=8, block_size=16, eval_interval=4,
                                       log_interval=2, warmup_steps=2, lr=1e-2))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_single_process_info_without_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = init_from_env()
    assert info == DistInfo() and info.is_main and not info.enabled
    assert all_reduce_sum([1.5, 2.0], info) == [1.5, 2.0]


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"{i % 7} little {w} went to market. " for i, w in
                              enumerate(["pig", "cow", "hen", "ewe"] * 30)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
           str(HERE / "ddp_worker.py"), str(corpus), str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "rank 1/2 backend gloo" in proc.stdout and "rank 0/2 backend gloo" in proc.stdout

    single = train_run(run_config(str(corpus)), tmp_path / "one", progress=False)
    a, b = load_run(tmp_path / "one").model, load_run(tmp_path / "ddp").model
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(v, w, atol=1e-5, rtol=1e-4, msg=k)
    rows = {name: [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
            for name in ("one", "ddp")}
    assert [r["step"] for r in rows["one"]] == [r["step"] for r in rows["ddp"]]
    for r1, r2 in zip(rows["one"], rows["ddp"]):
        for key in ("train_loss", "val_loss"):
            assert (r1[key] is None) == (r2[key] is None)
            if r1[key] is not None:
                assert r2[key] == pytest.approx(r1[key], abs=1e-5)
    assert json.loads((tmp_path / "ddp" / "result.json").read_text())["best_val_loss"] == \
        pytest.approx(single.best_val_loss, abs=1e-5)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
