"""Subprocess helper for the training fault tests and scripts/soak.py: trains TinyRIS.

argv: OUT_DIR [MAX_STEPS [resume]]. Without MAX_STEPS it trains (nearly) forever, until killed.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch
from training_fixtures import TINY_CFG, TinyData, TinyRIS, tiny_train_config

from rismodel.training.engine import TrainingError, train
from rismodel.training.state import read_latest

if __name__ == "__main__":
    torch.set_num_threads(1)
    max_steps = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    cfg = tiny_train_config(sys.argv[1], max_steps=max_steps, batch_size=4, lr=0.01, log_every=1,
                            checkpoint_every=4)
    torch.manual_seed(0)
    # As `rismodel train --resume` does: a run killed before its first checkpoint starts over.
    resume = len(sys.argv) > 3 and sys.argv[3] == "resume" and read_latest(sys.argv[1]) is not None
    try:
        result = train(cfg, TinyRIS(), TINY_CFG, TinyData(), resume=resume)
    except TrainingError as e:  # as `rismodel train` shows it
        print(f"rismodel train: error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"done {result.step}", flush=True)
