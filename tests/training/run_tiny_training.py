"""Subprocess helper for test_training_faults: trains TinyRIS until killed (argv: OUT_DIR)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch
from training_fixtures import TINY_CFG, TinyData, TinyRIS, tiny_train_config

from rismodel.training.engine import train

if __name__ == "__main__":
    torch.set_num_threads(1)
    cfg = tiny_train_config(sys.argv[1], max_steps=100_000, batch_size=4, lr=0.01, log_every=1,
                            checkpoint_every=4)
    torch.manual_seed(0)
    train(cfg, TinyRIS(), TINY_CFG, TinyData())
