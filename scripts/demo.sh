#!/usr/bin/env bash
# The main job on the embedded default: set up, make sample data, run both purposes of the
# sample policy (SQLite workspace in ./demo), write the Art. 30 records.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ROWS=${ROWS:-100000}
# The key-encryption key's passphrase: set your own; this default is for the demo only.
export VEIL_KEK_PASSPHRASE=${VEIL_KEK_PASSPHRASE:-veil-demo-passphrase-change-me}
veil init demo
cd demo
if ! veil keys list >/dev/null 2>&1; then veil keys init; fi
veil sample --rows "$ROWS" --seed 42 -o transactions.csv --labels memo_labels.jsonl
veil policy check sample
veil run --policy sample --purpose credit_scoring transactions.csv -o credit_scoring.parquet
veil run --policy sample --purpose fraud_detection transactions.csv -o fraud_detection.parquet
veil audit verify
veil ropa --policy sample -o .
veil runs list --limit 5
echo
echo "Done. Outputs, receipts and ropa.md are in $(pwd)"
