#!/usr/bin/env bash
# `npx mcp-sessions` as a user gets it (after `pnpm build`): the packed @mcp-sessions/cli and
# @mcp-sessions/core tarballs installed with npm in an empty app outside the workspace. `--help`
# answers with exit 0; a bad store spec is one line with the password redacted and exit 2; a
# sqlite: spec without @mcp-sessions/sqlite installed says which package to install.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/mcp-sessions-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
say() { echo "cli-packed: $*" >&2; }

for p in core cli; do
  (cd "packages/$p" && pnpm pack --pack-destination "$work/tarballs" >/dev/null)
done
mkdir -p "$work/app"
cd "$work/app"
echo '{ "name": "cli-app", "private": true }' >package.json
npm install --no-fund --no-audit --loglevel=error --prefer-offline "$work"/tarballs/*.tgz >&2

out=$(npx --no-install mcp-sessions --help)
grep -q '^Usage: mcp-sessions <command> \[options\]' <<<"$out" || { echo "$out" >&2; say "--help printed no usage"; exit 1; }
grep -q '^Examples:' <<<"$out" || { say "--help printed no examples"; exit 1; }

code=0
err=$(npx --no-install mcp-sessions list --store 'mysql://root:hunter2@db/app' 2>&1 >/dev/null) || code=$?
[ "$code" = 2 ] || { say "bad spec: exit $code, expected 2"; exit 1; }
[ "$(wc -l <<<"$err")" = 1 ] && grep -q 'root:\*\*\*@db' <<<"$err" && ! grep -q hunter2 <<<"$err" ||
  { echo "$err" >&2; say "bad spec: not one redacted line"; exit 1; }

touch x.db # an existing file: the CLI never creates one
code=0
err=$(npx --no-install mcp-sessions stats --store sqlite:./x.db 2>&1 >/dev/null) || code=$?
[ "$code" = 2 ] && grep -q 'needs the package @mcp-sessions/sqlite' <<<"$err" ||
  { echo "$err" >&2; say "sqlite without its adapter: exit $code"; exit 1; }
say "ok: npx mcp-sessions --help from the packed tarballs; bad spec redacted (exit 2); missing adapter named"
