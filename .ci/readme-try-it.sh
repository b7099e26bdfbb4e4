#!/usr/bin/env bash
# Runs the README's "Try it with a real client" block as a new user types it, right after
# `npm ci` on a fresh clone (so no build step in between): every line exactly as written,
# `npm install` aside (CI just ran `npm ci`), and `npm start` in the background. Then SIPp
# registers alice with the README's password, which proves the realm, the CLI and the server agree.
set -euo pipefail
cd "$(dirname "$0")/.."

# the first ```sh block after the heading
block=$(awk '/^## Try it with a real client/{s=1} s&&/^```sh$/{b=1;next} b&&/^```$/{exit} b{print}' README.md)
if ! grep -q '^npx parley user add' <<<"$block"; then echo "ci: no 'npx parley user add' line in the README's Try it block" >&2; exit 1; fi
if [ -e data ]; then echo "ci: ./data exists before the README check" >&2; exit 1; fi

script=$(mktemp)
log=$(mktemp)
{
  echo 'set -euo pipefail'
  while IFS= read -r line; do
    case "$line" in
      'npm install'*) echo "# skipped (CI ran npm ci): $line" ;;
      'npm start'*) echo "echo '+ $line &'; $line >\"$log\" 2>&1 & echo \$! > \"$log.pid\"" ;;
      *) echo "echo '+ $line'; $line" ;;
    esac
  done <<<"$block"
  echo 'declare -p PARLEY_DOMAIN > '"$log.env"' 2>/dev/null || true'
} >"$script"
bash "$script"

# only the appliance `npm start` began here (its working folder is this clone): another one on the
# machine (a user's, a benchmark's, another clone's CI) is not ours to stop
cleanup() {
  local here pid
  here=$(pwd -P)
  for pid in $(pgrep -f "appliance/dist/cli.js start" || true); do
    if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$here" ]; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  sleep 1
  rm -rf data
}
trap cleanup EXIT
# shellcheck disable=SC1090
source "$log.env"
for _ in $(seq 1 120); do
  if curl -fsS http://127.0.0.1:8080/health >/dev/null 2>&1; then break; fi
  sleep 0.5
done
curl -fsS http://127.0.0.1:8080/health >/dev/null || { echo "ci: the appliance did not start"; cat "$log"; exit 1; }
npx parley user list | grep -q '^alice' || { echo "ci: alice was not created"; exit 1; }
sipp 127.0.0.1:5060 -sf test/scenarios/register.xml -s alice -au alice -ap alice-secret -auth_uri "${PARLEY_DOMAIN:-localhost}" \
  -set domain "${PARLEY_DOMAIN:-localhost}" -set expires 300 -set contact 127.0.0.1:5071 \
  -m 1 -timeout 15s -timeout_error -nostdin || { echo "ci: alice could not register with the README's password"; cat "$log"; exit 1; }
echo "ci: README 'Try it' block works on a fresh clone"
