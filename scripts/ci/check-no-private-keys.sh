#!/usr/bin/env bash
# The runbooks' secret scan: no private key, cloud secret or bearer token in the repository.
#
#   scripts/ci/check-no-private-keys.sh [DIR]     (default: the repository this script is in)
#
# In a git work tree it scans the files git would commit (tracked, and untracked but not ignored:
# the ignored data folder .chainbook/ holds the local development key on purpose); elsewhere every
# file under DIR but .git/ and node_modules/. It looks for
#   - PEM private keys (PKCS#8, RSA, EC, DSA, OpenSSH, encrypted, PGP blocks),
#   - AWS secret access keys (40 characters after a name that says aws …secret or secret_access_key),
#   - Chainbook bearer tokens (cb_ and 43 base64url characters: infra/entrypoints/http/auth/tokens.ts).
# Each finding is printed as file:line and its kind, never the secret itself. Exit 0 when there is
# none, 1 when there is one or more, 2 when DIR cannot be read.
set -euo pipefail

dir=${1:-"$(dirname "$0")/../.."}
[ -d "$dir" ] || { echo "check-no-private-keys: $dir is not a folder" >&2; exit 2; }
cd "$dir"

files=$(mktemp)
trap 'rm -f "$files"' EXIT
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard -- . >"$files"
else
  find . \( -name .git -o -name node_modules \) -prune -o -type f -print0 >"$files"
fi

kinds=(
  'PEM private key'
  'AWS secret access key'
  'Chainbook bearer token'
)
patterns=(
  '-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----'
  '(secret_?access_?key|aws.{0,20}secret).{0,5}[^A-Za-z0-9/+=][A-Za-z0-9/+]{40}([^A-Za-z0-9/+=]|$)'
  '(^|[^A-Za-z0-9_-])cb_[A-Za-z0-9_-]{43}([^A-Za-z0-9_-]|$)'
)
flags=('-E' '-Ei' '-E')

found=0
for i in "${!kinds[@]}"; do
  # grep -Z ends each file name with NUL, then "line:text"; only the file and the line are printed,
  # so the secret stays out of the log. -I skips binary files.
  while IFS= read -r -d '' file && IFS= read -r rest; do
    echo "check-no-private-keys: ${file#./}:${rest%%:*}: ${kinds[$i]}"
    found=$((found + 1))
  done < <(xargs -0 -r grep -I -n -H -Z "${flags[$i]}" -e "${patterns[$i]}" -- <"$files" || true)
done

if [ "$found" -gt 0 ]; then
  echo "check-no-private-keys: ${found} secret(s) found: remove them (and rotate them: they were exposed)" >&2
  exit 1
fi
echo "check-no-private-keys: no private key, AWS secret or bearer token in $(tr -cd '\0' <"$files" | wc -c) files"
