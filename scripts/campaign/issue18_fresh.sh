#!/bin/bash
# Issue 18 on a machine that was not handed on (no $RUNS: weights, snapshots and scores of the earlier sessions are
# gone; their archives in docs/runs and the scores banked in docs/figures/gan_campaign are not). One session
# (~3 h of two cores) spent on what decides "SN is cheaper" at equal core-hours, each lane one thread:
#   lane 1: the CIFAR-10 classifier of the FD (~10 min), then GP's first 2,000 iterations again (gan_cifar10_gp_2k,
#           seed 0, 12,000 updates), scored every 1,000 iterations
#   lane 2: the test split's Inception features (one thread), then SN with n_critic 1 to 8,000 iterations (16,000
#           updates: no more than GP's 2,000 took, measured 2026-12-04), scored at 4,000 and 8,000
# Scores and grids are banked in docs/figures/gan_campaign as each run is scored (issue18.sh's bank).
#   nohup scripts/campaign/issue18_fresh.sh > /dev/null 2>&1 &
set -u
source "$(dirname "$0")/issue18.sh"
fresh1() {
  classifier || return
  REDO=1 FID10K=0 gan gan_cifar10_gp_2k gan_cifar10_gp train.max_steps=12000 train.seed=0
}
fresh2() {
  REF_THREADS=1 reference
  EVERY=4000 FID10K=0 gan gan_cifar10_sn_ncritic1 gan_cifar10_sn_ncritic1 train.max_steps=16000 train.seed=0
}
fresh1 &
fresh2 &
wait
say "issue 18 fresh session: all done"
