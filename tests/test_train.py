"""minivid.train: the schedule, the EMA, accumulation and DDP that do not change the result, and
checkpoints that resume bit for bit."""
from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

from minivid.data import SyntheticClips
from minivid.train import (TrainConfig, Trainer, build_trainer, latest_checkpoint, load_weights,
                           main, read_checkpoint, read_log)
from minivid.training.data_order import DataOrder
from minivid.training.loop import has_cxx_compiler
from minivid.training.optim import make_scheduler, warmup_cosine
from minivid.training.tasks import TinyClipAutoencoder

TINY_DATA = dict(length=12, frames=5, size=16)  # 3 global batches of 4 per epoch


def tiny_config(**overrides) -> TrainConfig:
    settings = dict(steps=6, batch_size=4, lr=3e-3, warmup=2, log_every=1, progress=False, device="cpu")
    return TrainConfig(**(settings | overrides))


def tiny_trainer(**overrides) -> Trainer:
    return build_trainer("tiny-autoencoder", tiny_config(**overrides), **TINY_DATA)


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- learning-rate schedule -----------------------------------------------------------------

def test_lr_warms_up_linearly_then_decays_by_cosine_to_the_floor():
    expected = {0: 0.25, 1: 0.5, 3: 1.0, 4: 1.0, 8: 0.1 + 0.9 * 0.5, 12: 0.1, 30: 0.1}
    for step, multiplier in expected.items():
        assert warmup_cosine(step, warmup=4, total=12, min_ratio=0.1) == pytest.approx(multiplier)
    # strictly increasing during warm-up, non-increasing after
    values = [warmup_cosine(s, 4, 12, 0.1) for s in range(14)]
    assert all(a < b for a, b in zip(values[:4], values[1:4]))
    assert all(a >= b for a, b in zip(values[4:], values[5:]))


def test_scheduler_and_logged_lr_follow_the_schedule():
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    scheduler = make_scheduler(optimizer, warmup=3, total=10, min_ratio=0.0)
    for step in range(12):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(2.0 * warmup_cosine(step, 3, 10, 0.0))
        optimizer.step()
        scheduler.step()
    trainer = tiny_trainer(steps=5, lr=1e-2, warmup=2, min_lr_ratio=0.2)
    log = trainer.train()
    assert [r["lr"] for r in log] == pytest.approx([1e-2 * warmup_cosine(s, 2, 5, 0.2) for s in range(5)])


# ---- which data each step reads -------------------------------------------------------------

@pytest.mark.parametrize("world_size,grad_accum", [(1, 2), (2, 1), (2, 2), (4, 1)])
def test_a_step_reads_the_same_examples_however_the_batch_is_split(world_size, grad_accum):
    dataset = SyntheticClips(**TINY_DATA | {"length": 13})  # 13: an incomplete batch is dropped
    whole = DataOrder(dataset, batch_size=4, grad_accum=1, seed=5).micro_batches()
    split = [DataOrder(dataset, 4, grad_accum, seed=5, rank=r, world_size=world_size).micro_batches()
             for r in range(world_size)]
    for _ in range(7):  # more than two epochs
        reference = next(whole)
        pieces = [next(stream) for _ in range(grad_accum) for stream in split]
        assert sorted(sum(pieces, [])) == sorted(reference) and len(set(reference)) == 4


def test_data_order_resumes_from_a_step():
    order = DataOrder(SyntheticClips(**TINY_DATA), batch_size=4, grad_accum=2, seed=1)
    stream = order.micro_batches()
    everything = [next(stream) for _ in range(20)]
    restarted = order.micro_batches(start_step=4)
    assert [next(restarted) for _ in range(12)] == everything[8:]
    assert everything[:6] != everything[6:12]  # each epoch has its own order


def test_batch_that_cannot_be_split_is_a_clear_error():
    dataset = SyntheticClips(**TINY_DATA)
    with pytest.raises(ValueError, match="divisible by grad_accum"):
        DataOrder(dataset, batch_size=6, grad_accum=4, seed=0)
    with pytest.raises(ValueError, match="fewer than one batch"):
        DataOrder(dataset, batch_size=16, grad_accum=1, seed=0)


# ---- accumulation and EMA -------------------------------------------------------------------

def test_grad_accumulation_of_k_micro_batches_equals_one_batch():
    one, accumulated = tiny_trainer(batch_size=8), tiny_trainer(batch_size=8, grad_accum=4)
    one.train(until=1)
    accumulated.train(until=1)
    for p, q in zip(one.model.parameters(), accumulated.model.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-7)  # Adam would hide a scale
    one.train(until=4)
    accumulated.train(until=4)
    torch.testing.assert_close(accumulated.model.state_dict(), one.model.state_dict(),
                               rtol=1e-5, atol=1e-6)
    assert [r["loss"] for r in accumulated.history] == pytest.approx([r["loss"] for r in one.history],
                                                                      rel=1e-5)


def test_ema_is_first_a_copy_then_a_decayed_average():
    decay = 0.8
    trainer = tiny_trainer(ema_decay=decay)
    weights = []
    for step in range(1, 4):
        trainer.train(until=step)
        weights.append({k: v.clone() for k, v in trainer.model.state_dict().items()})
    expected = weights[0]
    for later in weights[1:]:
        expected = {k: decay * expected[k] + (1 - decay) * later[k] for k in expected}
    torch.testing.assert_close(trainer.ema.module.state_dict(), expected)
    assert not torch.equal(expected["encoder.0.weight"], weights[-1]["encoder.0.weight"])


# ---- checkpoints ----------------------------------------------------------------------------

def noisy_reconstruction_loss(model, batch):
    """Draws from all three global generators, so resume must restore all of them."""
    video = batch["video"]  # B C T H W
    sigma = 0.1 * random.random() + 0.1 * float(np.random.rand())
    loss = F.mse_loss(model(video + sigma * torch.randn_like(video)), video)
    return loss, {"sigma": sigma}


def noisy_trainer(out_dir, init_seed: int) -> Trainer:
    torch.manual_seed(init_seed)
    config = tiny_config(steps=8, grad_accum=2, out_dir=str(out_dir), weight_decay=0.1)
    return Trainer(TinyClipAutoencoder(), SyntheticClips(**TINY_DATA), noisy_reconstruction_loss, config)


def test_resume_is_bit_identical_to_training_straight_through(tmp_path):
    straight = noisy_trainer(tmp_path / "straight", init_seed=0)
    straight.train()
    first = noisy_trainer(tmp_path / "split", init_seed=0)
    first.train(until=5)  # mid-epoch, mid-schedule; saves step_0000005
    resumed = noisy_trainer(tmp_path / "split", init_seed=99)  # fresh, other init: all must load
    assert resumed.load(tmp_path / "split").name == "step_0000005.safetensors"
    resumed.train()
    for name in ("model", "ema"):
        a, b = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    a, b = straight.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(a[i][k], b[i][k]) for i in a for k in a[i])
    assert resumed.history == straight.history and len(straight.history) == 8
    assert read_log(tmp_path / "split") == read_log(tmp_path / "straight")
    # the wall time of training is kept in the checkpoints and adds up over resumes
    _, first_meta = read_checkpoint(tmp_path / "split" / "step_0000005.safetensors")
    _, last_meta = read_checkpoint(latest_checkpoint(tmp_path / "split"))
    assert 0 < first_meta["train_seconds"] < last_meta["train_seconds"]
    assert resumed.train_seconds == pytest.approx(last_meta["train_seconds"], abs=0.1)


def test_resume_drops_log_lines_written_after_the_checkpoint(tmp_path):
    trainer = tiny_trainer(out_dir=str(tmp_path))
    trainer.train(until=2)
    trainer.train(until=4)  # saved at 2 and 4; pretend the run crashed after a later step
    (tmp_path / "step_0000004.safetensors").unlink()
    resumed = tiny_trainer(out_dir=str(tmp_path))
    resumed.load(tmp_path)
    assert resumed.step == 2 and [r["step"] for r in read_log(tmp_path)] == [1, 2]


def test_checkpoint_format_is_documented_safetensors(tmp_path):
    trainer = tiny_trainer(out_dir=str(tmp_path), steps=2)
    trainer.train()
    path = latest_checkpoint(tmp_path)
    with safe_open(str(path), "pt") as file:
        names, meta = set(file.keys()), json.loads(file.metadata()["minivid.train"])
    assert meta["format"] == "minivid.train/1" and meta["step"] == 2 and meta["world_size"] == 1
    assert meta["run"]["task"] == "tiny-autoencoder" and meta["scheduler"]["last_epoch"] == 2
    assert {"model.encoder.0.weight", "ema.module.encoder.0.weight", "ema.n_averaged",
            "optimizer.0.exp_avg", "optimizer.0.step", "rng.0.torch"} <= names
    assert {"python", "numpy"} == set(meta["rng"][0])
    fresh = load_weights(path, TinyClipAutoencoder())
    torch.testing.assert_close(fresh.state_dict(), trainer.ema.module.state_dict(), rtol=0, atol=0)


def test_resume_refuses_a_different_run_and_foreign_files(tmp_path):
    tiny_trainer(out_dir=str(tmp_path), steps=2).train()
    with pytest.raises(ValueError, match="batch_size: saved 4, now 8"):
        tiny_trainer(out_dir=str(tmp_path), batch_size=8).load(tmp_path)
    tiny_trainer(out_dir=str(tmp_path), steps=4).load(tmp_path)  # a longer run is fine
    save_file({"weight": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ValueError, match="not a minivid training checkpoint"):
        read_checkpoint(tmp_path / "plain.safetensors")
    with pytest.raises(FileNotFoundError):
        tiny_trainer().load(tmp_path / "empty_dir_that_is_missing")


# ---- loss functions, training ---------------------------------------------------------------

def test_loss_fn_contract_is_checked():
    dataset = SyntheticClips(**TINY_DATA)
    per_example = Trainer(TinyClipAutoencoder(), dataset, lambda m, b: (m(b["video"]).mean((1, 2, 3, 4)), {}),
                          tiny_config())
    with pytest.raises(ValueError, match="scalar loss"):
        per_example.train()
    clashing = Trainer(TinyClipAutoencoder(), dataset, lambda m, b: (m(b["video"]).mean(), {"lr": 1.0}),
                       tiny_config())
    with pytest.raises(ValueError, match="used by the trainer"):
        clashing.train()
    with pytest.raises(ValueError, match="precision"):
        tiny_trainer(precision="fp16")


def test_loss_decreases_on_a_tiny_overfit_problem():
    """4 clips, 40 steps: the reconstruction error falls at least 10x (about 0.85 -> 0.045)."""
    trainer = build_trainer("tiny-autoencoder", tiny_config(steps=40, lr=1e-2, warmup=5),
                            length=4, frames=5, size=16)
    log = trainer.train()
    assert log[-1]["loss"] < 0.1 * log[0]["loss"], (log[0]["loss"], log[-1]["loss"])


def test_bf16_autocast_trains_on_cpu():
    log = tiny_trainer(precision="bf16", steps=3).train()
    assert all(np.isfinite(r["loss"]) for r in log)


# ---- command line and DDP -------------------------------------------------------------------

CLI_ARGS = ["--task", "tiny-autoencoder", "--batch-size", "4", "--data-length", "12", "--frames", "5",
            "--size", "16", "--lr", "3e-3", "--warmup", "2", "--log-every", "1", "--no-progress",
            "--device", "cpu"]


def test_cli_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--steps", "--batch-size", "--grad-accum", "--lr", "--warmup", "--ema-decay", "--seed",
                   "--out", "--resume", "--log-every", "--device", "--precision", "--data-length",
                   "--frames", "--size", "--threads", "tiny-autoencoder"):
        assert option in text


def test_cli_threads_option_sets_torch_threads(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        wanted = 3 if before != 3 else 2  # differs from the current setting, so the test can fail
        main(CLI_ARGS + ["--steps", "1", "--out", str(tmp_path / "run"), "--threads", str(wanted)])
        assert torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)
    with pytest.raises(SystemExit):
        main(CLI_ARGS + ["--steps", "1", "--out", str(tmp_path / "bad"), "--threads", "-1"])
    assert "--threads must be 0" in capsys.readouterr().err


def test_cli_run_writes_checkpoint_and_log_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    main(CLI_ARGS + ["--steps", "3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert str(out / "step_0000003.safetensors") in printed and str(out / "log.jsonl") in printed
    assert [r["step"] for r in read_log(out)] == [1, 2, 3]
    with pytest.raises(SystemExit):  # would silently mix two runs in one directory
        main(CLI_ARGS + ["--steps", "3", "--out", str(out)])
    main(CLI_ARGS + ["--steps", "5", "--out", str(out), "--resume", str(out)])
    assert [r["step"] for r in read_log(out)] == [1, 2, 3, 4, 5]


@pytest.mark.skipif(not has_cxx_compiler(), reason="torch.compile's inductor needs a C++ compiler on a CPU")
def test_compiled_training_matches_eager_and_keeps_plain_checkpoints(tmp_path):
    """compile=True fuses kernels but computes the same thing: same losses (up to reordered float
    sums), same parameter names, so its checkpoints load into a model that was never compiled."""
    eager, compiled = tiny_trainer(steps=3), tiny_trainer(steps=3, compile=True, out_dir=str(tmp_path))
    eager.train()
    torch._dynamo.utils.counters.clear()  # count only the graphs of this run
    compiled.train()
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # it did compile something
    assert [r["loss"] for r in compiled.history] == pytest.approx([r["loss"] for r in eager.history], rel=1e-4)
    plain = load_weights(tmp_path / "step_0000003.safetensors", TinyClipAutoencoder(), ema=False)
    torch.testing.assert_close(plain.state_dict(), eager.model.state_dict(), rtol=1e-4, atol=1e-5)


def test_compile_without_a_cxx_compiler_says_what_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match="needs a C\\+\\+ compiler"):
        tiny_trainer(compile=True)


def test_ddp_on_two_processes_equals_one_process(tmp_path):
    """torchrun, 2 CPU processes over gloo on loopback, each reading 1 clip x 2 micro-batches;
    against 1 process reading the same global batch of 4 at once."""
    steps = ["--steps", "4"]
    env = os.environ | {"OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    if sys.platform == "linux":
        env["GLOO_SOCKET_IFNAME"] = "lo"
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={free_loopback_port()}",
               "-m", "minivid.train", *CLI_ARGS, *steps, "--grad-accum", "2", "--out", str(tmp_path)]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("checkpoint:") == 1  # rank 0 alone reports and writes
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == ["step_0000004.safetensors"]
    _, meta = read_checkpoint(tmp_path / "step_0000004.safetensors", prefix="none")
    assert meta["world_size"] == 2 and len(meta["rng"]) == 2

    single = tiny_trainer(steps=4)
    single.train()
    ddp_model = load_weights(tmp_path / "step_0000004.safetensors", TinyClipAutoencoder(), ema=False)
    torch.testing.assert_close(ddp_model.state_dict(), single.model.state_dict(), rtol=1e-5, atol=1e-6)
    ddp_log = read_log(tmp_path)
    assert [r["step"] for r in ddp_log] == [1, 2, 3, 4]
    for name in ("loss", "grad_norm", "lr"):
        assert [r[name] for r in ddp_log] == pytest.approx([r[name] for r in single.history], rel=1e-5)
