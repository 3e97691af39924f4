#!/usr/bin/env bash
# Gateway figures beside bench/gateway.py: cold start to ready, added p50 latency at one connection (direct to the
# fake upstream vs through the gateway), and --workers 2 scaling. Run from the repository root; needs wrk.
# Usage: PYTHON=.venv/bin/python bash bench/gateway_extra.sh
set -u
PY=${PYTHON:-python3}
# Each run in a scratch working directory: the gateway's default SQLite store (./tollway.db) starts empty there, and
# no benchmark's rows are left in the checkout (a store millions of rows big writes each new row more slowly).
case $PY in */*) PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" ;; esac  # absolute (not resolved: a venv)
ROOT=$(pwd); SCRATCH=$(mktemp -d); cd "$SCRATCH" || exit 1
UP=${UP:-9311}; GW=${GW:-4311}; GW2=${GW2:-4312}; CFG=$(mktemp --suffix=.yaml)
KEY=sk-bench-master-key-0123456789
$PY "$ROOT/bench/fake_upstream.py" $UP >/dev/null 2>&1 & UPPID=$!
sleep 1
cat > "$CFG" <<YAML
model_list:
  - model_name: fake
    litellm_params: {model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:$UP/v1", api_key: upstream-key}
general_settings: {master_key: $KEY}
YAML
start=$(date +%s.%N)
TOLLWAY_MASTER_KEY=$KEY $PY -m tollway.cli serve --config "$CFG" --port $GW >/dev/null 2>&1 & GWPID=$!
until curl -s -o /dev/null http://127.0.0.1:$GW/health/liveliness; do
  kill -0 $GWPID 2>/dev/null || { echo "the gateway exited before it was ready"; exit 1; }
  sleep 0.01
done
ready=$(date +%s.%N)
echo "cold start to ready: $(python3 -c "print(round(($ready-$start)*1000))") ms"
export BENCH_KEY=$KEY BENCH_MODEL=fake
direct=$(wrk -t1 -c1 -d5s --latency -s "$ROOT/bench/chat.lua" http://127.0.0.1:$UP/v1/chat/completions | awk '$1=="50%"{print $2}')
via=$(wrk -t1 -c1 -d5s --latency -s "$ROOT/bench/chat.lua" http://127.0.0.1:$GW/v1/chat/completions | awk '$1=="50%"{print $2}')
echo "p50 at 1 connection: direct to upstream $direct, through the gateway $via"
one=$(wrk -t2 -c64 -d8s -s "$ROOT/bench/chat.lua" http://127.0.0.1:$GW/v1/chat/completions | awk '/Requests\/sec/{print $2}')
kill $GWPID; sleep 1
TOLLWAY_MASTER_KEY=$KEY $PY -m tollway.cli serve --config "$CFG" --port $GW2 --workers 2 >/dev/null 2>&1 & GW2PID=$!
until curl -s -o /dev/null http://127.0.0.1:$GW2/health/liveliness; do
  kill -0 $GW2PID 2>/dev/null || { echo "the gateway exited before it was ready"; exit 1; }
  sleep 0.05
done
sleep 1
two=$(wrk -t2 -c64 -d8s -s "$ROOT/bench/chat.lua" http://127.0.0.1:$GW2/v1/chat/completions | awk '/Requests\/sec/{print $2}')
echo "requests/s, 64 connections, unpinned: 1 worker $one, 2 workers $two (ratio $(python3 -c "print(round($two/$one,2))"))"
kill $GW2PID $UPPID; sleep 1; rm -f "$CFG"
cd "$ROOT" && rm -rf "$SCRATCH"
