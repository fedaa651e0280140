# test_serve.sh - `evalctl serve` end to end: two servers on free loopback
# ports (--port 0; the port is read from the start line), driven by
# tests/serve_client.py, a client using only Python's standard library:
#   first:  greedy completions and chat equal `evalctl generate` (dense, and
#           streaming+delta asked per request), streams, stop strings, usage,
#           error objects, head/body timeouts (--timeout 1), a disconnect that
#           frees the slot, a bounded fuzzer, 8 concurrent clients, /health after;
#   second: --variant streaming+delta ... --api-key --queue 0: the command
#           line's variant, bearer tokens, 503 when the queue is full.
# Then SIGTERM stops each server cleanly (exit 0). Bad command lines give one
# error line. The servers are killed on exit whatever happens. Under a
# sanitizer build (a prefill at a few tokens/s) the client runs --quick.
. tests/lib.sh
E=$EVALCTL
SMOL=models/smollm2-135m-instruct.gguf
PIDS=""
QUICK=""
ldd "$E" 2>/dev/null | grep -q libasan && QUICK=--quick
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$T_TMP"' EXIT

expect_output "serve help" "$($E serve --help)" $E serve --help
$E serve >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "serve without --model must exit 2"
$E serve --model $SMOL --bogus >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "unknown option: exit 2"
$E serve --model $SMOL --port 70000 >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "--port 70000: exit 2"
expect_error "unknown variant" "unknown attention variant 'sliding'" $E serve --model $SMOL --variant sliding
expect_error "missing model" "nope.gguf" $E serve --model "$T_TMP/nope.gguf" --port 0
expect_error "host not numeric" "numeric address" $E serve --model $SMOL --host localhost --port 0

# start_server LOG ARGS...: starts it, waits for its start line, sets PORT and PID
start_server() {
    local log=$1; shift
    $E serve --model $SMOL --port 0 "$@" 2>"$log" &
    PID=$!
    PIDS="$PIDS $PID"
    PORT=""
    for _ in $(seq 1 100); do
        PORT=$(sed -n 's/^evalctl serve: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log")
        [ -n "$PORT" ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$PORT" ] || { t_bad "server did not start: $(cat "$log")"; return 1; }
    # /health answers before any test goes on
    for _ in $(seq 1 50); do
        python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=2)" \
            2>/dev/null && return 0
        sleep 0.1
    done
    t_bad "/health does not answer on port $PORT"
    return 1
}

# stop_server: SIGTERM, then it must exit 0 within a few seconds
stop_server() {
    local pid=$1 log=$2 rc
    kill -TERM "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then t_bad "server $pid still running 30 s after SIGTERM"; kill -9 "$pid"; return; fi
    wait "$pid"; rc=$?
    [ "$rc" -eq 0 ] && grep -q "^evalctl serve: stopped$" "$log" && t_ok || t_bad "server exit $rc: $(tail -3 "$log")"
}

# run_client ARGS...: adds the client's counts to ours, prints its STAT lines
run_client() {
    local out p f
    out=$(python3 tests/serve_client.py "$@" --evalctl "$E" --model $SMOL)
    printf '%s\n' "$out" | grep '^STAT ' | sed 's/^/  /'
    p=$(printf '%s\n' "$out" | sed -n 's/^RESULT serve_client passed=\([0-9]*\) failed=\([0-9]*\)$/\1/p')
    f=$(printf '%s\n' "$out" | sed -n 's/^RESULT serve_client passed=\([0-9]*\) failed=\([0-9]*\)$/\2/p')
    [ -n "$p" ] || { t_bad "serve_client printed no RESULT"; return; }
    T_PASS=$((T_PASS + p))
    T_FAIL=$((T_FAIL + f))
}

if [ ! -e "$SMOL" ]; then
    t_bad "$SMOL missing: run make model"
    done_tests serve
    exit
fi
if start_server "$T_TMP/a.log" --timeout 1 --max-body 65536 --queue 16; then
    A=$PID
    PA=$PORT
    if start_server "$T_TMP/b.log" --variant streaming+delta --sink 0 --window 2 --gamma 16 --api-key sekrit --queue 0
    then
        B=$PID
        grep -q "variant=streaming+delta sink=0 window=2 gamma=16" "$T_TMP/b.log" && t_ok ||
            t_bad "start line: $(cat "$T_TMP/b.log")"
        run_client --port "$PA" --port2 "$PORT" --key sekrit --seconds "${SERVE_FUZZ_SECONDS:-6}" $QUICK
        stop_server $B "$T_TMP/b.log"
    fi
    stop_server $A "$T_TMP/a.log"
fi
# a port in use is one error line
if start_server "$T_TMP/c.log"; then
    expect_error "port in use" "cannot listen on 127.0.0.1:$PORT" $E serve --model $SMOL --port "$PORT"
    stop_server $PID "$T_TMP/c.log"
fi

done_tests serve
