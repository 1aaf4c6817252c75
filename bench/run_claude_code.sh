#!/usr/bin/env bash
# run_claude_code.sh: run the real Claude Code CLI once, headless and offline, against a local
# Anthropic-compatible endpoint (for example this project's proxy).
#
# It is for trying the real CLI against the proxy by hand. It is NOT part of the test suite, and
# CI does not run it.
#
# usage: bench/run_claude_code.sh BASE_URL "prompt" [extra claude args...]
#   e.g. bench/run_claude_code.sh http://127.0.0.1:8080 "say hi"
#        bench/run_claude_code.sh http://127.0.0.1:8080 "run echo hello" --tools Bash --allowedTools Bash
#
# What it does:
#   - If ${CLAUDE_CODE_DIR:-/tmp/claude-code-cli}/node_modules/.bin/claude is missing, it installs
#     @anthropic-ai/claude-code@${CLAUDE_CODE_VERSION:-2.1.197} there with npm. Only the npm registry is
#     needed: the native binary comes from the optional dependency @anthropic-ai/claude-code-linux-x64.
#     An existing install is used whatever its version.
#   - It makes a fresh temporary HOME, so there is no login, onboarding or old session, and a fresh
#     temporary working directory that holds only hello.txt. Both are removed afterwards unless KEEP_TMP=1.
#   - It runs `claude -p PROMPT --output-format json EXTRA...` with a 180 s timeout (CLAUDE_TIMEOUT) and
#     stdin from /dev/null, prints claude's stdout, and exits with claude's exit code (124 on timeout).
#
# Notes:
#   - As root, --dangerously-skip-permissions is refused. Use --allowedTools "Bash,Read,Glob,Grep", or
#     --tools Bash --allowedTools Bash. A denied tool does not make is_error true: look at
#     permission_denials.
#   - An unreachable endpoint gives exit 1 and `"is_error":true` with `"subtype":"success"`, so check
#     is_error, not subtype.
#   - HTTP(S)_PROXY point at a refusing loopback port, so nothing leaves the machine. NO_PROXY must list
#     the BASE_URL host; otherwise the http:// base URL itself goes through HTTP_PROXY and fails with
#     ConnectionRefused.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 BASE_URL \"prompt\" [extra claude args...]" >&2
    exit 2
fi
BASE_URL=$1
PROMPT=$2
shift 2

CC_DIR=${CLAUDE_CODE_DIR:-/tmp/claude-code-cli}
CC_VERSION=${CLAUDE_CODE_VERSION:-2.1.197}
CLAUDE_BIN=$CC_DIR/node_modules/.bin/claude
PKG_DIR=$CC_DIR/node_modules/@anthropic-ai/claude-code

if [[ ! -e $CLAUDE_BIN ]]; then
    echo "[run_claude_code] installing @anthropic-ai/claude-code@$CC_VERSION into $CC_DIR" >&2
    mkdir -p "$CC_DIR"
    [[ -f $CC_DIR/package.json ]] || echo '{"name":"claude-code-cli","version":"0.0.0","private":true}' >"$CC_DIR/package.json"
    npm install --prefix "$CC_DIR" --no-audit --no-fund "@anthropic-ai/claude-code@$CC_VERSION" >&2
fi
# If npm skipped the postinstall (ignore-scripts), bin/claude.exe is a small stub that only prints an
# error. Running install.cjs links the native binary into place.
if ! "$CLAUDE_BIN" --version >/dev/null 2>&1; then
    echo "[run_claude_code] claude binary not usable; running the package's install.cjs" >&2
    (cd "$PKG_DIR" && node install.cjs) >&2
    "$CLAUDE_BIN" --version >/dev/null
fi

TMP_HOME=$(mktemp -d /tmp/cc-home.XXXXXX)
WORK_DIR=$(mktemp -d /tmp/cc-work.XXXXXX)
cleanup() {
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        echo "[run_claude_code] kept HOME=$TMP_HOME workdir=$WORK_DIR" >&2
    else
        rm -rf "$TMP_HOME" "$WORK_DIR"
    fi
}
trap cleanup EXIT
echo "hello from run_claude_code.sh" >"$WORK_DIR/hello.txt"

# Host of BASE_URL (handles [v6]:port), for NO_PROXY.
base_host=${BASE_URL#*://}
base_host=${base_host%%/*}
if [[ $base_host == \[* ]]; then
    base_host=${base_host%%]*}
    base_host=${base_host#[}
else
    base_host=${base_host%%:*}
fi
REFUSING_PROXY=${REFUSING_PROXY:-http://127.0.0.1:9}
NOPROXY_LIST="127.0.0.1,localhost,::1,$base_host"

cd "$WORK_DIR"
set +e
env -u CLAUDE_CONFIG_DIR -u CLAUDECODE -u CLAUDE_CODE_ENTRYPOINT -u CLAUDE_CODE_SSE_PORT \
    -u ANTHROPIC_AUTH_TOKEN -u all_proxy -u ALL_PROXY \
    HOME="$TMP_HOME" \
    ANTHROPIC_BASE_URL="$BASE_URL" \
    ANTHROPIC_API_KEY=sk-ant-test-000 \
    DISABLE_TELEMETRY=1 \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
    DISABLE_AUTOUPDATER=1 \
    DISABLE_ERROR_REPORTING=1 \
    CLAUDE_CODE_MAX_RETRIES=1 \
    HTTPS_PROXY="$REFUSING_PROXY" https_proxy="$REFUSING_PROXY" \
    HTTP_PROXY="$REFUSING_PROXY" http_proxy="$REFUSING_PROXY" \
    NO_PROXY="$NOPROXY_LIST" no_proxy="$NOPROXY_LIST" \
    timeout -k 10 "${CLAUDE_TIMEOUT:-180}" \
    "$CLAUDE_BIN" -p "$PROMPT" --output-format json "$@" </dev/null
rc=$?
set -e
exit "$rc"
