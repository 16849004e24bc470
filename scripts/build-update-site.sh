#!/usr/bin/env bash
# A Fiji update site for the plugin, in update-site/ (or the folder given): the freshly built jar,
# stored as imagej-updater stores it, and db.xml.gz listing it. Upload the folder's content to an
# update site (e.g. sites.imagej.net/NAME); users then add the site in Help > Update... > Manage.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
./scripts/build-plugin.sh >/dev/null
jar="$(ls fiji-plugin/target/Pixel_Forest-*.jar | grep -v /original-)"
exec "${PIXELFOREST_VENV:-.venv}/bin/python" scripts/update_site.py --jar "$jar" --out "${1:-update-site}"
