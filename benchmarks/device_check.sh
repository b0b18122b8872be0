#!/usr/bin/env bash
# The GPU check of issue 13, for one lent CUDA machine, in under 8 minutes (BUDGET=450 s over all steps):
#   1. a Python whose torch sees CUDA (the one on the path or .venv; else a venv built here, if an index is reachable)
#   2. the CUDA tests (pytest -k cuda: values and gradients of the ops against the reference on the GPU)
#   3. a short `gatedgcn train --device cuda`
#   4. the layer benchmark on CUDA against PyG (bench.py layers --device cuda), table into docs/performance.md
# Everything it writes lands in $OUT (default ./device-check-out): logs, summary.txt, the results json and the doc;
# copy $OUT/layers-cuda.json to benchmarks/results/ and run `bench.py render` to keep the table.
#
#   OUT=/tmp/out bash benchmarks/device_check.sh
#   DEVICE=cpu REPS=1 bash benchmarks/device_check.sh    # the same steps on the CPU: checks the script itself
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/device-check-out}
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
START=$(date +%s)
BUDGET=${BUDGET:-450}  # seconds for all of it: each step's own limit is cut to what is left
elapsed() { echo $(($(date +%s) - START)); }
limit() { local left=$((BUDGET - $(elapsed))); [ "$left" -lt "$1" ] && echo $((left > 1 ? left : 1)) || echo "$1"; }

nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || note "nvidia-smi failed (see nvidia-smi.txt)"

DEVICE=${DEVICE:-cuda}
sees_cuda() {
  [ "$DEVICE" = cpu ] && { "$1" -c 'import torch' >/dev/null 2>&1; return; }
  "$1" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1
}

PY=""
for candidate in "${PYTHON:-}" "$ROOT/.venv/bin/python" "$ROOT/.venv-gpu/bin/python" python3 python; do
  [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && sees_cuda "$candidate" && { PY=$(command -v "$candidate"); break; }
done
if [ -z "$PY" ]; then
  note "no Python here has torch with CUDA: building .venv-gpu (needs a reachable package index)"
  python3 -m venv --system-site-packages "$ROOT/.venv-gpu" >>"$OUT/setup.log" 2>&1
  timeout "$(limit 150)" "$ROOT/.venv-gpu/bin/pip" install --quiet torch >>"$OUT/setup.log" 2>&1
  sees_cuda "$ROOT/.venv-gpu/bin/python" && PY=$ROOT/.venv-gpu/bin/python
fi
if [ -z "$PY" ]; then
  note "FAILED: no torch with CUDA could be found or installed (setup.log); nothing was run"
  exit 1
fi
note "python: $PY; $("$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name(0))')"

# the project from this tree (no install); what it needs beyond torch, installed only if missing
export PYTHONPATH=$ROOT/src${PYTHONPATH:+:$PYTHONPATH}
missing=$("$PY" - <<'EOF'
import importlib.util
need = {"numpy": "numpy", "scipy": "scipy", "networkx": "networkx", "safetensors": "safetensors", "yaml": "PyYAML",
        "tqdm": "tqdm", "matplotlib": "matplotlib", "pytest": "pytest", "hypothesis": "hypothesis",
        "torch_geometric": "torch_geometric"}
print(" ".join(pkg for mod, pkg in need.items() if importlib.util.find_spec(mod) is None))
EOF
)
if [ -n "$missing" ]; then
  note "installing what is missing: $missing"
  timeout "$(limit 90)" "$PY" -m pip install --quiet $missing >>"$OUT/setup.log" 2>&1 || note "pip install failed (setup.log)"
fi
note "setup done after $(elapsed) s"

status=0
timeout "$(limit 200)" "$PY" -m pytest -q -rs -k cuda -p no:cacheprovider tests >"$OUT/tests.log" 2>&1
rc=$?
note "CUDA tests (pytest -k cuda): rc $rc, $(tail -n 1 "$OUT/tests.log"), after $(elapsed) s"
[ "$rc" -eq 5 ] && note "  (rc 5: no test matched -k cuda)"
[ "$rc" -eq 0 ] || status=1

timeout "$(limit 90)" "$PY" -m gatedgcn train --device "$DEVICE" --epochs 2 --quiet --out "$OUT/train-run" --overwrite \
  >"$OUT/train.log" 2>&1
rc=$?
note "gatedgcn train --device $DEVICE --epochs 2: rc $rc, after $(elapsed) s"
[ "$rc" -eq 0 ] || status=1

# on the CPU (a check of this script) the tables are printed only, so that the stored CPU results stay as they are
keep=$([ "$DEVICE" = cpu ] && echo --no-save)
REPS=${REPS:-9}
timeout "$(limit 150)" "$PY" benchmarks/bench.py layers --device "$DEVICE" --reps "$REPS" $keep >"$OUT/bench.log" 2>&1
rc=$?
note "bench.py layers --device $DEVICE --reps $REPS: rc $rc, after $(elapsed) s"
[ "$rc" -eq 0 ] || status=1
cat "$OUT/bench.log" >>"$SUMMARY"
cp benchmarks/results/layers-*.json docs/performance.md "$OUT/" 2>/dev/null

note "done in $(elapsed) s, status $status"
exit $status
