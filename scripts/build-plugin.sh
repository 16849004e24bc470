#!/usr/bin/env bash
# Build the Fiji plugin (fiji-plugin/target/Pixel_Forest-*.jar) with Maven, and fetch the jars that run
# it outside Fiji -- ImageJ 1.x, Groovy and Jython -- from Maven Central into fiji-plugin/target/runtime/.
# Install the plugin in Fiji by copying the jar into Fiji.app/plugins/.
set -euo pipefail
cd "$(dirname "$0")/../fiji-plugin"
command -v mvn >/dev/null 2>&1 || { echo "build-plugin: Maven (mvn) is not installed" >&2; exit 1; }
mvn -B -q package
mkdir -p target/runtime
for artifact in net.imagej:ij:1.54p org.apache.groovy:groovy:4.0.28 org.python:jython-standalone:2.7.4; do
  name="$(echo "$artifact" | cut -d: -f2)-$(echo "$artifact" | cut -d: -f3).jar"
  [ -f "target/runtime/$name" ] || mvn -B -q dependency:copy -Dartifact="$artifact" -DoutputDirectory=target/runtime
done
ls target/Pixel_Forest-*.jar | grep -v original
