#!/usr/bin/env bash
# System packages some tests and the ImageJ bridge use: a Java runtime (ImageJ 1.x on the JVM)
# and Xvfb (ImageJ with a ROI Manager window, as in Fiji). Installs them with apt only when they
# are missing and apt can be used (root); otherwise prints what is missing and the tests that
# need it skip and say why. Never downloads a JDK by any other route.
set -uo pipefail
missing=()
command -v java >/dev/null 2>&1 || [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ] || missing+=(openjdk-17-jre-headless)
command -v xvfb-run >/dev/null 2>&1 || missing+=(xvfb xauth)
command -v twm >/dev/null 2>&1 || missing+=(twm)  # a window manager: focus and placement for the GUI tests
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing ${missing[*]} (apt)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1 \
    || echo "setup: could not install ${missing[*]}; tests that need them will skip" >&2
else
  echo "setup: ${missing[*]} not installed (needs root/apt); tests that need them will skip" >&2
fi
exit 0
