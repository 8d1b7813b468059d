#!/bin/bash
# Issue 19's two long runs side by side, one thread each, continued with --resume auto (start it again after any
# interruption: each run picks up at its last save). The copy-prior model and its no-copy twin, 10 epochs
# (15,360 updates) each, seed 0. Variables (RUNS, SRC, PY, KEXUE_DATA): scripts/campaign/lib.sh.
# Logs: $RUNS/<config>.out. Then: scripts/campaign/xwlb_eval.sh.
#   nohup scripts/campaign/xwlb_pair.sh > /dev/null 2>&1 &
set -u
source "$(dirname "$0")/lib.sh"
for c in seq2seq_xwlb seq2seq_xwlb_nocopy; do
  train_run $c $c train.seed=0 &
done
wait
