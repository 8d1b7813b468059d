#!/bin/bash
# Issue 18's long GAN runs on one CUDA GPU lent for a short lease (the device tool's H200: 15 minutes in all, at most
# 10 a call, 64 MiB carried per call), in two calls on one warm machine:
#
#   start            the payload of the first call (.gpu/a: the CIFAR-10 JPEG bytes, the FD classifier's best.pt,
#                    the first part of the Inception file, the pytorch-fid wheel) into $W, then four training lanes
#                    started in their own process sessions (they outlive the call), one process each:
#                      gan_cifar10_sn_h200, gan_cifar10_gp_h200            seed 0, to $STEPS_MAIN (60,000 = 10,000 it.)
#                      gan_cifar10_sn_projection_h200, gan_cifar10_gp_layernorm_h200   seed 0, to $STEPS_SIDE
#   finish SECONDS   the second part of the Inception file (.gpu/b), FID(train 50k, test 10k), the runs scored while
#                    they train (FID-2k against the 10k test images and the classifier FD 5k/5k, every 1,000
#                    iterations), every lane stopped by SIGTERM (last.pt saved) $RESERVE s before SECONDS are up,
#                    the final checkpoints scored (FID-2k, FD, then FID-10k), 10x10 grids, all packed into $OUT.
#
# Made by scripts/campaign/h200_payload.py (which says why the payload is split). Training runs in float32 (cuDNN's
# default TF32 convolutions; the CPU runs used bf16 autocast), scoring in float32 with TF32 off. Variables: W (work
# folder, /tmp/k18), PY (python3), DEVICE (cuda; cpu for the local dry run), STEPS_MAIN, STEPS_SIDE, EVERY (1000),
# FIDN (2000), FDN (5000), FID10N (10000), EXTRA (more overrides for every run), RESERVE (150), CALIB (--n-a/--n-b
# of the calibration: all of both splits).
set -u
W=${W:-/tmp/k18}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
RUNS=$W/runs
RES=$W/out
export KEXUE_DATA=$W/data KEXUE_CACHE=$W/cache PYTHONPATH=$W/site:$PWD PYTHONUNBUFFERED=1
LANES=(gan_cifar10_sn_h200 gan_cifar10_gp_h200 gan_cifar10_sn_projection_h200 gan_cifar10_gp_layernorm_h200)
log() { echo "$(date '+%T') $*" | tee -a "$W/h200.log"; }

# lane NAME CONFIG STEPS: one training run, one thread on the CPU side, float32 on the device
lane() {
  timeout -s TERM -k 60 "${TRAIN_S:-1200}" "$PY" train.py --config "configs/$2.yaml" train.out_dir="$RUNS" \
    train.run_name="$1" train.device="$DEVICE" train.amp=off train.threads=1 train.seed=0 train.max_steps="$3" \
    ${EXTRA:-} --resume auto >> "$RUNS/$1.out" 2>&1
  echo "rc $?" >> "$RUNS/$1.out"
}

progress() {
  local name line
  for name in "${LANES[@]}"; do
    line=$(grep '"train/samples_per_s"' "$RUNS/$name/metrics.jsonl" 2>/dev/null | tail -1)
    log "$name: $(echo "$line" | grep -o '"step": [0-9]*') $(echo "$line" | grep -o '"train/samples_per_s": [0-9.]*')" \
        "$(tail -c 300 "$RUNS/$name.out" 2>/dev/null | tr '\n' ' ' | tail -c 160)"
  done
}

start() {
  mkdir -p "$W/data" "$RUNS" "$W/cache" "$W/site" "$RES"
  cp .gpu/a/cifar10_jpeg_bytes.npz "$W/data/" && cp -r .gpu/a/fd_classifier_cifar10 "$RUNS/" &&
    cp .gpu/a/inception.part1 "$W/" || { log "payload a incomplete"; exit 1; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$W/site" .gpu/a/*.whl >> "$W/h200.log" 2>&1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$W/h200.log"
  "$PY" -c "import torch, os; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cpus', os.cpu_count())" \
    2>&1 | tee -a "$W/h200.log"
  # decode the JPEG copy once, before four processes would each decode it
  "$PY" -c "from engine.config import load_plugins; load_plugins(); from engine.build import load_dataset
d = load_dataset({'name': 'cifar10'}); print({k: tuple(v['x'].shape) for k, v in d.items()})" 2>&1 | tee -a "$W/h200.log"
  local steps=(${STEPS_MAIN:-60000} ${STEPS_MAIN:-60000} ${STEPS_SIDE:-30000} ${STEPS_SIDE:-30000})
  local configs=(gan_cifar10_sn gan_cifar10_gp gan_cifar10_sn_projection gan_cifar10_gp_layernorm) i
  for i in 0 1 2 3; do
    setsid bash -c "source '$0'; lane ${LANES[$i]} ${configs[$i]} ${steps[$i]}" < /dev/null > /dev/null 2>&1 &
  done
  log "lanes started"
  sleep "${WAIT:-45}"
  progress
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>&1 | tee -a "$W/h200.log"
}

# the runs that have a checkpoint to score
scoreable() {
  local name
  for name in "${LANES[@]}"; do
    ls "$RUNS/$name"/snapshots/step*.pt "$RUNS/$name/last.pt" > /dev/null 2>&1 && echo "$RUNS/$name"
  done
}

score() {
  local runs
  runs=$(scoreable)
  [ -n "$runs" ] || return 0
  "$PY" scripts/gan_fd.py $runs --fid --fid-n "${FIDN:-2000}" --fid-ref-n "${FID10N:-10000}" \
    --every-iterations "${EVERY:-1000}" --classifier "$RUNS/fd_classifier_cifar10" --n "${FDN:-5000}" \
    "${FIDARGS[@]}" --out "$RES/gan_fid2k_h200" >> "$W/score.log" 2>&1 || log "scoring failed (score.log)"
}

finish() {
  local budget=$1 t0 train_end name
  t0=$(date +%s)
  train_end=$((t0 + budget - ${RESERVE:-150}))
  mkdir -p "$RES"
  cat "$W/inception.part1" .gpu/b/inception.part2 > "$W/default_1.pt"
  local sums=$PWD/.gpu/b/inception.sha256
  (cd "$W" && sha256sum -c "$sums") 2>&1 | tee -a "$W/h200.log"
  FIDARGS=(--inception-weights "$W/default_1.pt" --device "$DEVICE" --cache "$W/cache")
  progress
  log "calibration: FID(train 50k, test 10k)"
  "$PY" scripts/fid_data.py --dataset cifar10 --a train --b test --inception-weights "$W/default_1.pt" \
    --device "$DEVICE" --cache "$W/cache" ${CALIB:-} --out "$RES/fid_cifar10_train_test.json" >> "$W/score.log" 2>&1
  tail -1 "$RES/fid_cifar10_train_test.json" 2>/dev/null | tee -a "$W/h200.log"
  while [ "$(date +%s)" -lt "$train_end" ] && pgrep -f "train.py --config" > /dev/null; do
    score
    progress
    sleep 5
  done
  log "stopping the lanes (SIGTERM: each finishes its update and saves last.pt)"
  # the python processes only: timeout passes a signal on to its child, and a second SIGTERM aborts without a save
  pkill -TERM -f "^[^ ]*python[0-9.]* train.py --config"
  for _ in $(seq 60); do pgrep -f "train.py --config" > /dev/null || break; sleep 1; done
  progress
  score
  log "FID-10k of each run's last checkpoint"
  "$PY" scripts/gan_fd.py $(scoreable) --fid --fid-n "${FID10N:-10000}" --only-last "${FIDARGS[@]}" \
    --out "$RES/gan_fid10k_h200" >> "$W/score.log" 2>&1 || log "FID-10k failed (score.log)"
  for name in "${LANES[@]}"; do
    [ -f "$RUNS/$name/last.pt" ] && "$PY" sample.py --checkpoint "$RUNS/$name/last.pt" --n 100 --nrow 10 \
      --device "$DEVICE" --out "$RES/gan_grid_$name.png" >> "$W/score.log" 2>&1
  done
  pack
}

# pack: $OUT/h200.tar.xz (scores, grids, logs, each run's text records and every 10th sample grid), then the
# last.pt of each main run that did not finish, in 15 MiB parts, while the 64 MiB that comes back allows
pack() {
  local name list=() left files=2 size
  for name in "${LANES[@]}"; do
    [ -d "$RUNS/$name" ] || continue
    list+=("runs/$name.out")
    for f in config.yaml metrics.jsonl results.json segments.jsonl summary.csv; do
      [ -f "$RUNS/$name/$f" ] && list+=("runs/$name/$f")
    done
    list+=($(cd "$W" && ls runs/"$name"/samples/*.png 2>/dev/null | awk '{l = $0} NR % 10 == 0 {print} END {if (NR % 10) print l}'))
  done
  (cd "$W" && tar -cJf "${OUT:-$W}/h200.tar.xz" out h200.log score.log runs/fd_classifier_cifar10/*.json "${list[@]}" \
    2>> "$W/h200.log")
  cp "$W/h200.log" "${OUT:-$W}/h200.log"
  left=$((62 * 1024 * 1024 - $(stat -c %s "${OUT:-$W}/h200.tar.xz")))
  for name in gan_cifar10_gp_h200 gan_cifar10_sn_h200; do
    [ -f "$RUNS/$name/last.pt" ] && [ ! -f "$RUNS/$name/results.json" ] || continue
    size=$(stat -c %s "$RUNS/$name/last.pt")
    [ "$size" -lt "$left" ] && [ $((files + (size + 15728639) / 15728640)) -le 8 ] || continue
    split -b 15728640 -d -a 2 "$RUNS/$name/last.pt" "${OUT:-$W}/$name.last.pt."
    left=$((left - size)); files=$((files + (size + 15728639) / 15728640))
  done
  ls -la "${OUT:-$W}"
}

[[ "${BASH_SOURCE[0]}" != "$0" ]] && return 0
case "${1:-}" in
  start) start ;;
  finish) finish "${2:?finish SECONDS}" ;;
  *) echo "usage: $0 start | finish SECONDS" >&2; exit 2 ;;
esac
