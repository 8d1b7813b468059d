#!/bin/bash
# Issue 18's runs (post 8: SN against GP on CIFAR-10 at the configs' budgets, scored by FID) as two single-thread
# lanes, every run continued with --resume auto, a finished one skipped: start it again after any interruption.
# Each run is scored after it ends: FID-2k (2,000 generated images against the 10,000 test images) and the
# classifier FD (5,000 against the first 5,000 test images, in the features of $RUNS/fd_classifier_cifar10: the
# 5-epoch classifier of the earlier 2,000-iteration table) every 1,000 generator iterations, then FID-10k of its
# last checkpoint; gan_fd.py keeps the scores it already holds, so a
# second start only scores what is new. Reference features are cached in $RUNS/fid-cache (kept with the runs).
# bf16 autocast, subnormals flushed. Variables (RUNS, SRC, PY, KEXUE_DATA): scripts/campaign/lib.sh.
# Log: $RUNS/issue18.log; each run's output: $RUNS/<run>.out; scores: $RUNS/gan_fid2k_<run>.json/.png and
# $RUNS/gan_fid10k_<run>.json; the final 10x10 grid: $RUNS/gan_grid_<run>.png.
#   nohup scripts/campaign/issue18.sh > /dev/null 2>&1 &          # LANES=2 (or 1): that lane alone
# Not in it: the equal-core-hours comparison reads SN n_critic 1 against GP's first 2,000 iterations on the cpu_s
# axis of the curves (both runs are longer than that budget).
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG=$RUNS/issue18.log
GAN=(train.amp=auto train.flush_denormal=true)

# gan NAME CONFIG [OVERRIDES...]: train, then the FID-2k curve (every $EVERY iterations, default 1,000) and the
# final FID-10k (not with FID10K=0: a seed-1 run's last checkpoint at 1,000 iterations has no seed-0 FID-10k to
# stand beside, and it costs ~20 min of one thread)
gan() {
  local name=$1
  train_run "$@" "${GAN[@]}" || return
  [ -d "$RUNS/$name" ] || return   # finished on a machine that was not handed on: its archive and scores are in docs/
  say "fid $name"
  "$PY" scripts/gan_fd.py "$RUNS/$name" --fid --fid-n 2000 --fid-ref-n 10000 --every-iterations "${EVERY:-1000}" \
    --classifier "$RUNS/$CLASSIFIER" --n 5000 \
    --cache "$RUNS/fid-cache" --out "$RUNS/gan_fid2k_$name" --threads 1 >> "$RUNS/$name.fid.out" 2>&1
  # the final 10x10 grid (noise seed 0, generator in eval mode): seconds
  "$PY" sample.py --checkpoint "$RUNS/$name/last.pt" --n 100 --out "$RUNS/gan_grid_$name.png" >> "$RUNS/$name.fid.out" 2>&1
  bank "$name"
  [ "${FID10K:-1}" = 0 ] || fid10k "$name"
}

# score_inflight NAME: FID-2k + classifier FD of a run still training, at the multiples of $EVERY iterations it
# has snapshots for (gan_fd.py --in-flight: not its latest last.pt); the scores are kept for its end's scoring
score_inflight() {
  say "fid (in flight) $1"
  "$PY" scripts/gan_fd.py "$RUNS/$1" --fid --fid-n 2000 --fid-ref-n 10000 --every-iterations "${EVERY:-1000}" \
    --in-flight --classifier "$RUNS/$CLASSIFIER" --n 5000 \
    --cache "$RUNS/fid-cache" --out "$RUNS/gan_fid2k_$1" --threads 1 >> "$RUNS/$1.fid.out" 2>&1
  bank "$1"
}

# inherit_scores FROM TO: TO is a copy of FROM's folder continued (the same snapshots byte for byte): FROM's scores
# become TO's first rows, so that TO's scoring does not score those snapshots again; nothing when TO has a report
inherit_scores() {
  [ -f "$RUNS/gan_fid2k_$1.json" ] && [ ! -f "$RUNS/gan_fid2k_$2.json" ] || return 0
  "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); r["runs"] = {sys.argv[4]: r["runs"][sys.argv[3]]}
json.dump(r, open(sys.argv[2], "w"), indent=2)' "$RUNS/gan_fid2k_$1.json" "$RUNS/gan_fid2k_$2.json" "$1" "$2" \
    && say "scores of $1 taken over by $2"
}

# bank NAME: the run's scores and grid into $FIGS (default docs/figures/gan_campaign of this checkout): a machine that
# is not handed on keeps the checkout's files, committed or not, but not $RUNS
bank() {
  local f
  mkdir -p "$FIGS"
  for f in "$RUNS/gan_fid2k_$1.json" "$RUNS/gan_fid2k_$1.png" "$RUNS/gan_fid10k_$1.json" "$RUNS/gan_grid_$1.png"; do
    [ -f "$f" ] && cp "$f" "$FIGS/"
  done
}

# fid10k NAME: FID-10k of a finished run's last weights (~25 min of one thread); nothing when it has one
fid10k() {
  [ -f "$RUNS/$1/results.json" ] || return
  [ -f "$RUNS/gan_fid10k_$1.json" ] && return
  say "fid10k $1"
  "$PY" scripts/gan_fd.py "$RUNS/$1" --fid --fid-n 10000 --only-last \
    --cache "$RUNS/fid-cache" --out "$RUNS/gan_fid10k_$1" --threads 1 >> "$RUNS/$1.fid.out" 2>&1
  bank "$1"
}

# reference: the test split's Inception features into $RUNS/fid-cache with both threads before the lanes start
# (10,000 images: 14 min on the two threads of the AMD EPYC, 2026-12-04), so that no single-thread scorer
# computes them, and never two at once
reference() {
  say "fid reference (cifar10 test)"
  "$PY" scripts/fid_data.py --dataset cifar10 --a test --b test --cache-only --cache "$RUNS/fid-cache" \
    --threads "${REF_THREADS:-2}" >> "$RUNS/fid_data.out" 2>&1
}

# the classifier FD's network: configs/classifier_cifar10.yaml at 5 epochs (of 15), as the 2,000-iteration table
# (about 10 min of one thread), before the lanes
CLASSIFIER=fd_classifier_cifar10
# A machine that was not handed on keeps its archive (docs/runs) but not its weights: then it is trained again
# (one thread, seed 0: the same weights on the same CPU kind, its archive's numbers show whether they are).
classifier() {
  local redo=0
  [ -f "$RUNS/$CLASSIFIER/last.pt" ] || redo=1
  REDO=$redo train_run $CLASSIFIER classifier_cifar10 train.epochs=5
}

# Each lane's short runs first: a machine that was not handed on loses every unfinished folder, so a run that fits
# in a session (a seed-1 run: 1,000 iterations took 63-75 min of training on the Intel Xeon, then FID-2k) is banked
# before the long ones; the short ones are balanced between the lanes (minutes of training + scoring, AMD EPYC,
# measured 2026-12-04 with both lanes running: SN n_critic 1 ~4 updates/s, the projection ~3.3).
lane1() {
  FID10K=0 gan gan_cifar10_sn_seed1 gan_cifar10_sn train.max_steps=6000 train.seed=1           # 1,000 iterations
  # 10,000 iterations: ~85 + 15 min (4 updates/s); its FID-10k comes after the short runs of both lanes
  FID10K=0 EVERY=2000 gan gan_cifar10_sn_ncritic1 gan_cifar10_sn_ncritic1 train.seed=0
  FID10K=0 gan gan_cifar10_gp_layernorm gan_cifar10_gp_layernorm train.max_steps=12000 train.seed=0  # 2,000 it.: ~65 + 6
  fid10k gan_cifar10_sn_ncritic1
  gan gan_cifar10_sn gan_cifar10_sn train.seed=0
}

lane2() {
  FID10K=0 gan gan_cifar10_gp_seed1 gan_cifar10_gp train.max_steps=6000 train.seed=1           # 1,000 iterations
  # GP's first 2,000 iterations as a run of their own (the equal-core-hours budget of SN n_critic 1; ~65 + 6 min):
  # banked in a session; gan_cifar10_gp continues a copy of it to the full 10,000 iterations
  FID10K=0 gan gan_cifar10_gp_2k gan_cifar10_gp train.max_steps=12000 train.seed=0
  gan gan_cifar10_sn_projection gan_cifar10_sn_projection train.max_steps=18000 train.seed=0   # 3,000 it.: ~90 + 9
  # the real-data calibration: FID(CIFAR-10 train 50k, test 10k) of the JPEG copy (~2 h of one thread; its
  # features are kept 1,000 images at a time, so an interrupted one goes on)
  [ -f "$RUNS/fid_cifar10_train_test.json" ] || "$PY" scripts/fid_data.py --dataset cifar10 --a train --b test \
    --cache "$RUNS/fid-cache" --out "$RUNS/fid_cifar10_train_test.json" --threads 1 >> "$RUNS/fid_data.out" 2>&1
  carry_restore gan_cifar10_gp_2k; carry_restore gan_cifar10_gp
  if [ ! -d "$RUNS/gan_cifar10_gp" ] && [ -f "$RUNS/gan_cifar10_gp_2k/last.pt" ]; then
    # a copy of the whole folder (metrics, snapshots, segments) without its results.json: --resume auto goes on
    cp -a "$RUNS/gan_cifar10_gp_2k" "$RUNS/gan_cifar10_gp" && rm -f "$RUNS/gan_cifar10_gp/results.json"
  fi
  inherit_scores gan_cifar10_gp_2k gan_cifar10_gp
  gan gan_cifar10_gp gan_cifar10_gp train.seed=0
}

# sourced (scripts/campaign/issue18_fresh.sh): the functions only
[[ "${BASH_SOURCE[0]}" != "$0" ]] && return 0
reference
classifier || exit 1
# LANES=2 runs lane 2 alone (e.g. beside a lane 1 still running from an earlier start of this script)
for lane in ${LANES:-1 2}; do "lane$lane" & done
wait
say "issue 18 campaign: all done"
