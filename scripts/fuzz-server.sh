# Sourced by scripts/fuzz-api and scripts/fuzz-meshery: what both need around schemathesis.
# The caller sets `fuzz_name` (for messages) and may add files to `fuzz_report_extras` (kept
# with the report), then calls fuzz_isolate "$0" "$@" and fuzz_start_server.
#
# Builds nothing: it runs .build/debug/switchboard (from `swift build`) or $SWITCHBOARD_BINARY.
# Keeps schemathesis, pinned, in a venv under .build/fuzz-venv. The server gets a free loopback
# port and a fresh data folder, and runs with schemathesis in a network namespace of its own that
# has loopback only: fuzzed connections name arbitrary URLs, and the server checks them, so no
# check may leave the machine. It is stopped on every exit.
PATH=$PATH:/usr/sbin:/sbin
schemathesis_version=4.32.5
venv=.build/fuzz-venv
binary=${SWITCHBOARD_BINARY:-.build/debug/switchboard}
fuzz_report_extras=()

# Checks the binary and the venv, then runs the calling script again inside a new network
# namespace (loopback only; as root, or else in a user namespace of its own). Returns only there.
fuzz_isolate() {
    [[ -n ${SWITCHBOARD_FUZZ_ISOLATED:-} ]] && return 0
    if [[ ! -x $binary ]]; then
        echo "$fuzz_name: no server binary at $binary; run swift build first (or set SWITCHBOARD_BINARY)" >&2
        exit 1
    fi
    if [[ "$("$venv/bin/st" --version 2>/dev/null || true)" != *" $schemathesis_version" ]]; then
        echo "$fuzz_name: installing schemathesis $schemathesis_version into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv" 2>/dev/null || /usr/bin/python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
    fi
    local namespace=(--net)
    [[ $(id -u) -ne 0 ]] && namespace=(--user --map-root-user --net)
    exec unshare "${namespace[@]}" -- env SWITCHBOARD_FUZZ_ISOLATED=1 "$@"
}

fuzz_stop() {
    local status=$?
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ -n ${FUZZ_API_REPORT_DIR:-} ]]; then
        mkdir -p "$FUZZ_API_REPORT_DIR"
        cp -r "$work/server.log" "$work/report" "${fuzz_report_extras[@]/#/$work/}" "$FUZZ_API_REPORT_DIR/" 2>/dev/null || true
    fi
    if ((status != 0)) && [[ -f $work/server.log ]]; then
        echo "$fuzz_name: failed; the server log's errors:" >&2
        grep -E ' (error|critical) ' "$work/server.log" | tail -n 20 >&2 || true
    fi
    rm -rf "$work"
    echo "$fuzz_name: $( ((status == 0)) && echo passed || echo FAILED ) in $(($(date +%s) - started)) s"
    exit "$status"
}

# Makes $work, starts the server with a fresh data folder in it, and sets server_pid, base (its
# address), data and token (the admin token); stops it on every exit.
fuzz_start_server() {
    ip link set lo up
    started=$(date +%s)
    work=$(mktemp -d "/tmp/switchboard-$fuzz_name.XXXXXX")
    server_pid=""
    trap fuzz_stop EXIT
    trap 'exit 130' INT TERM
    data=$work/data
    mkdir -p "$data/secrets"
    "$binary" serve --host 127.0.0.1 --port 0 --data-dir "$data" --no-import-kubeconfig \
        --secret-files-under "$data/secrets" --check-timeout 1 --log-level warning >"$work/server.log" 2>&1 &
    server_pid=$!
    base=""
    for _ in $(seq 300); do
        base=$(grep -o 'API at http://127\.0\.0\.1:[0-9]*' "$work/server.log" | head -n 1 | sed 's/^API at //') || true
        [[ -n $base ]] && break
        kill -0 "$server_pid" 2>/dev/null || { echo "$fuzz_name: the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
        sleep 0.1
    done
    [[ -n $base ]] || { echo "$fuzz_name: the server printed no address in 30 s" >&2; exit 1; }
    token=$(cat "$data/admin-token")
    echo "$fuzz_name: server at $base (data in $data)"
}

api() { # METHOD PATH [JSON]: prints the body; fails on an error status
    curl --silent --show-error --fail-with-body -X "$1" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' ${3:+--data "$3"} "$base$2"
}
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
quoted() { printf '"%s", ' "$@" | sed 's/, $//'; }
