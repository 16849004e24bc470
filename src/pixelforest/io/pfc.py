"""The saved classifier: data only, no pickle, versioned and checksummed.

A classifier file is a ZIP archive holding

* ``manifest.json``: ``format`` = ``"pixelforest-classifier"``,
  ``format_version``, the feature spec, classes (names, colours), input
  channels and dimensionality, training summary, and for every array member its
  dtype, shape and SHA-256;
* ``arrays/<name>.npy``: plain numeric NumPy arrays (the forest's node arrays
  and the sparse training labels), read with ``allow_pickle=False``.

Loading checks the archive, the manifest schema and version, every checksum,
dtype and shape, and that the forest arrays form valid trees, so a damaged,
truncated or foreign file gives a clear error and nothing in a file is ever
executed. Writing is atomic (temporary file + rename).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .._version import __version__
from ..classifier import MAX_STAGES, Classifier, LabelImage, Stage
from ..features import FEATURE_FORMAT_VERSION, FeatureError, FeatureSpec
from ..forest import Forest
from ..runtime import available_memory
from .atomic import atomic_write_bytes

FORMAT = "pixelforest-classifier"
#: 2 adds auto-context stages, 3 pixelforest's own TopHat feature, 4 its HoleFilling, 5 its DarkHoleFilling; a file is
#: written with the lowest version that holds it (older pixelforests read it, or name the upgrade
#: they need)
FORMAT_VERSION = 5
SUFFIX = ".pfc"

#: Limits, checked on the manifest before any array is read (an absurd size is damage or an
#: attack). A forest of 10,000 trees of a million nodes each stays far below them.
MAX_MEMBER_BYTES = 4 * 2**30
#: all arrays together (and never more than the memory available)
MAX_TOTAL_BYTES = 8 * 2**30
MAX_MANIFEST_BYTES = 4 * 2**20
#: JSON nesting of the manifest (it needs about 6 levels per auto-context stage)
MAX_MANIFEST_DEPTH = 64
#: archive members: the manifest, 6 forest arrays per stage, 2 arrays per labelled image
MAX_MEMBERS = 4096
#: input channels of a classifier (each has its own feature columns)
MAX_CHANNELS = 1024
MAX_CLASSES = 255
MAX_TREES = 10_000
#: feature columns of one stage (1024 channels of ilastik's default 2D bank are 37,888)
MAX_FEATURES = 2**17
MAX_LABEL_IMAGES = 2000
ALLOWED_DTYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
                  "bool"}
FOREST_ARRAYS = ("roots", "feature", "threshold", "left", "right", "value")


class ClassifierFileError(ValueError):
    """A classifier file that cannot be loaded (damaged, truncated, foreign, too new)."""


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def _forest_members(stage: Stage, prefix: str, arrays: dict) -> dict | None:
    """Add a stage's forest arrays (``<prefix>forest_*``); return its manifest entry."""
    if stage.forest is None:
        return None
    for k, v in stage.forest.arrays().items():
        arrays[f"{prefix}forest_{k}"] = v
    return {"n_trees": stage.forest.n_trees, "n_features": stage.forest.n_features}


def classifier_to_members(clf: Classifier) -> tuple[dict, dict[str, np.ndarray]]:
    """The manifest and the arrays of a classifier file."""
    arrays: dict[str, np.ndarray] = {}
    forest = _forest_members(clf.stage_list[-1], "", arrays)
    labels_meta = []
    for i, li in enumerate(clf.labels):
        arrays[f"labels_{i}_index"] = li.index.astype(np.int64)
        arrays[f"labels_{i}_value"] = li.value.astype(np.uint8)
        labels_meta.append({"shape": list(li.shape), "name": li.name, "axes": li.axes})
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_by": f"pixelforest {__version__}",
        "source": clf.source,
        "features": clf.spec.to_dict(),
        "classes": [{"name": n, "color": list(c)} for n, c in zip(clf.class_names, clf.class_colors, strict=False)],
        "n_channels": clf.n_channels,
        "ndim": clf.ndim,
        "n_features": clf.n_features,
        "feature_names": clf.feature_names,
        "training": clf.training,
        "forest": forest,
        "labels": labels_meta,
        "arrays": {},
    }
    manifest["format_version"] = 1  # readable by every pixelforest
    if clf.stages > 1:  # auto-context: the earlier stages, nested, arrays prefixed "context_"
        manifest["format_version"] = 2
        manifest["stages"] = clf.stages
        manifest["context"] = _context_members(clf, clf.stages - 2, "context_", arrays)
    for stage in reversed(clf.stage_list):
        for fid, _ in stage.spec.cells():
            manifest["format_version"] = max(manifest["format_version"], FEATURE_FORMAT_VERSION.get(fid, 1))
    return manifest, arrays


def _context_members(clf: Classifier, k: int, prefix: str, arrays: dict) -> dict:
    """The manifest entry of stage ``k``, holding the entries of the stages before it (``context``)."""
    stage = clf.stage_list[k]
    return {
        "features": stage.spec.to_dict(),
        "n_features": clf.n_features_of(k),
        "training": stage.training,
        "forest": _forest_members(stage, prefix, arrays),
        "context": None if k == 0 else _context_members(clf, k - 1, prefix + "context_", arrays),
    }


def save_classifier(clf: Classifier, path) -> Path:
    """Write ``clf`` to ``path`` (atomically); returns the path."""
    path = Path(path)
    manifest, arrays = classifier_to_members(clf)
    blobs = {}
    for name, a in arrays.items():
        b = _npy_bytes(a)
        blobs[name] = b
        manifest["arrays"][name] = {"dtype": str(a.dtype), "shape": list(a.shape),
                                    "sha256": hashlib.sha256(b).hexdigest()}
    mtext = json.dumps(manifest, indent=1, ensure_ascii=False, default=_json_default).encode("utf-8")

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            z.writestr("manifest.json", mtext)
            for name, b in blobs.items():
                z.writestr(f"arrays/{name}.npy", b)

    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"cannot save classifier to {path}: folder {path.parent} does not exist")
    atomic_write_bytes(path, write, mkdir=False)
    return path


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _fail(path, msg) -> ClassifierFileError:
    return ClassifierFileError(f"{path}: {msg}")


def load_classifier(path) -> Classifier:
    """Load a classifier file written by :func:`save_classifier` (``pixelforest.load`` loads
    ilastik projects too: :func:`pixelforest.ilastik.load_classifier`)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"classifier file {path} does not exist")
    if path.is_dir():
        raise ClassifierFileError(f"{path} is a folder, expected a classifier file ({SUFFIX}) or an ilastik "
                                  f"project (.ilp)")
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x89HDF"):  # loaded by pixelforest.load (pixelforest.ilastik), not here
        raise _fail(path, "an ilastik project (HDF5), not a pixelforest classifier archive; load it with "
                          "pixelforest.load")
    if not head.startswith(b"PK"):
        raise _fail(path, f"not a pixelforest classifier (expected a {SUFFIX} ZIP archive or an ilastik .ilp project)")
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as e:
        raise _fail(path, f"damaged or truncated classifier file ({e})") from None
    with z:
        manifest, members = _read_manifest(path, z)
        try:
            _check_manifest(path, manifest)
            needed = _check_arrays(path, manifest, {i.filename: i for i in members})
        except ClassifierFileError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as e:  # a shape unforeseen
            raise _fail(path, f"invalid manifest ({type(e).__name__}: {_first_line(e)})") from None
        arrays = {}
        for name in needed:
            arrays[name] = _read_array(path, z, name, manifest["arrays"][name])
    try:
        return _classifier_from(path, manifest, arrays)
    except ClassifierFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, AttributeError, RecursionError) as e:
        raise _fail(path, f"invalid classifier ({type(e).__name__}: {_first_line(e)})") from None


def _read_manifest(path, z: zipfile.ZipFile) -> tuple[dict, list]:
    """The parsed manifest of an open archive and its members, checked against the limits first."""
    try:
        info = z.getinfo("manifest.json")
    except KeyError:
        raise _fail(path, "not a pixelforest classifier (no manifest.json in the archive)") from None
    if info.file_size > MAX_MANIFEST_BYTES:
        raise _fail(path, f"manifest of {info.file_size} bytes is implausibly large (at most {MAX_MANIFEST_BYTES}); "
                          f"refusing to read it")
    members = z.infolist()
    if len(members) > MAX_MEMBERS:
        raise _fail(path, f"the archive holds {len(members)} members, more than a classifier has "
                          f"(at most {MAX_MEMBERS}); refusing it")
    try:
        text = z.read(info)
        if len(text) > MAX_MANIFEST_BYTES:
            raise ValueError("manifest larger than its header says")
        text = text.decode("utf-8")
        depth = _json_depth(text)
        if depth > MAX_MANIFEST_DEPTH:
            raise _fail(path, f"manifest is nested {depth} levels deep (at most {MAX_MANIFEST_DEPTH}); "
                              f"not a pixelforest classifier")
        manifest = json.loads(text, parse_constant=_no_constant)
    except ClassifierFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, UnicodeDecodeError, OSError, EOFError,
            NotImplementedError, RecursionError) as e:
        raise _fail(path, f"damaged manifest ({_first_line(e)})") from None
    return manifest, members


def _first_line(e) -> str:
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def _no_constant(name):
    raise ValueError(f"the manifest holds {name}, which is not a number JSON allows")


def _json_depth(text: str) -> int:
    """The deepest nesting of ``[`` / ``{`` in a JSON text (strings left out), without parsing it."""
    import re

    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    b = np.frombuffer(bare.encode("utf-8", "replace"), np.uint8)
    step = (np.isin(b, (ord("["), ord("{"))).astype(np.int64) - np.isin(b, (ord("]"), ord("}"))))
    return int(np.cumsum(step).max()) if step.size else 0


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _stages(path, m: dict) -> list[tuple[str, dict]]:
    """``[(array prefix, stage entry)]`` of the top stage and its auto-context stages."""
    out = [("", m)]
    ctx, prefix = m.get("context"), "context_"
    while ctx is not None:
        if not isinstance(ctx, dict) or len(out) >= MAX_STAGES:
            raise _fail(path, f"invalid auto-context entry {prefix.rstrip('_')!r} (at most {MAX_STAGES} stages, "
                              f"each an object)")
        out.append((prefix, ctx))
        ctx, prefix = ctx.get("context"), prefix + "context_"
    return out


def _check_arrays(path, m: dict, members: dict) -> list[str]:
    """The array members the classifier needs, checked against each other and the limits before
    any is read: every forest array and label array present with consistent dtypes and shapes, no
    member that nothing uses, the declared sizes within the limits and the memory available."""
    declared = m["arrays"]
    need: dict[str, tuple] = {}  # name -> (dtype kinds, shape)
    need.update(_forest_arrays(path, m, declared))
    need.update(_label_arrays(path, m, declared))
    unused = sorted(set(declared) - set(need))
    if unused:
        raise _fail(path, f"the manifest declares arrays that nothing uses: {unused[:5]}; refusing the file")
    stray = sorted(k for k in members if k != "manifest.json" and
                   not (k.startswith("arrays/") and k.endswith(".npy") and k[7:-4] in need))
    if stray:
        raise _fail(path, f"the archive holds members that are not part of the classifier: {stray[:5]}")
    total = sum(_declared_bytes(path, name, declared.get(name), kinds, shape, members)
                for name, (kinds, shape) in need.items())
    if total > MAX_TOTAL_BYTES:
        raise _fail(path, f"the arrays declare {total} bytes in all, more than the {MAX_TOTAL_BYTES} allowed")
    avail = available_memory()
    if 2 * total > avail:
        raise _fail(path, f"the arrays need {2 * total / 2**30:.1f} GiB of memory to load but only "
                          f"{avail / 2**30:.1f} GiB are available")
    return list(need)


def _declared_length(meta):
    """The length a manifest entry declares for a 1-D array, else None."""
    if isinstance(meta, dict) and isinstance(meta.get("shape"), list) and len(meta["shape"]) == 1:
        return meta["shape"][0]
    return None


def _forest_arrays(path, m: dict, declared: dict) -> dict[str, tuple]:
    """The forest arrays each stage needs: ``{name: (dtype kinds, shape)}``, the stages' forest
    entries checked."""
    n_classes = len(m["classes"])
    need: dict[str, tuple] = {}
    for prefix, st in _stages(path, m):
        where = f"stage {prefix.rstrip('_')!r}" if prefix else "forest"
        if "training" in st and st["training"] is not None and not isinstance(st["training"], dict):
            raise _fail(path, f"manifest field 'training' of the {where} must be an object, got "
                              f"{type(st['training']).__name__}")
        fm = st.get("forest")
        if fm is None:
            if prefix:
                raise _fail(path, f"auto-context {where} has no forest")
            continue
        if not (isinstance(fm, dict) and _is_int(fm.get("n_trees")) and _is_int(fm.get("n_features"))):
            raise _fail(path, f"{where} entry must give integer n_trees and n_features, got {fm!r:.200}")
        if not 1 <= fm["n_trees"] <= MAX_TREES:
            raise _fail(path, f"{where} has {fm['n_trees']} trees; expected 1 to {MAX_TREES}")
        if not 1 <= fm["n_features"] <= 2**20:
            raise _fail(path, f"{where} has {fm['n_features']} features; expected 1 to {2**20}")
        meta = declared.get(prefix + "forest_feature")
        n_nodes = _declared_length(meta)
        if not _is_int(n_nodes) or n_nodes < 1:
            raise _fail(path, f"{where}: array {prefix}forest_feature must be declared with a 1-D shape (n_nodes,), "
                              f"got {meta!r:.200}")
        if n_nodes < fm["n_trees"]:
            raise _fail(path, f"{where}: {fm['n_trees']} trees need at least as many nodes, the arrays hold {n_nodes}")
        need[prefix + "forest_roots"] = ("iu", [fm["n_trees"]])
        for k in ("feature", "left", "right"):
            need[prefix + "forest_" + k] = ("iu", [n_nodes])
        need[prefix + "forest_threshold"] = ("f", [n_nodes])
        need[prefix + "forest_value"] = ("f", [n_nodes, n_classes])
    return need


def _label_arrays(path, m: dict, declared: dict) -> dict[str, tuple]:
    """The sparse label arrays (index and value) of each label entry: ``{name: (dtype kinds, shape)}``,
    the entries' image shapes and declared lengths checked."""
    if len(m["labels"]) > MAX_LABEL_IMAGES:
        raise _fail(path, f"{len(m['labels'])} label entries; at most {MAX_LABEL_IMAGES}")
    need: dict[str, tuple] = {}
    for i, lm in enumerate(m["labels"]):
        shape = lm.get("shape") if isinstance(lm, dict) else None
        if not (isinstance(shape, list) and len(shape) == 4 and all(_is_int(v) and 1 <= v <= 2**31 for v in shape)
                and math.prod(shape) <= 2**48):
            raise _fail(path, f"label entry {i} must give its image shape as 4 positive integers (t, z, y, x), "
                              f"got {shape!r:.200}")
        meta = declared.get(f"labels_{i}_index")
        n = _declared_length(meta)
        if not _is_int(n) or not 0 <= n <= math.prod(shape):
            raise _fail(path, f"label entry {i}: array labels_{i}_index must be 1-D with at most one entry per "
                              f"pixel of its image, got {meta!r:.200}")
        need[f"labels_{i}_index"] = ("iu", [n])
        need[f"labels_{i}_value"] = ("u", [n])
    return need


def _declared_bytes(path, name: str, meta, kinds: str, shape: list, members: dict) -> int:
    """The bytes array ``name`` declares, its manifest entry (``meta``) checked against the dtype
    ``kinds`` and ``shape`` the classifier needs, the per-array limit and its archive member's size."""
    if not isinstance(meta, dict):
        raise _fail(path, f"array {name!r} is missing from the manifest")
    if not isinstance(meta.get("dtype"), str) or meta["dtype"] not in ALLOWED_DTYPES \
            or np.dtype(meta["dtype"]).kind not in kinds:
        kind = "integer" if "i" in kinds else "unsigned integer" if kinds == "u" else "floating point"
        raise _fail(path, f"array {name!r} has a disallowed dtype {meta.get('dtype')!r:.50}; expected a plain "
                          f"{kind} array")
    if meta.get("shape") != shape:
        raise _fail(path, f"array {name!r}: the manifest says shape {meta.get('shape')!r:.100} but the "
                          f"classifier needs {shape}")
    nbytes = math.prod(shape) * np.dtype(meta["dtype"]).itemsize
    if nbytes > MAX_MEMBER_BYTES:
        raise _fail(path, f"array {name!r} declares {nbytes} bytes, more than the {MAX_MEMBER_BYTES} allowed")
    info = members.get(f"arrays/{name}.npy")
    if info is not None and info.file_size > nbytes + 65536:
        raise _fail(path, f"array member {name!r} holds {info.file_size} bytes, far more than its declared "
                          f"{nbytes}; the file is damaged")
    return nbytes


def _check_manifest(path, m) -> None:
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        found = m.get("format") if isinstance(m, dict) else None
        raise _fail(path, f"not a pixelforest classifier (manifest format is {found!r})")
    v = m.get("format_version")
    if not isinstance(v, int):
        raise _fail(path, "manifest has no integer format_version")
    if v > FORMAT_VERSION:
        raise _fail(path, f"classifier format version {v} is newer than this pixelforest supports "
                          f"({FORMAT_VERSION}); upgrade pixelforest")
    for key, typ in (("features", dict), ("classes", list), ("n_channels", int), ("ndim", int), ("arrays", dict),
                     ("labels", list)):
        if not isinstance(m.get(key), typ) or typ is int and isinstance(m.get(key), bool):
            raise _fail(path, f"manifest field {key!r} is missing or not a {typ.__name__}")
    if m["ndim"] not in (2, 3) or not 1 <= m["n_channels"] <= MAX_CHANNELS:
        raise _fail(path, f"manifest has invalid ndim={m['ndim']} / n_channels={m['n_channels']} "
                          f"(ndim 2 or 3, 1 to {MAX_CHANNELS} channels)")
    if not 1 <= len(m["classes"]) <= MAX_CLASSES:
        raise _fail(path, f"manifest lists {len(m['classes'])} classes; expected 1 to {MAX_CLASSES}")
    for c in m["classes"]:
        if not (isinstance(c, dict) and isinstance(c.get("name"), str) and len(c["name"]) <= 1000
                and isinstance(c.get("color"), list) and len(c["color"]) == 3
                and all(_is_int(v) and 0 <= v <= 255 for v in c["color"])):
            raise _fail(path, f"invalid class entry {str(c)[:200]} (expected a name and a colour of three integers "
                              f"0..255)")
    for key, typ in (("training", dict), ("source", str)):
        if m.get(key) is not None and not isinstance(m[key], typ):
            raise _fail(path, f"manifest field {key!r} must be a {typ.__name__}, got {type(m[key]).__name__}")
    if len(m["arrays"]) > MAX_MEMBERS:
        raise _fail(path, f"manifest declares {len(m['arrays'])} arrays; at most {MAX_MEMBERS}")


def _read_array(path, z: zipfile.ZipFile, name: str, meta) -> np.ndarray:
    if not isinstance(meta, dict) or not isinstance(meta.get("dtype"), str) or meta["dtype"] not in ALLOWED_DTYPES:
        raise _fail(path, f"array {name!r} has a disallowed or missing dtype ({meta!r}); only plain numeric "
                          f"arrays are allowed")
    member = f"arrays/{name}.npy"
    try:
        info = z.getinfo(member)
    except KeyError:
        raise _fail(path, f"array member {member} is missing (truncated file?)") from None
    if info.file_size > MAX_MEMBER_BYTES:
        raise _fail(path, f"array {name!r} claims {info.file_size} bytes, more than the {MAX_MEMBER_BYTES} allowed")
    try:
        data = z.read(info)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, ValueError) as e:
        # a CRC error, a truncation, a damaged header
        raise _fail(path, f"array {name!r} is damaged ({e})") from None
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise _fail(path, f"checksum mismatch for array {name!r}: the file is damaged")
    try:
        a = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except ValueError as e:
        raise _fail(path, f"array {name!r} is not a plain numeric array ({e})") from None
    if str(a.dtype) != meta["dtype"] or list(a.shape) != list(meta.get("shape", [])):
        raise _fail(path, f"array {name!r} has dtype {a.dtype} shape {a.shape}, manifest says {meta['dtype']} "
                          f"{meta.get('shape')}")
    return a


def _spec_and_forest(path, m: dict, arrays: dict, prefix: str, top: dict | None = None):
    try:
        spec = FeatureSpec.from_dict(m["features"])
    except (FeatureError, TypeError, KeyError, ValueError) as e:
        raise _fail(path, f"invalid feature spec{' of ' + prefix.rstrip('_') if prefix else ''} ({e})") from None
    top = m if top is None else top
    n = spec.n_features(int(top["n_channels"]) + (len(top["classes"]) if m.get("context") is not None else 0),
                        int(top["ndim"]))
    if n > MAX_FEATURES:
        raise _fail(path, f"the feature spec{' of ' + prefix.rstrip('_') if prefix else ''} gives {n} features, more "
                          f"than the {MAX_FEATURES} allowed")
    forest = None
    if m.get("forest") is not None:
        key = prefix + "forest_"
        try:
            forest = Forest.from_arrays({k[len(key):]: v for k, v in arrays.items() if k.startswith(key)},
                                        n_features=int(m["forest"]["n_features"]))
        except (KeyError, ValueError, TypeError) as e:
            raise _fail(path, f"invalid {prefix}forest ({e})") from None
    return spec, forest


def _earlier_stages(path, m: dict, arrays: dict) -> list[tuple[str, Stage]]:
    """The auto-context stages before the top one, first stage first, each with its array prefix."""
    out = []
    for prefix, entry in _stages(path, m)[1:]:
        spec, forest = _spec_and_forest(path, entry, arrays, prefix, m)
        if forest is None:
            raise _fail(path, f"auto-context stage {prefix.rstrip('_')!r} has no forest")
        out.append((prefix, Stage(spec, forest, entry.get("training") or {})))
    return out[::-1]


def _check_forests(path, clf: Classifier, prefixes: list[str]) -> None:
    """Each stage's forest takes the features its spec gives and gives the classes listed."""
    for k, prefix in enumerate(prefixes):
        forest, n_features = clf.stage_list[k].forest, clf.n_features_of(k)
        if forest is not None:
            if forest.n_features != n_features:
                raise _fail(path, f"{prefix}forest expects {forest.n_features} features but the feature spec gives "
                                  f"{n_features}")
            if forest.n_classes != clf.n_classes:
                raise _fail(path, f"{prefix}forest has {forest.n_classes} classes but {clf.n_classes} class names are "
                                  f"listed")


def _classifier_from(path, m: dict, arrays: dict) -> Classifier:
    spec, forest = _spec_and_forest(path, m, arrays, "", m)
    labels = []
    for i, lm in enumerate(m["labels"]):
        try:
            shape = tuple(int(s) for s in lm["shape"])
            li = LabelImage(shape, arrays[f"labels_{i}_index"], arrays[f"labels_{i}_value"], str(lm.get("name", "")),
                            str(lm.get("axes", "")))
        except (KeyError, TypeError, ValueError) as e:
            raise _fail(path, f"invalid label entry {i} ({e})") from None
        if len(shape) != 4 or (li.index.size and (li.index.min() < 0 or li.index.max() >= np.prod(shape))):
            raise _fail(path, f"label entry {i} indexes outside its image shape {shape}")
        labels.append(li)
    earlier = _earlier_stages(path, m, arrays)
    clf = Classifier(
        spec=spec,
        forest=forest,
        class_names=[c["name"] for c in m["classes"]],
        class_colors=[tuple(int(v) for v in c["color"]) for c in m["classes"]],
        n_channels=int(m["n_channels"]),
        ndim=int(m["ndim"]),
        training=m.get("training") or {},
        labels=labels,
        source=str(m.get("source", "pixelforest")),
        earlier=[stage for _, stage in earlier],
    )
    _check_forests(path, clf, [prefix for prefix, _ in earlier] + [""])
    return clf
