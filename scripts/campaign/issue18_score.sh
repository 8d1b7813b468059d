#!/bin/bash
# FID-2k and the classifier FD of runs still training (issue18_long.sh's), one thread, one run after the other, at
# the multiples of 1,000 iterations their snapshots reach: the curve so far, banked in docs/figures/gan_campaign
# (the run's own scoring at its end keeps these scores and adds the rest).
#   nohup scripts/campaign/issue18_score.sh gan_cifar10_sn gan_cifar10_gp > /dev/null 2>&1 &
set -u
source "$(dirname "$0")/issue18.sh"
for name in "$@"; do score_inflight "$name"; done
say "issue 18 in-flight scoring of $*: done"
