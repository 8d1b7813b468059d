# Shared by the campaign scripts (source it): where runs, code, python and data are, a log line, and one training
# run continued until it is finished. Every variable can be set before sourcing:
#   RUNS        run folders (default ~/kexue-runs: outside the repository, kept between sessions)
#   SRC         the code (default: this checkout; a frozen clone keeps code changes away from runs in flight)
#   PY          python (default $SRC/.venv/bin/python)
#   KEXUE_DATA  datasets (default ../shared/data beside $SRC)
#   ARCHIVE     where a finished run's text records are copied (scripts/archive_run.py; default docs/runs of the
#               checkout these scripts are in, to be committed: the numbers outlive a machine that is not handed on)
#   CARRY       where carry.sh keeps each run's latest last.pt and text records (default runs-carry/ of this
#               checkout: a machine that is not handed on has kept the checkout's files that git neither tracks nor
#               ignores, never $HOME; never commit it); train_run restores a run from it when $RUNS lacks the run
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)   # the checkout these scripts are in
SRC=${SRC:-$HERE}
RUNS=${RUNS:-$HOME/kexue-runs}
PY=${PY:-$SRC/.venv/bin/python}
ARCHIVE=${ARCHIVE:-$HERE/docs/runs}
export KEXUE_DATA=${KEXUE_DATA:-$(cd "$SRC/.." && pwd)/shared/data}
# scripts/*.py find the packages through PYTHONPATH: without it a venv's editable install would give them the
# packages of the checkout it was installed from, not those of $SRC (train.py, at the top, finds $SRC's either way)
export PYTHONPATH=$SRC${PYTHONPATH:+:$PYTHONPATH}
CARRY=${CARRY:-$HERE/runs-carry}
FIGS=${FIGS:-$HERE/docs/figures/gan_campaign}   # where the GAN scores and grids are banked (issue18.sh)
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
  carry_restore "$name"
  say "start $name"
  "$PY" train.py --config "configs/$config.yaml" train.out_dir="$RUNS" train.run_name="$name" train.threads=1 \
    train.checkpoint_every=250 "$@" --resume auto >> "$RUNS/$name.out" 2>&1
  local rc=$?
  say "end $name (rc $rc)"
  [ $rc = 0 ] && archive "$name"
  return $rc
}

# carry_save NAME: $RUNS/NAME's last.pt and text records into $CARRY/NAME, each file through a temporary name, so
# that a copy cut off half-way never replaces a whole one; nothing when the copy is current. Its snapshots too
# (CARRY_SNAPSHOTS=0: not), each once (a snapshot never changes after its save): the FID curve is scored from them,
# so a run carried without them has a gap where they were (a GAN snapshot is 10 MB, every 3,000 updates).
carry_save() {
  local src=$RUNS/$1 dst=$CARRY/$1 f
  [ -f "$src/last.pt" ] || return 0
  [ -f "$dst/last.pt" ] && ! [ "$src/last.pt" -nt "$dst/last.pt" ] && return 0
  mkdir -p "$dst"
  for f in "$src"/last.pt "$src"/*.jsonl "$src"/*.json "$src"/*.yaml "$src"/*.csv; do
    [ -f "$f" ] || continue
    cp "$f" "$dst/.$(basename "$f").part" && mv "$dst/.$(basename "$f").part" "$dst/$(basename "$f")"
  done
  [ "${CARRY_SNAPSHOTS:-1}" = 1 ] || return 0
  for f in "$src"/snapshots/step*.pt; do       # finished saves only: one in progress is a hidden .tmp file
    [ -f "$f" ] || continue
    [ -f "$dst/snapshots/$(basename "$f")" ] && continue
    mkdir -p "$dst/snapshots"
    cp "$f" "$dst/snapshots/.$(basename "$f").part" && mv "$dst/snapshots/.$(basename "$f").part" "$dst/snapshots/$(basename "$f")"
  done
}

# carry_restore NAME: a run that $RUNS lacks and $CARRY holds is copied back (then --resume auto goes on from its
# last.pt), with the scores banked for it in $FIGS, so that scoring goes on where it stopped
carry_restore() {
  local f
  if [ ! -d "$RUNS/$1" ] && [ -f "$CARRY/$1/last.pt" ]; then
    cp -a "$CARRY/$1" "$RUNS/$1" && say "restored $1 from $CARRY"
  fi
  for f in "$FIGS/gan_fid2k_$1.json" "$FIGS/gan_fid10k_$1.json"; do
    [ -f "$f" ] && [ ! -f "$RUNS/$(basename "$f")" ] && cp "$f" "$RUNS/"
  done
  return 0
}
