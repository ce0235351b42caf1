"""The pieces of `minivid.train`, one idea per file, in the order a reader needs them:

    loop.py         TrainConfig and Trainer: the training loop, logging, save / load
    optim.py        AdamW, linear warm-up + cosine decay, the EMA copy
    data_order.py   which examples each process reads at each step (resumable by construction)
    checkpoint.py   the safetensors checkpoint format and the RNG states
    distributed.py  DDP under torchrun: process group, averaging, gathering
    tasks.py        named tasks (model, dataset, loss) for the command line
"""
from minivid.training.checkpoint import latest_checkpoint, load_weights, read_checkpoint
from minivid.training.loop import TrainConfig, Trainer, read_log
from minivid.training.tasks import Task, build_trainer, get_task, register_task, task_names

__all__ = ["TrainConfig", "Trainer", "read_log", "latest_checkpoint", "load_weights",
           "read_checkpoint", "Task", "build_trainer", "get_task", "register_task", "task_names"]
