# Sourced by the scripts that test a running server (scripts/schemathesis, scripts/browser):
# starts `blindvault serve` on a free loopback port on one deployment, with cheap hashing.
#
#   start_server embedded|production [extra serve flags...]
#
# Needs WORK (a scratch directory the caller removes) and log(). Sets BIN, URL and SERVER
# (the pid); the caller's cleanup stops SERVER. `production` uses scripts/test's environment
# (BLINDVAULT_TEST_DATABASE_URL, BLINDVAULT_TEST_S3_ENDPOINT, BLINDVAULT_TEST_S3_BUCKET) and
# gets a database and key prefix of its own. BLINDVAULT_TEST_PROFILE=release uses the release
# build (for the long browser uploads); the default is the debug build the tests share.

start_server() {
  local deployment=$1; shift
  local profile="${BLINDVAULT_TEST_PROFILE:-debug}" flag=()
  [ "$profile" = release ] && flag=(--release)
  cargo build --locked --quiet "${flag[@]}" --bin blindvault
  BIN="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/$profile/blindvault"
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  local args=(serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" --argon2-m-kib 256 --argon2-t 1)
  case "$deployment" in
    embedded) ;;
    production)
      local name="bv_test_$(date +%s)_${RANDOM}_$$"
      psql -q -d "$BLINDVAULT_TEST_DATABASE_URL" -c "CREATE DATABASE $name"
      args+=(--database-url "${BLINDVAULT_TEST_DATABASE_URL%/*}/$name"
        --storage-url "s3://$BLINDVAULT_TEST_S3_BUCKET/$name" --s3-endpoint "$BLINDVAULT_TEST_S3_ENDPOINT"
        --s3-allow-http true --s3-access-key-id test --s3-secret-access-key test
        --jwt-secret test-secret-0123456789abcdef0123456789 \
        --secrets-key dGVzdC1zZWNyZXRzLWtleS0wMTIzNDU2Nzg5YWJjZGU=) ;;
    *) log "unknown deployment: $deployment (embedded or production)"; return 2 ;;
  esac
  RUST_LOG=warn BLINDVAULT_LOG_FORMAT=json "$BIN" "${args[@]}" "$@" >"$WORK/server.log" 2>&1 &
  SERVER=$!
  URL="http://127.0.0.1:$port"
  for _ in $(seq 200); do curl -sf "$URL/health/ready" >/dev/null && return 0; sleep 0.1; done
  log "the server did not become ready:"; tail -n 30 "$WORK/server.log" >&2
  return 1
}
