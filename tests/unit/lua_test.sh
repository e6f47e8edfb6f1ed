#!/bin/sh
# Runs a Lua unit test on a module: lua_test.sh TEST.lua MODULE.lua (CTest registers it; see CMakeLists.txt here).
#
# With a standalone Lua (lua5.2, lua5.3, lua5.4 or lua) on PATH, that one; else the Lua 5.2 inside tshark, the one
# the dissector runs in (tshark -G folders loads the script, then only prints its folders); exit 77, which CTest
# counts as skipped, with neither. tshark reports a Lua error on stderr and still exits 0, so under tshark the
# test's last line, "PASS ...", is what counts.
set -eu
test=$1
module=$2
for lua in lua5.2 lua5.3 lua5.4 lua; do
    if command -v "$lua" >/dev/null 2>&1; then
        exec "$lua" "$test" "$module"
    fi
done
if ! command -v tshark >/dev/null 2>&1; then
    echo "SKIP: no Lua interpreter (lua5.2, lua5.3, lua5.4, lua) and no tshark" >&2
    exit 77
fi
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
# A private home and configuration folder: no personal plugin or preference of the caller's comes along.
out=$(HOME=$home WIRESHARK_CONFIG_DIR=$home tshark -G folders -X "lua_script:$test" -X "lua_script1:$module" 2>&1) \
    || true
if printf '%s\n' "$out" | grep -q '^PASS '; then
    printf '%s\n' "$out" | grep '^PASS '
    exit 0
fi
printf 'FAIL: %s under tshark:\n%s\n' "$test" "$out" >&2
exit 1
