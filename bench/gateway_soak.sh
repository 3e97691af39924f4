#!/usr/bin/env bash
# Soak: the gateway under steady load for SECONDS (default 600), its RSS sampled every 30 s, to show memory stays
# flat (LiteLLM's memory growth is a top complaint, #12685, #15128). Run from the repository root; needs wrk.
# Usage: PYTHON=.venv/bin/python SECONDS_TOTAL=600 bash bench/gateway_soak.sh
set -u
PY=${PYTHON:-python3}
# Each run in a scratch working directory: the gateway's default SQLite store (./tollway.db) starts empty there, and
# no benchmark's rows are left in the checkout (a store millions of rows big writes each new row more slowly).
case $PY in */*) PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" ;; esac  # absolute (not resolved: a venv)
ROOT=$(pwd); SCRATCH=$(mktemp -d); cd "$SCRATCH" || exit 1
TOTAL=${SECONDS_TOTAL:-600}
UP=${UP:-9321}; GW=${GW:-4321}; CFG=$(mktemp --suffix=.yaml)
KEY=sk-bench-master-key-0123456789
$PY "$ROOT/bench/fake_upstream.py" $UP >/dev/null 2>&1 & UPPID=$!
sleep 1
cat > "$CFG" <<YAML
model_list:
  - model_name: fake
    litellm_params: {model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:$UP/v1", api_key: upstream-key}
general_settings: {master_key: $KEY}
YAML
$PY -m tollway.cli serve --config "$CFG" --port $GW >/dev/null 2>&1 & GWPID=$!
until curl -s -o /dev/null http://127.0.0.1:$GW/health/liveliness; do
  kill -0 $GWPID 2>/dev/null || { echo "the gateway exited before it was ready"; exit 1; }
  sleep 0.05
done
export BENCH_KEY=$KEY BENCH_MODEL=fake
wrk -t1 -c32 -d${TOTAL}s -s "$ROOT/bench/chat.lua" http://127.0.0.1:$GW/v1/chat/completions > /tmp/soak_wrk.txt & WRKPID=$!
echo "seconds rss_mb"
for ((t = 0; t <= TOTAL; t += 30)); do
  echo "$t $(awk '/VmRSS/{print int($2/1024)}' /proc/$GWPID/status)"
  sleep 30
done
wait $WRKPID
grep -E "requests in|Non-2xx|Socket errors" /tmp/soak_wrk.txt
kill $GWPID $UPPID; rm -f "$CFG"
cd "$ROOT" && rm -rf "$SCRATCH"
