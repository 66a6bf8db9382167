#!/usr/bin/env bash
# The main job on the embedded default (SQLite workspace in ./demo): set up, make sample data
# and consents, scan it, run the sample policy's three purposes (the consent one filters rows),
# verify the audit log, write the Art. 30 records.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
ROWS=${ROWS:-100000}
# The key-encryption key's passphrase: set your own; this default is for the demo only.
export VEIL_KEK_PASSPHRASE=${VEIL_KEK_PASSPHRASE:-veil-demo-passphrase-change-me}
veil init demo
cd demo
if ! grep -q '^\[keys\]' veil.toml; then veil keys init; fi
veil sample --rows "$ROWS" --seed 42 -o transactions.csv --labels memo_labels.jsonl \
  --consents consents.csv
veil policy check sample
veil scan transactions.csv --sample 20000
printf 'We use your card spending to suggest offers. You can withdraw at any time.\n' > notice_v1.txt
veil consent notice add personalised_offers --version 1 --text-file notice_v1.txt -p sample \
  --effective 2024-01-01T00:00:00Z
veil consent import consents.csv -p sample
veil run --policy sample --purpose credit_scoring transactions.csv -o credit_scoring.parquet
veil run --policy sample --purpose fraud_detection transactions.csv -o fraud_detection.parquet
veil run --policy sample --purpose personalised_offers transactions.csv -o offers.parquet
veil audit verify
veil ropa --policy sample -o .
veil runs list --limit 5
echo
echo "Done. Outputs, receipts and ropa.md are in $(pwd)"
