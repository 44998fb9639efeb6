#!/usr/bin/env bash
# The GPU check, run once on a machine with a CUDA GPU and no package registry.
#
# Needs the payload that benchmarks/gpu_payload.py writes into .device/ (wheels, the Listen
# Notes texts, title pairs, Gemma's shape). Writes into $OUT: scale.json (make bench-scale's
# figures on the GPU, random weights of the real shapes; USE-multilingual's real weights for the
# cosine and the batch-size runs), runs.tar.gz (dev-set runs for benchmarks/score_runs.py),
# checks.txt (device errors as a user sees them) and log.txt.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
PY=${PYTHON:-python3}
nvidia-smi -L
$PY -m pip install -q --no-index --no-deps .device/wheels/*.whl 2>&1 | tail -3
$PY -c "import torch, transformers, sentence_transformers as st; print(torch.__version__, transformers.__version__, st.__version__)"
export PYTHONPATH=$PWD/src HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

{
  echo "# device errors a user sees (one line each)"
  for device in auto cuda cuda:0 cuda:7 mps gpu; do
    printf '%s -> ' "$device"
    $PY -c "
import sys
from podseek.errors import PodseekError
from podseek.models.device import resolve_device
try:
    print(resolve_device(sys.argv[1]).describe())
except PodseekError as error:
    print('error:', error)
" "$device"
  done
} > "$OUT/checks.txt" 2>&1
cat "$OUT/checks.txt"

timeout "${BENCH_TIMEOUT:-420}" $PY benchmarks/scale_throughput.py --payload .device \
  --random-weights ${QUALITY---quality} --devices cuda --stages "${STAGES:-encode,train,generate}" \
  --out "$OUT" > /dev/null
echo "benchmark exit $?"
(cd "$OUT" && tar czf runs.tar.gz runs && rm -rf runs)
ls -la "$OUT"
