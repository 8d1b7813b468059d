#!/bin/bash
# Every $CARRY_EVERY seconds (default 600), each run folder of $RUNS with a newer last.pt than its copy: its last.pt
# and text records into $CARRY (lib.sh's carry_save). Beside a campaign, so that a machine that is not handed on
# still passes the runs to the next session through the checkout; train_run restores them from there.
#   nohup scripts/campaign/carry.sh > /dev/null 2>&1 &        # ONCE=1: one pass, then exit
set -u
source "$(dirname "$0")/lib.sh"
LOG=$RUNS/carry.log
while true; do
  for d in "$RUNS"/*/; do
    name=$(basename "$d")
    case $name in src-*|fid-cache) continue ;; esac
    carry_save "$name" || say "carry of $name failed"
  done
  [ "${ONCE:-0}" = 1 ] && break
  sleep "${CARRY_EVERY:-600}"
done
