#!/bin/bash
# Issue 19's two long runs side by side, one thread each, continued with --resume auto (start it again after any
# interruption: each run picks up at its last save). The copy-prior model and its no-copy twin, 10 epochs
# (15,360 updates) each, seed 0. Run folders in $RUNS (default ~/kexue-runs), the data in $KEXUE_DATA
# (default ../shared/data beside the repository), the code of $SRC (default: this checkout; point it at a
# frozen clone so code changes never reach a run in flight). Logs: $RUNS/<config>.out.
#   nohup scripts/campaign/xwlb_pair.sh > /dev/null 2>&1 &
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
RUNS=${RUNS:-$HOME/kexue-runs}
PY=${PY:-$SRC/.venv/bin/python}
export KEXUE_DATA=${KEXUE_DATA:-$(cd "$SRC/.." && pwd)/shared/data}
mkdir -p "$RUNS"
cd "$SRC" || exit 2
for c in seq2seq_xwlb seq2seq_xwlb_nocopy; do
  "$PY" train.py --config configs/$c.yaml train.out_dir="$RUNS" train.threads=1 train.checkpoint_every=250 \
    train.seed=0 --resume auto >> "$RUNS/$c.out" 2>&1 &
done
wait
