#!/usr/bin/env bash
# Every test: Rasa data validation, Rasa test stories, pytest (unit, integration, browser, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/ensure-chromium.sh
make --no-print-directory train
export SQLALCHEMY_SILENCE_UBER_WARNING=1 TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1 RASA_TELEMETRY_ENABLED=false
echo "==> rasa data validate"
.venv/bin/rasa data validate --data data --config config.yml --quiet
echo "==> rasa test: end-to-end test stories (tests/stories: every user line parsed by the trained model)"
.venv/bin/rasa test core --model models/xiaoan.tar.gz --stories tests/stories --e2e \
  --fail-on-prediction-errors --out results/e2e --quiet
echo "==> rasa test: dialogue stories (tests/dialogue_stories: form answers are read by value, not by intent)"
.venv/bin/rasa test core --model models/xiaoan.tar.gz --stories tests/dialogue_stories \
  --fail-on-prediction-errors --out results/core --quiet
echo "==> pytest"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
