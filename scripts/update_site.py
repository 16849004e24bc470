#!/usr/bin/env python
"""Write a Fiji update site for the plugin: a folder a maintainer can upload as it is.

The layout is imagej-updater's: ``db.xml.gz`` (gzipped XML, as its ``XMLFileWriter`` writes it:
per file its name, and a version with the checksum, timestamp and size) beside the files,
each stored under its name with the timestamp appended (``plugins/Pixel_Forest-0.1.0.jar-
20261202193000``). A jar's checksum is imagej-updater's jar digest (``UpdaterUtil.getJarDigest``:
SHA-1 over the entries sorted by name, each name then its bytes, with the comment lines of
``.properties`` files and the manifest left out, so that rebuilding an unchanged jar keeps its
checksum). An existing ``db.xml.gz`` in the folder keeps its other files, and a changed jar's
earlier version is listed as a previous version, as the updater does.

    python scripts/update_site.py --jar fiji-plugin/target/Pixel_Forest-0.1.0.jar --out update-site
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import shutil
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

#: imagej-updater's DTD, written before the records as it writes it
DTD = """<!DOCTYPE pluginRecords [
<!ELEMENT pluginRecords ((update-site | disabled-update-site)*, plugin*)>
<!ELEMENT update-site EMPTY>
<!ELEMENT disabled-update-site EMPTY>
<!ELEMENT plugin (platform*, category*, version?, previous-version*)>
<!ELEMENT version (description?, dependency*, link*, author*)>
<!ELEMENT previous-version EMPTY>
<!ELEMENT description (#PCDATA)>
<!ELEMENT dependency EMPTY>
<!ELEMENT link (#PCDATA)>
<!ELEMENT author (#PCDATA)>
<!ELEMENT platform (#PCDATA)>
<!ELEMENT category (#PCDATA)>
<!ATTLIST plugin update-site CDATA #IMPLIED>
<!ATTLIST plugin filename CDATA #REQUIRED>
<!ATTLIST plugin executable CDATA #IMPLIED>
<!ATTLIST dependency filename CDATA #REQUIRED>
<!ATTLIST dependency timestamp CDATA #IMPLIED>
<!ATTLIST dependency overrides CDATA #IMPLIED>
<!ATTLIST version timestamp CDATA #REQUIRED>
<!ATTLIST version checksum CDATA #REQUIRED>
<!ATTLIST version filesize CDATA #REQUIRED>
<!ATTLIST previous-version filename CDATA #IMPLIED>
<!ATTLIST previous-version timestamp CDATA #REQUIRED>
<!ATTLIST previous-version timestamp-obsolete CDATA #IMPLIED>
<!ATTLIST previous-version checksum CDATA #REQUIRED>]>
"""

DESCRIPTION = ("Pixel Forest: interactive pixel classification in the ilastik tradition (Live Training, Train/Apply "
               "Classifier, ilastik4ij's HDF5 and prediction commands), computed by the pixelforest Python engine.")


def _skip_hashed_lines(data: bytes) -> bytes:
    """imagej-updater's ``SkipHashedLines``: a line starting with '#' is read as its newline only
    (its state machine, quirks included)."""
    out = bytearray()
    pos, at_line_start = 0, True

    def read():
        nonlocal pos, at_line_start
        if pos >= len(data):
            ch = -1
        else:
            ch = data[pos]
            pos += 1
        if at_line_start:
            if ch == ord("#"):
                while True:
                    ch = read()
                    if ch in (ord("\n"), -1):
                        break
            else:
                at_line_start = False
        elif ch == ord("\n"):
            at_line_start = True
        return ch

    while (ch := read()) != -1:
        out.append(ch)
    return bytes(out)


def jar_digest(path) -> str:
    """imagej-updater's ``UpdaterUtil.getJarDigest(file)`` (properties and manifest treated
    specially, only the main class kept of the manifest: as written there, nothing)."""
    sha = hashlib.sha1()
    with zipfile.ZipFile(path) as z:
        for info in sorted(z.infolist(), key=lambda i: i.filename.encode("utf-16-be")):
            sha.update(info.filename.encode("ascii"))
            data = z.read(info)
            if info.filename.endswith(".properties"):
                data = _skip_hashed_lines(data)
            if info.filename == "META-INF/MANIFEST.MF":
                data = b"".join(line + b"\n" for line in data.splitlines() if line.upper().startswith(b"Main-Class:"))
            sha.update(data)
    return sha.hexdigest()


def file_digest(path, name: str) -> str:
    """imagej-updater's ``UpdaterUtil.getDigest``: the jar digest for jars, SHA-1 of the bytes otherwise."""
    if name.endswith(".jar"):
        return jar_digest(path)
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def timestamp(seconds: float) -> str:
    """imagej-updater's timestamps: local time as yyyyMMddHHmmss."""
    return time.strftime("%Y%m%d%H%M%S", time.localtime(seconds))


def write_site(files: dict[str, Path], out: Path, description: str = DESCRIPTION) -> Path:
    """Add ``files`` ({name in Fiji.app: path}) to the update site in ``out``; returns db.xml.gz."""
    out.mkdir(parents=True, exist_ok=True)
    db = out / "db.xml.gz"
    root = ET.fromstring(gzip.decompress(db.read_bytes())) if db.exists() else ET.Element("pluginRecords")
    now = timestamp(time.time())
    for name, path in files.items():
        checksum, size = file_digest(path, name), Path(path).stat().st_size
        stamp = timestamp(Path(path).stat().st_mtime)
        plugin = next((p for p in root.findall("plugin") if p.get("filename") == name), None)
        if plugin is None:
            plugin = ET.SubElement(root, "plugin", filename=name)
        current = plugin.find("version")
        if current is not None and current.get("checksum") == checksum:
            continue  # unchanged: nothing to upload
        if current is not None:  # the earlier version stays listed, as the updater keeps it
            plugin.remove(current)
            ET.SubElement(plugin, "previous-version", {"timestamp": current.get("timestamp"),
                                                        "timestamp-obsolete": now,
                                                        "checksum": current.get("checksum")})
        version = ET.Element("version", checksum=checksum, timestamp=stamp, filesize=str(size))
        ET.SubElement(version, "description").text = description
        plugin.insert(0, version)
        target = out / f"{name}-{stamp}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    body = io.BytesIO()
    ET.ElementTree(root).write(body, encoding="UTF-8", xml_declaration=False)
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + DTD.encode() + body.getvalue() + b"\n"
    tmp = db.with_name(db.name + f".tmp-{os.getpid()}")
    tmp.write_bytes(gzip.compress(xml))
    tmp.replace(db)
    return db


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jar", type=Path, required=True, help="the plugin jar (fiji-plugin/target/Pixel_Forest-*.jar)")
    ap.add_argument("--out", type=Path, default=Path("update-site"),
                    help="the update site's folder (default update-site)")
    args = ap.parse_args(argv)
    if not args.jar.is_file():
        print(f"update_site: {args.jar} does not exist; build it with scripts/build-plugin.sh", file=sys.stderr)
        return 2
    db = write_site({f"plugins/{args.jar.name}": args.jar}, args.out)
    print(f"update site in {args.out}: {db.name} and plugins/{args.jar.name}-<timestamp>; upload the folder's content")
    return 0


if __name__ == "__main__":
    sys.exit(main())
