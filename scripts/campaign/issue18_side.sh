#!/bin/bash
# Issue 18's two shorter runs, one session of the two cores (one thread each, measured 2026-12-04 on the AMD EPYC):
#   lane 1: GP with layer norm in the critic (gan_cifar10_gp_layernorm), 2,000 iterations (12,000 updates), scored at
#           1,000 and 2,000
#   lane 2: the projection variant (gan_cifar10_sn_projection) again to 3,000 iterations (18,000 updates): it
#           finished on a machine that was not handed on, whose weights and scores were lost (REDO=1: its archive
#           in docs/runs says finished)
# Needs $RUNS/fd_classifier_cifar10 and the test split's cached Inception features (issue18.sh: classifier, reference).
#   nohup scripts/campaign/issue18_side.sh > /dev/null 2>&1 &
set -u
source "$(dirname "$0")/issue18.sh"
FID10K=0 gan gan_cifar10_gp_layernorm gan_cifar10_gp_layernorm train.max_steps=12000 train.seed=0 &
REDO=1 FID10K=0 gan gan_cifar10_sn_projection gan_cifar10_sn_projection train.max_steps=18000 train.seed=0 &
wait
say "issue 18 side runs: all done"
