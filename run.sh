#!/usr/bin/env bash
# synth-humans: one entry point for setup, the main job and the tests.
#
#   ./run.sh generate [OUT]   set up, then generate the embedded default dataset with a
#                             local broker and local workers (default OUT: out/default)
#   ./run.sh test             set up, then run the whole test suite (what CI runs)
#   ./run.sh setup            only create/refresh the virtual environment (.venv)
#   ./run.sh bench [WHAT]     set up, then run the benchmarks (render|farm|refiner|reid|all)
#   ./run.sh python ...       run the environment's Python
#
# Setup is idempotent: a second run reuses .venv and only reinstalls when pyproject.toml
# changed. Override the environment's folder with SYNTH_HUMANS_VENV.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${SYNTH_HUMANS_VENV:-$ROOT/.venv}
PY=$VENV/bin/python

find_python311() {
  for cand in python3.11 python3 python; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  echo "synth-humans needs Python 3.11 (bpy 5.0.1 is built for it); none found on PATH" >&2
  return 1
}

setup() {
  if [ ! -x "$PY" ]; then
    echo "== creating virtual environment in $VENV"
    "$(find_python311)" -m venv "$VENV"
  fi
  local stamp="$VENV/.synth-humans-installed" want
  want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "== environment up to date ($VENV)"
    return 0
  fi
  echo "== installing dependencies into $VENV (first time: a few minutes)"
  "$PY" -m pip install --quiet --upgrade pip wheel
  # torch first and alone: pinned, so pip never pulls a different (multi-GB) build.
  "$PY" -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
  "$PY" -m pip install --quiet -e ".[blender,torch,test]"
  echo "$want" > "$stamp"
}

run_tests() {
  export PYTHONHASHSEED=0
  # Two sessions: the fast Blender-free tests must not import bpy at all (checked by
  # tests/conftest.py), then the tests that build real bpy scenes.
  local rc=0
  "$PY" -m pytest -m "not blender" -q -p no:cacheprovider "$@" || rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then return $rc; fi
  rc=0
  "$PY" -m pytest -m "blender" -q -p no:cacheprovider "$@" || rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then return $rc; fi
  # The numeric tests again on the kernels of a CPU without AVX-512 (torch's and oneDNN's
  # caps; amp "auto" is float32 there), so a machine of that kind cannot surprise us.
  # SYNTH_HUMANS_SKIP_AVX2=1 skips it (e.g. when the whole suite already runs under avx2).
  rc=0
  if [ "${SYNTH_HUMANS_SKIP_AVX2:-0}" != "1" ]; then
    echo "== numeric tests under ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2"
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \
      "$PY" -m pytest -m "numeric and not blender" -q -p no:cacheprovider "$@" || rc=$?
    if [ $rc -eq 5 ]; then rc=0; fi
  fi
  return $rc
}

cmd=${1:-help}
shift || true
case "$cmd" in
  setup) setup ;;
  test) setup; run_tests "$@" ;;
  generate)
    setup
    # ./run.sh generate [OUT] [OPTIONS...]: OUT is optional, so `./run.sh generate -q` works too
    out=out/default
    if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then out=$1; shift; fi
    "$PY" -m headless generate examples/presets/default.toml --output "$out" "$@"
    ;;
  bench) setup; "$PY" benchmarks/run.py "${@:-all}" ;;
  python) setup >/dev/null; exec "$PY" "$@" ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
