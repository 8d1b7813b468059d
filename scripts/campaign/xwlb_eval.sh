#!/bin/bash
# Issue 19's scoring, after scripts/campaign/xwlb_pair.sh, as two single-thread lanes side by side, each step
# waiting for the run it needs to write results.json:
#   lane 1: the LCSTS fine-tune from the copy model's best.pt (configs/seq2seq_lcsts_from_xwlb.yaml), then its
#           titles on LCSTS test and validation;
#   lane 2: both xwlb models on the xwlb test split (the no-copy twin first: it is ahead), the copy model on
#           LCSTS test and validation (transfer), and
#           bench/beam_search.py on the copy model's best.pt.
# Every title_eval: beams 1, 3 and 5, ten seeded examples (seed 0). A step whose output exists is skipped, so the
# script can be started again after an interruption (the fine-tune continues with --resume auto).
# Variables (RUNS, SRC, PY, KEXUE_DATA): scripts/campaign/lib.sh; log: $RUNS/xwlb_eval.log.
#   nohup scripts/campaign/xwlb_eval.sh > /dev/null 2>&1 &
set -u
source "$(dirname "$0")/lib.sh"
LCSTS=$KEXUE_DATA/zh_titles/lcsts.jsonl
LOG=$RUNS/xwlb_eval.log

# finished RUN: wait until RUN has written results.json (the end of its training)
finished() {
  until [ -f "$RUNS/$1/results.json" ]; do sleep 30; done
  say "$1 finished"
}

# score RUN SPLIT NAME [DATA_FILE]: title_eval of RUN/best.pt on its own data file (or DATA_FILE), unless the
# json it writes, RUN/title_eval_NAME_SPLIT.json (NAME: the data file's name up to its first dot), exists
score() {
  local run=$1 split=$2 name=$3 extra=()
  [ $# -ge 4 ] && extra=(--data-file "$4")
  local out=$RUNS/$run/title_eval_${name}_${split}.json
  [ -f "$out" ] && { say "skip $out (exists)"; return 0; }
  say "start title_eval $run $name $split"
  "$PY" scripts/title_eval.py --checkpoint "$RUNS/$run/best.pt" --split "$split" --beams 1 3 5 --threads 1 \
    "${extra[@]}" >> "$LOG" 2>&1
  say "end title_eval $run $name $split (rc $?)"
}

lane1() {
  finished seq2seq_xwlb
  train_run seq2seq_lcsts_from_xwlb seq2seq_lcsts_from_xwlb train.init_from="$RUNS/seq2seq_xwlb/best.pt" train.seed=0
  score seq2seq_lcsts_from_xwlb test lcsts
  score seq2seq_lcsts_from_xwlb val lcsts
}

lane2() {
  finished seq2seq_xwlb_nocopy
  score seq2seq_xwlb_nocopy test xwlb_cctv
  finished seq2seq_xwlb
  score seq2seq_xwlb test xwlb_cctv
  score seq2seq_xwlb test lcsts "$LCSTS"
  score seq2seq_xwlb val lcsts "$LCSTS"
  if [ ! -s "$RUNS/bench_beam_xwlb.json" ]; then
    say "start bench"
    "$PY" bench/beam_search.py --checkpoint "$RUNS/seq2seq_xwlb/best.pt" --n 64 --rounds 1 \
      > "$RUNS/bench_beam_xwlb.json" 2>> "$LOG" || rm -f "$RUNS/bench_beam_xwlb.json"
    say "end bench"
  fi
}

lane1 &
lane2 &
wait
say "all done"
