#!/usr/bin/env bash
# The public-API check: renders the crate's public surface (rustdoc JSON -> scripts/public-api.py)
# and compares it with public-api.txt, so a change of the public API is a visible decision.
#   scripts/public-api.sh           check (CI): exit 1 with the diff when the API changed
#   scripts/public-api.sh --bless   rewrite public-api.txt after an intended change
set -euo pipefail

# Called by cargo as $RUSTDOC (see below): only rustdoc gets RUSTC_BOOTSTRAP (for the unstable
# JSON output). Setting it for cargo instead would rebuild every dependency: build scripts such
# as proc-macro2's rerun when RUSTC_BOOTSTRAP changes, and everything downstream with them.
if [ -n "${PUBLIC_API_RUSTDOC:-}" ]; then
  RUSTC_BOOTSTRAP=1 exec "$PUBLIC_API_RUSTDOC" "$@"
fi

cd "$(dirname "$0")/.."
bless=0
case "${1:-}" in
  --bless) bless=1 ;;
  "") ;;
  *) echo "usage: scripts/public-api.sh [--bless]" >&2; exit 2 ;;
esac

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
json="$target_dir/doc/bearer_guard.json"
rm -f "$json"
PUBLIC_API_RUSTDOC="${RUSTDOC:-rustdoc}" RUSTDOC="$PWD/scripts/public-api.sh" \
  cargo rustdoc --quiet --lib --all-features -- -Zunstable-options --output-format json
listing=$(mktemp)
trap 'rm -f "$listing"' EXIT
python3 scripts/public-api.py "$json" > "$listing"

if [ "$bless" = 1 ]; then
  cp "$listing" public-api.txt
  echo "public-api.txt: $(wc -l < public-api.txt) lines"
elif ! diff -u --label public-api.txt --label "the public API now" public-api.txt "$listing"; then
  echo >&2
  echo "the public API changed: review the diff above; if intended, run scripts/public-api.sh --bless and commit public-api.txt" >&2
  exit 1
else
  echo "public API unchanged ($(wc -l < public-api.txt) lines in public-api.txt)"
fi
