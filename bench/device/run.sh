#!/usr/bin/env bash
# The gpulens device check: one call on a GPU machine (see bench/README.md, "Device check").
#
#   bash bench/device/run.sh              # on the GPU machine; results under $OUT
#   bash bench/device/run.sh --dry-run    # anywhere: the code paths that need no CUDA
#
# With the device tool: run(command="bash bench/device/run.sh", timeout_s=540). The steps
# stop themselves within --budget-s (default 330 s); `timeout` below is a last resort.
#
# Python: the first of $PYTHON, python3, .venv/bin/python that imports torch. On the GPU
# machine that is the image's python3 (torch, torchvision, nvidia-ml-py preinstalled; see
# /work/.library/device/KINDS.md). gpulens itself is used from the checkout (PYTHONPATH=server,
# set by check.py): its CLI paths used here (analyze, check) need no pygls, nothing is
# installed. Should nvidia-ml-py be missing there, carry its wheel: here
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp -d .whl nvidia-ml-py
# then run with carry [".whl"] and
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \
#       && export PYTHONPATH=/tmp/site; bash bench/device/run.sh
#
# Files written (at most 8 come back from the device tool, 2 folders deep):
#   $OUT/device_checks.json   everything, rewritten after each step
#   $OUT/device_log.txt       this run's stdout and stderr
#   $OUT/snapshots.json       allocator snapshot summaries (step 3c)
#   $OUT/snap/*.pickle.gz     the raw snapshots (at most 3), for torch.cuda._memory_viz
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/gpulens-device-out}"
mkdir -p "$OUT"
export OUT PYTHONUNBUFFERED=1

py=""
for cand in "${PYTHON:-}" python3 .venv/bin/python; do
  [ -n "$cand" ] || continue
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import torch" >/dev/null 2>&1; then
    py="$cand"
    break
  fi
done
if [ -z "$py" ]; then
  echo "gpulens device check: no Python with torch found (set PYTHON=...)" | tee "$OUT/device_log.txt"
  exit 2
fi

{
  echo "python: $(command -v "$py") ($("$py" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)' 2>/dev/null))"
  timeout -k 10 420 "$py" bench/device/check.py --out "$OUT" "$@"
  rc=$?
  [ "$rc" -eq 124 ] && echo "check.py was stopped by the 420 s timeout; device_checks.json holds the steps done"
  exit "$rc"
} 2>&1 | tee "$OUT/device_log.txt"
exit "${PIPESTATUS[0]}"
