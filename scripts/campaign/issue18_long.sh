#!/bin/bash
# Issue 18's two long runs side by side, one thread each, once the short runs are done (issue18.sh's lanes would put
# the FID-10k of the finished runs and the 2-hour train/test calibration before them):
#   lane 1: GP (gan_cifar10_gp, n_critic 5, seed 0) on to the config's 10,000 iterations (60,000 updates), a copy of
#           gan_cifar10_gp_2k continued; then the FID-10k of SN n_critic 1's last weights
#   lane 2: SN (gan_cifar10_sn, n_critic 5, seed 0) to its 10,000 iterations; then the FID-10k of the projection
#           run and FID(CIFAR-10 train 50k, test 10k) of the JPEG copy
# Each long run is scored (FID-2k + classifier FD every 1,000 iterations, FID-10k of the last weights) when it ends;
# start the script again after any interruption (--resume auto; finished parts are skipped).
# Needs $RUNS/fd_classifier_cifar10 and the test split's cached Inception features (issue18.sh: classifier, reference).
#   nohup scripts/campaign/issue18_long.sh > /dev/null 2>&1 &
set -u
source "$(dirname "$0")/issue18.sh"
long1() {
  carry_restore gan_cifar10_gp_2k; carry_restore gan_cifar10_gp
  if [ ! -d "$RUNS/gan_cifar10_gp" ] && [ -f "$RUNS/gan_cifar10_gp_2k/last.pt" ]; then
    cp -a "$RUNS/gan_cifar10_gp_2k" "$RUNS/gan_cifar10_gp" && rm -f "$RUNS/gan_cifar10_gp/results.json"
  fi
  inherit_scores gan_cifar10_gp_2k gan_cifar10_gp
  gan gan_cifar10_gp gan_cifar10_gp train.seed=0
  fid10k gan_cifar10_sn_ncritic1
}
long2() {
  gan gan_cifar10_sn gan_cifar10_sn train.seed=0
  fid10k gan_cifar10_sn_projection
  [ -f "$RUNS/fid_cifar10_train_test.json" ] || "$PY" scripts/fid_data.py --dataset cifar10 --a train --b test \
    --cache "$RUNS/fid-cache" --out "$RUNS/fid_cifar10_train_test.json" --threads 1 >> "$RUNS/fid_data.out" 2>&1
}
long1 &
long2 &
wait
say "issue 18 long runs: all done"
