#!/usr/bin/env bash
# The main job on the built-in default (`make demo`): make the synthetic shapes dataset, describe
# it, segment it with a classical method, train a small U-Net, predict, evaluate on the test
# split (metrics table + HTML report), store everything in a workspace and open it in the app.
#
#   SEGSCOPE_DEMO=DIR        output folder (default: demo; recreated on every run)
#   SEGSCOPE_DEMO_EPOCHS=N   training epochs (default: 6, a few minutes on a 2-core CPU)
#   SEGSCOPE_DEMO_APP=0      finish without starting the app (it otherwise serves until Ctrl+C)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${SEGSCOPE_DEMO:-demo}
EPOCHS=${SEGSCOPE_DEMO_EPOCHS:-6}
BIN=.venv/bin
export SEGSCOPE_WORKSPACE="$OUT/workspace.db"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$OUT"
mkdir -p "$OUT"

step "1/7 make the synthetic shapes dataset (200 images, 4 classes, exact ground truth)"
$BIN/segscope datasets make-shapes "$OUT/shapes" --n 200 --size 256 --seed 0

step "2/7 describe it"
$BIN/segscope info "$OUT/shapes"
$BIN/segscope add "$OUT/shapes" --name shapes

step "3/7 segment the test images with a classical method (SLIC superpixels, kept as instances)"
mkdir -p "$OUT/test_images"
while read -r id; do ln -s "../shapes/images/$id.png" "$OUT/test_images/$id.png"; done < "$OUT/shapes/splits/test.txt"
$BIN/segscope segment "$OUT/test_images" --method slic --param n_segments=150 --out "$OUT/runs/slic" --into shapes

step "4/7 train a small U-Net (ResNet-18 encoder, from scratch, 128-pixel crops) for $EPOCHS epochs"
$BIN/segscope train "$OUT/shapes" --model unet --encoder resnet18 --epochs "$EPOCHS" \
    --crop 128 --batch-size 8 --lr 2e-3 --val-split val --out "$OUT/runs/unet"

step "5/7 predict the test split with the trained model"
$BIN/segscope predict "$OUT/runs/unet" "$OUT/shapes" --split test --out "$OUT/runs/unet/pred"

step "6/7 evaluate on the test split: metrics table, JSON, per-sample CSV, HTML report"
$BIN/segscope evaluate "$OUT/shapes" "$OUT/runs/unet/pred" --split test --task semantic --boundary \
    --json "$OUT/eval_unet.json" --per-sample "$OUT/eval_unet.csv" --report "$OUT/report.html" \
    --into shapes --key unet
echo "HTML report: $OUT/report.html"

step "7/7 the workspace in the web app"
$BIN/segscope ls shapes
if [ "${SEGSCOPE_DEMO_APP:-1}" = "0" ]; then
    echo "open it with: $BIN/segscope app shapes --workspace $SEGSCOPE_WORKSPACE"
else
    $BIN/segscope app shapes --port "${SEGSCOPE_PORT:-5151}"
fi
