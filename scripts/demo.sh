#!/usr/bin/env bash
# The main job on the embedded default (SQLite workspace in ./demo): set up, make sample data
# and consents, scan it, run the sample policy's three purposes (the consent one filters rows),
# answer one customer's access request and another's erasure (which reaches the outputs and the
# recipients), score credit decisions with a registered model, record a breach, draft the DPIA,
# verify the audit log, write the Art. 30 records.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh ml   # the credit-decision part trains a scikit-learn model
export PATH="$PWD/.venv/bin:$PATH"
ROWS=${ROWS:-100000}
# The key-encryption key's passphrase: set your own; this default is for the demo only.
export VEIL_KEK_PASSPHRASE=${VEIL_KEK_PASSPHRASE:-veil-demo-passphrase-change-me}
# Each run starts from a fresh demo/ (the previous demo's workspace and outputs are replaced).
rm -rf demo
veil init demo
cd demo
veil keys init
veil sample --rows "$ROWS" --seed 42 -o transactions.csv --labels memo_labels.jsonl \
  --consents consents.csv
veil scan transactions.csv --sample 20000
printf 'We use your card spending to suggest offers. You can withdraw at any time.\n' > notice_v1.txt
veil consent notice add personalised_offers --version 1 --text-file notice_v1.txt -p sample \
  --effective 2024-01-01T00:00:00Z
veil policy check sample             # inside a workspace: consent purposes need their notice
veil consent import consents.csv -p sample
veil run --policy sample --purpose credit_scoring transactions.csv -o credit_scoring.parquet
veil run --policy sample --purpose fraud_detection transactions.csv -o fraud_detection.parquet
veil run --policy sample --purpose personalised_offers transactions.csv -o offers.parquet
# Lineage and data-subject rights: a model trained on the scoring output, then one customer's
# access request and another's erasure (the bank's store is a SQLite table loaded from the sample).
veil lineage register-model credit-model.v1 --trained-on credit_scoring.parquet
veil dsr load-store transactions transactions.csv -p sample --replace
# Two customers: one asks for access (the package stays in demo/dsr/), another for erasure.
read -r SUBJECT OTHER < <(python -c 'import csv
ids = dict.fromkeys(r["customer_id"] for r in csv.DictReader(open("transactions.csv")))
print(*list(ids)[:2])')
request_id() { python -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
ACCESS="$(veil dsr open access "$SUBJECT" -p sample --verification "demo" --json | request_id)"
veil dsr run "$ACCESS"
# The package is stored encrypted; export decrypts it for delivery (recorded): open
# demo/access-package/package.html in a browser.
veil dsr export "$ACCESS" -o access-package --reason "demo: delivered to the customer"
ERASURE="$(veil dsr open erasure "$OTHER" -p sample --verification "demo" --json | request_id)"
veil dsr run "$ERASURE"          # credit_scoring.parquet is rebuilt without them (on_erasure: rebuild)
veil recipients notices --pending # Art. 19: the recipients to tell, until they acknowledge
veil lineage models               # the model trained before the erasure: to retrain
veil retention status             # every output's expiry (calendar-correct) from its purpose
veil run --policy sample --purpose credit_scoring transactions.csv -o credit_scoring.v2.parquet
# A breach: the scoring output copied to a lost laptop (encrypted, key safe: documented only).
AWARE=$(python -c 'from datetime import UTC, datetime, timedelta; print((datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
BREACH="$(veil breach open --title "Laptop with the scoring output lost" --occurred "$AWARE" --aware "$AWARE" --nature confidentiality --output credit_scoring.parquet --policy sample --json | request_id)"
veil breach assess "$BREACH"
# Credit decisions (Art. 22 GDPR, AI Act): train a model on the scoring output, register it
# through the training-data gate, score applicants into the ledger, contest and review one,
# write the model card, the fairness report and one explanation into demo/decisions/.
python ../scripts/demo_credit.py -p sample
veil dpia --policy sample --purpose credit_scoring -o dpia   # Art. 35 draft: profiling, Art. 22
veil audit verify
veil ropa --policy sample -o .
veil runs list --limit 5
echo
echo "Done. Outputs, receipts, dsr/, decisions/, dpia/ and ropa.md are in $(pwd)"
