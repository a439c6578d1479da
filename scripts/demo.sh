#!/usr/bin/env bash
# The main job on the built-in default: make the synthetic shapes dataset and describe it.
# Later steps (segment, train, evaluate, app) are added here as they land.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${SEGSCOPE_DEMO:-demo}
BIN=.venv/bin
$BIN/segscope datasets make-shapes "$OUT/shapes" --n 200 --size 256 --seed 0
$BIN/segscope info "$OUT/shapes"
