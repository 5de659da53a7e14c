#!/usr/bin/env bash
# Prepares the database and starts Rasa, the action server and the web app together (honcho).
set -euo pipefail
source "$(dirname "$0")/env.sh"
.venv/bin/xiaoan db upgrade
.venv/bin/xiaoan kb import knowledge_base --if-empty
cat <<MSG

  小安 is starting (Ctrl-C stops everything):
    citizen chat      http://127.0.0.1:8000/
    staff console     http://127.0.0.1:8000/console
    Rasa server       http://127.0.0.1:5005   (API token in var/rasa_token)
    action server     http://127.0.0.1:5055

MSG
exec .venv/bin/honcho start -f Procfile
