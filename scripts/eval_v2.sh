#!/bin/sh
# Issue 9's measurements for one model: results/v2/<TAG>-*.json (README "Reproduce").
#   sh scripts/eval_v2.sh TAG MODEL_OR_CHECKPOINT
# In-distribution: the varied SynthRef's test split (data/synthref-v2); robustness: a SynthRef drawn
# with other seeds and harsher rendering options (data/synthref-robust); both made as the README says.
set -e
TAG=$1; M=$2; O=results/v2
E="rismodel eval --model $M --dataset synthref --split test --quiet"
$E --data-root data/synthref-v2 --limit 2000 --json $O/$TAG-test.json
$E --data-root data/synthref-v2 --limit 2000 --generalised --json $O/$TAG-test-generalised.json
$E --data-root data/synthref-robust --json $O/$TAG-robust.json
python scripts/eval_refine.py --data-root data/synthref-v2 --split test --model $M --limit 400 \
    --guided --grabcut 1.5 --json $O/$TAG-boundary.json
