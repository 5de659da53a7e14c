# Sourced by the Makefile's run targets: defaults for every variable the processes read.
# Anything already set in the environment wins. See .env.example for the full list.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p var
export DATABASE_URL="${DATABASE_URL:-sqlite:///$PWD/var/xiaoan.db}"
export XIAOAN_RASA_URL="${XIAOAN_RASA_URL:-http://127.0.0.1:5005}"
export XIAOAN_ACTION_URL="${XIAOAN_ACTION_URL:-http://127.0.0.1:5055/webhook}"
export XIAOAN_RASA_TOKEN="${XIAOAN_RASA_TOKEN:-$(.venv/bin/python -c 'from xiaoan.config import rasa_token; print(rasa_token())')}"
# Rasa sends it to the action server (endpoints.yml); the action server reads the same var/ file
export XIAOAN_ACTION_SECRET="${XIAOAN_ACTION_SECRET:-$(.venv/bin/python -c 'from xiaoan.config import action_secret; print(action_secret())')}"
export SANIC_HOST="${SANIC_HOST:-127.0.0.1}"   # the action server stays on loopback
export XIAOAN_HOST="${XIAOAN_HOST:-127.0.0.1}"
export PYTHONUNBUFFERED=1
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export SQLALCHEMY_SILENCE_UBER_WARNING=1
# Rasa telemetry and its Sentry crash reports would send tracebacks (which can hold citizens'
# messages) to Rasa's servers; this machine must not, and offline it only adds retries
export RASA_TELEMETRY_ENABLED=false
