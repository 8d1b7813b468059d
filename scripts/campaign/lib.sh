# Shared by the campaign scripts (source it): where runs, code, python and data are, a log line, and one training
# run continued until it is finished. Every variable can be set before sourcing:
#   RUNS        run folders (default ~/kexue-runs: outside the repository, kept between sessions)
#   SRC         the code (default: this checkout; a frozen clone keeps code changes away from runs in flight)
#   PY          python (default $SRC/.venv/bin/python)
#   KEXUE_DATA  datasets (default ../shared/data beside $SRC)
#   ARCHIVE     where a finished run's text records are copied (scripts/archive_run.py; default docs/runs of the
#               checkout these scripts are in, to be committed: the numbers outlive a machine that is not handed on)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)   # the checkout these scripts are in
SRC=${SRC:-$HERE}
RUNS=${RUNS:-$HOME/kexue-runs}
PY=${PY:-$SRC/.venv/bin/python}
ARCHIVE=${ARCHIVE:-$HERE/docs/runs}
export KEXUE_DATA=${KEXUE_DATA:-$(cd "$SRC/.." && pwd)/shared/data}
# scripts/*.py find the packages through PYTHONPATH: without it a venv's editable install would give them the
# packages of the checkout it was installed from, not those of $SRC (train.py, at the top, finds $SRC's either way)
export PYTHONPATH=$SRC${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$RUNS"
cd "$SRC" || exit 2

# say WORDS: a dated line in $LOG (default $RUNS/campaign.log)
say() { echo "$(date '+%F %T') $*" >> "${LOG:-$RUNS/campaign.log}"; }

# archived NAME: $ARCHIVE/NAME/archive.json says the run finished (its folder may be gone)
archived() { grep -qs '"finished": true' "$ARCHIVE/$1/archive.json"; }

# archive NAME: copy $RUNS/NAME's text records to $ARCHIVE/NAME (scripts/archive_run.py of this checkout: a
# frozen $SRC may predate it)
archive() { "$PY" "$HERE/scripts/archive_run.py" "$RUNS/$1" --to "$ARCHIVE" >> "$RUNS/$1.out" 2>&1; }

# train_run NAME CONFIG [OVERRIDES...]: python train.py on configs/CONFIG.yaml into $RUNS/NAME, one thread, a
# last.pt every 250 updates, --resume auto, then archive NAME; nothing when $RUNS/NAME/results.json says it
# finished, or its archive does and the folder is gone (REDO=1 runs it again). Output is appended to
# $RUNS/NAME.out. Returns train.py's exit status (0 when skipped).
train_run() {
  local name=$1 config=$2; shift 2
  if [ -f "$RUNS/$name/results.json" ]; then say "skip $name (finished)"; return 0; fi
  if [ "${REDO:-0}" != 1 ] && [ ! -d "$RUNS/$name" ] && archived "$name"; then
    say "skip $name (finished, archived in $ARCHIVE; REDO=1 runs it again)"; return 0
  fi
  say "start $name"
  "$PY" train.py --config "configs/$config.yaml" train.out_dir="$RUNS" train.run_name="$name" train.threads=1 \
    train.checkpoint_every=250 "$@" --resume auto >> "$RUNS/$name.out" 2>&1
  local rc=$?
  say "end $name (rc $rc)"
  [ $rc = 0 ] && archive "$name"
  return $rc
}
