#!/usr/bin/env bash
# Build the Fiji plugin (fiji-plugin/target/Pixel_Forest-*.jar, carrying pixelforest's own wheel) with
# Maven, and fetch the jars that run
# it outside Fiji from Maven Central into fiji-plugin/target/runtime/: ImageJ 1.x and what Fiji ships
# that the plugin uses without bundling it (Groovy's JSON and JNA, for the Appose client), listed in
# target/runtime/classpath.txt for the tests and scripts; and Jython for the Jython example.
# Install the plugin in Fiji by copying the jar into Fiji.app/plugins/. Built again only when those
# sources changed (PIXELFOREST_REBUILD=1: always).
set -euo pipefail
cd "$(dirname "$0")/../fiji-plugin"
command -v mvn >/dev/null 2>&1 || { echo "build-plugin: Maven (mvn) is not installed" >&2; exit 1; }
# nothing to do when the jar, its runtime jars and classpath were built from these very sources
# (the plugin's, and pixelforest's that its wheel carries): a rerun of the tests does not wait for Maven
stamp="$(cd .. && find fiji-plugin/pom.xml fiji-plugin/src src pyproject.toml \( -name __pycache__ -o -name '*.egg-info' \) -prune -o -type f -print \
  | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
if [ "${PIXELFOREST_REBUILD:-0}" != 1 ] && [ "$(cat target/.built-from 2>/dev/null)" = "$stamp" ] \
    && [ -f target/runtime/classpath.txt ] && ls target/Pixel_Forest-*.jar 2>/dev/null | grep -qv original; then
  ls target/Pixel_Forest-*.jar | grep -v original
  exit 0
fi
rm -f target/.built-from
# pixelforest's wheel goes into the jar: the plugin sets up its own Python environment from it
venv="${PIXELFOREST_VENV:-.venv}"
case "$venv" in /*) ;; *) venv="$(cd .. && pwd)/$venv" ;; esac
py="$venv/bin/python"
[ -x "$py" ] || py="$(command -v python3 || true)"
rm -rf target/wheel
if [ -n "$py" ] && "$py" -m pip --version >/dev/null 2>&1; then
  (cd .. && "$py" -m pip wheel --quiet --no-deps --no-build-isolation . -w fiji-plugin/target/wheel >/dev/null 2>&1 \
    || "$py" -m pip wheel --quiet --no-deps . -w fiji-plugin/target/wheel >/dev/null) \
    || echo "build-plugin: could not build pixelforest's wheel; the jar will not set up Python by itself" >&2
  rm -rf ../build
else
  echo "build-plugin: no Python with pip to build pixelforest's wheel; the jar will not set up Python by itself" >&2
fi
mvn -B -q -Dstyle.color=never package
mkdir -p target/runtime
fiji="net.imagej:ij:1.54p org.apache.groovy:groovy:4.0.28 org.apache.groovy:groovy-json:4.0.28 net.java.dev.jna:jna:5.14.0 net.java.dev.jna:jna-platform:5.14.0"
: > target/runtime/classpath.txt.tmp
for artifact in $fiji org.python:jython-standalone:2.7.4; do
  name="$(echo "$artifact" | cut -d: -f2)-$(echo "$artifact" | cut -d: -f3).jar"
  [ -f "target/runtime/$name" ] || mvn -B -q -Dstyle.color=never dependency:copy -Dartifact="$artifact" -DoutputDirectory=target/runtime
  case " $fiji " in *" $artifact "*) echo "$PWD/target/runtime/$name" >> target/runtime/classpath.txt.tmp ;; esac
done
mv target/runtime/classpath.txt.tmp target/runtime/classpath.txt
echo "$stamp" > target/.built-from
ls target/Pixel_Forest-*.jar | grep -v original
