#!/bin/sh
# Test set-up for `make test`: the HTML report tests render pages in headless Chromium (Debian's
# `chromium` package). Install it when it is missing and this shell can (root, apt-get present);
# otherwise say so plainly and carry on -- those tests then skip, naming the install command.
# Never fails the build: a failed install only means the browser tests skip.

command -v chromium >/dev/null 2>&1 && exit 0
[ -x /usr/bin/chromium ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: chromium is not installed and cannot be installed here (needs root and apt-get);"
    echo "ensure-chromium: the HTML report browser tests will be skipped."
    echo "ensure-chromium: install it with: apt-get install -y chromium"
    exit 0
fi

echo "ensure-chromium: chromium is not installed; installing it with apt-get for the HTML report tests"
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
# Try the package lists already on disk first; fresh images have none, so update and retry.
if apt-get install -y -q chromium >"$log" 2>&1 \
   || { apt-get update -q >>"$log" 2>&1 && apt-get install -y -q chromium >>"$log" 2>&1; }; then
    echo "ensure-chromium: installed $(chromium --version 2>/dev/null | head -n 1)"
else
    echo "ensure-chromium: could not install chromium (last lines of the apt-get log below);"
    echo "ensure-chromium: the HTML report browser tests will be skipped"
    tail -n 3 "$log"
fi
rm -f "$log"
exit 0
