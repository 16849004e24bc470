"""ilastik Pixel Classification projects (``.ilp``, HDF5): reading and writing.

Reading: feature selection, label names and colours, the sparse label blocks of every
lane, each lane's raw data (resolved relative to the project, or stored inside
it), and the trained vigra forests. Writing: a project ilastik retrains from
(:func:`write_ilp`). A classifier is built from a project in :mod:`pixelforest.ilastik`.
See ``docs/ilastik.md``.
"""

from __future__ import annotations

import datetime
import os
import re
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import axes as _axes
from ..features import DEFAULT_SCALES, FEATURE_NAMES, ILASTIK_FEATURE_IDS, FeatureSpec
from ..forest import concat, from_vigra_trees
from .atomic import atomic_output
from .export import axistags_json
from .guards import ExternalDataError, check_chunks, check_hdf5_links
from .images import read_image
from .source import ImageReadError, axes_from_axistags, parse_source


class IlpError(ValueError):
    """An .ilp file that cannot be read as a Pixel Classification project."""


def _s(v) -> str:
    if isinstance(v, np.ndarray):
        v = v[()]
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def parse_version(v: str) -> tuple[int, ...]:
    nums = re.findall(r"\d+", v)
    return tuple(int(n) for n in nums[:3]) or (0,)


@dataclass
class Lane:
    index: int
    nickname: str
    location: str  # "FileSystem" or "ProjectInternal"
    file_path: str  # as stored in the project
    axes: str | None
    shape: tuple[int, ...] | None
    dataset_id: str | None
    resolved: str | None  # absolute path spec (file[/dataset]) for FileSystem lanes


_SLICE = re.compile(r"^\[(.*)\]$")


def parse_block_slice(text: str) -> tuple[slice, ...]:
    m = _SLICE.match(text.strip())
    if not m:
        raise IlpError(f"invalid blockSlice {text!r}")
    out = []
    for part in m.group(1).split(","):
        a, _, b = part.partition(":")
        out.append(slice(int(a), int(b)))
    return tuple(out)


class IlastikProject:
    """Read-only view of an ilastik Pixel Classification project."""

    def __init__(self, path, allow_external: bool | None = None):
        import h5py

        self.path = Path(path)
        self.allow_external = allow_external
        if not self.path.exists():
            raise FileNotFoundError(f"ilastik project {self.path} does not exist")
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as e:
            raise IlpError(f"{self.path}: not a readable ilastik project (HDF5 error: {e})") from None
        f = self._f
        try:
            check_hdf5_links(f, self.path, allow_external)
        except ExternalDataError:
            f.close()
            raise
        except BaseException as e:
            f.close()
            if isinstance(e, Exception):
                raise IlpError(f"{self.path}: damaged ilastik project ({e})") from None
            raise
        try:
            self.version = _s(f["ilastikVersion"][()]) if "ilastikVersion" in f else "unknown"
            self.workflow = _s(f["workflowName"][()]) if "workflowName" in f else ""
            complete = "PixelClassification" in f and "FeatureSelections" in f
            groups = sorted(f.keys())
        except (KeyError, OSError, RuntimeError, ValueError) as e:  # h5py's errors on damaged files
            self._f.close()
            raise IlpError(f"{self.path}: damaged ilastik project ({e})") from None
        if not complete:
            self._f.close()
            raise IlpError(
                f"{self.path}: not an ilastik Pixel Classification project "
                f"(workflow {self.workflow!r}, groups {groups})"
            )

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # -- features ----------------------------------------------------------------

    @property
    def structure_tensor_rule(self) -> str:
        v = parse_version(self.version)
        return "vigra" if v != (0,) and v < (1, 3) else "fastfilters"

    def feature_spec(self) -> FeatureSpec:
        g = self._f["FeatureSelections"]
        try:
            ids = [_s(x) for x in g["FeatureIds"][()]]
            scales = [float(s) for s in g["Scales"][()]] if "Scales" in g else list(DEFAULT_SCALES)
            matrix = np.asarray(g["SelectionMatrix"][()], dtype=bool)
            in2d = [bool(v) for v in g["ComputeIn2d"][()]] if "ComputeIn2d" in g else None
        except KeyError as e:
            raise IlpError(f"{self.path}: FeatureSelections incomplete ({e}); "
                           f"select features in ilastik first") from None
        # ilastik stores ComputeIn2d for every scale; it only matters for 3D data
        return FeatureSpec.from_matrix(ids, scales, matrix, in2d, structure_tensor=self.structure_tensor_rule)

    # -- classes -------------------------------------------------------------------

    def label_names(self) -> list[str]:
        g = self._f["PixelClassification"]
        return [_s(x) for x in g["LabelNames"][()]] if "LabelNames" in g else []

    def _colors(self, key) -> list[tuple[int, int, int]]:
        g = self._f["PixelClassification"]
        if key not in g:
            return []
        return [tuple(int(v) for v in row[:3]) for row in np.asarray(g[key][()])]

    def label_colors(self):
        return self._colors("LabelColors")

    # -- lanes -----------------------------------------------------------------------

    def lanes(self) -> list[Lane]:
        f = self._f
        if "Input Data/infos" not in f:
            return []
        out = []
        for i, key in enumerate(sorted(f["Input Data/infos"].keys())):
            g = f[f"Input Data/infos/{key}"]
            if "Raw Data" not in g:
                continue
            r = g["Raw Data"]
            axes = None
            if "axistags" in r:
                axes = axes_from_axistags(r["axistags"][()])
            if axes is None and "axisorder" in r:
                axes = _s(r["axisorder"][()]).lower()
            shape = tuple(int(v) for v in r["shape"][()]) if "shape" in r else None
            location = _s(r["location"][()]) if "location" in r else "FileSystem"
            fp = _s(r["filePath"][()]) if "filePath" in r else ""
            did = _s(r["datasetId"][()]) if "datasetId" in r else None
            nick = _s(r["nickname"][()]) if "nickname" in r else Path(fp.split(".h5")[0]).name
            resolved = None
            if location == "FileSystem" and fp:
                src = parse_source(fp)
                base = src.path if src.path.is_absolute() else (self.path.parent / src.path)
                resolved = str(base) + (f"/{src.dataset}" if src.dataset else "")
            out.append(Lane(i, nick, location, fp, axes, shape, did, resolved))
        return out

    def raw_data(self, lane: Lane) -> tuple[np.ndarray, str]:
        """The lane's raw image and its axes."""
        if lane.location == "ProjectInternal":
            key = f"Input Data/local_data/{lane.dataset_id}"
            if key not in self._f:
                raise IlpError(f"{self.path}: lane {lane.index} data {key!r} is missing from the project")
            check_chunks(self._f[key], self.path)
            arr = self._f[key][()]
            ax = lane.axes
            if "axistags" in self._f[key].attrs:
                ax = axes_from_axistags(self._f[key].attrs["axistags"]) or ax
        else:
            try:
                arr, ax = read_image(lane.resolved, allow_external=self.allow_external)
            except ImageReadError as e:
                raise IlpError(
                    f"{self.path}: raw data of lane {lane.index} ({lane.file_path!r}, resolved to {lane.resolved}) "
                    f"cannot be read: {e}"
                ) from None
            if lane.axes and len(lane.axes) == arr.ndim:
                ax = lane.axes
        if ax is None or len(ax) != arr.ndim:
            raise IlpError(f"{self.path}: cannot tell the axes of lane {lane.index} data of shape {arr.shape}")
        return arr, ax

    def labels(self, lane: Lane, raw_shape, raw_axes: str) -> np.ndarray:
        """Dense label image of a lane, in the raw data's non-channel axes (0 = unlabelled)."""
        lab_axes = raw_axes.replace("c", "")
        out = np.zeros(tuple(raw_shape[raw_axes.index(a)] for a in lab_axes), np.uint8)
        key = f"PixelClassification/LabelSets/labels{lane.index:03d}"
        if key not in self._f:
            return out
        # blocks drop singleton non-channel axes of the lane; c is always last
        block_axes = [a for a in lab_axes if raw_shape[raw_axes.index(a)] > 1]
        for name, ds in sorted(self._f[key].items()):
            where = f"{self.path}: label block {key}/{name}"
            if not hasattr(ds, "shape") or "blockSlice" not in ds.attrs:
                raise IlpError(f"{where} has no blockSlice attribute (where the block lies in the image)")
            sl = parse_block_slice(_s(ds.attrs["blockSlice"]))
            # checked before reading: the block must lie inside the image and match its stated size
            if tuple(ds.shape) != tuple(s.stop - s.start for s in sl):
                raise IlpError(f"{where} has shape {tuple(ds.shape)} but its blockSlice says "
                               f"{tuple(s.stop - s.start for s in sl)}")
            dims = [raw_shape[raw_axes.index(a)] for a in block_axes]
            if len(sl) == len(lab_axes) + 1:
                dims = [raw_shape[raw_axes.index(a)] for a in lab_axes]
            # the block's slices, with or without the trailing channel slice (strict=False below)
            if len(sl) not in (len(dims) + 1, len(dims)) or any(
                    not 0 <= s.start < s.stop <= n for s, n in zip(sl, dims + [1], strict=False)):
                raise IlpError(f"{where}: blockSlice {_s(ds.attrs['blockSlice'])} lies outside the image "
                               f"(shape {tuple(dims)}, axes {''.join(block_axes)!r})")
            data = np.asarray(ds[()])
            if len(sl) == len(block_axes) + 1:
                sl, data = sl[:-1], data[..., 0]
            elif len(sl) == len(lab_axes) + 1:  # some versions keep singleton axes
                full = sl[:-1]
                sl = tuple(s for s, a in zip(full, lab_axes, strict=True) if a in block_axes)
                data = data[..., 0].reshape(tuple(s.stop - s.start for s in sl))
            if len(sl) != len(block_axes) or data.shape != tuple(s.stop - s.start for s in sl):
                raise IlpError(f"{self.path}: label block {key}/{name} does not fit the lane's axes {lab_axes!r}")
            index = [0] * len(lab_axes)
            for a, s in zip(block_axes, sl, strict=True):
                index[lab_axes.index(a)] = s
            view = out[tuple(index)]
            data = data.reshape(view.shape)
            nz = data != 0
            view[nz] = data[nz]
        return out

    # -- forests --------------------------------------------------------------------

    def forest(self):
        """The project's trained forest (all ForestNNNN groups), or None."""
        key = "PixelClassification/ClassifierForests"
        if key not in self._f:
            return None
        g = self._f[key]
        forests = []
        for name in sorted(k for k in g.keys() if k.startswith("Forest")):
            fg = g[name]
            trees = [(fg[t]["topology"][()], fg[t]["parameters"][()])
                     for t in sorted(fg.keys()) if t.startswith("Tree_")]
            if trees:
                try:
                    forests.append(from_vigra_trees(trees))
                except ValueError as e:
                    raise IlpError(f"{self.path}: damaged forest {name} ({e})") from None
        if not forests:
            return None
        return concat(forests)

    def forest_labels(self) -> list[int] | None:
        key = "PixelClassification/ClassifierForests/known_labels"
        if key in self._f:
            try:
                vals = np.asarray(self._f[key][()])
                ok = vals.ndim == 1 and vals.dtype.kind in "iu" and vals.size <= 255
            except (OSError, TypeError, ValueError):
                ok = False
            if not ok:
                raise IlpError(f"{self.path}: {key} must be a list of label values 1..255")
            known = [int(v) for v in vals]
            if any(not 1 <= v <= 255 for v in known) or len(set(known)) != len(known):
                raise IlpError(f"{self.path}: {key} = {known[:10]} must hold distinct label values 1..255")
            return known
        return None

    def lane_geometry(self, lane: Lane) -> tuple[int, int]:
        """``(channels, ndim)`` of a lane's raw data (from the project, else from the data)."""
        if lane.shape is not None and lane.axes and len(lane.axes) == len(lane.shape):
            shape, axes = lane.shape, lane.axes
        else:
            arr, axes = self.raw_data(lane)
            shape = arr.shape
        c = shape[axes.index("c")] if "c" in axes else 1
        z = shape[axes.index("z")] if "z" in axes else 1
        return int(c), _axes.spatial_ndim(z)

    def training_data(self):
        """(images, label images, axes, nicknames) of every lane that has labels."""
        images, labels, axes, names = [], [], [], []
        for lane in self.lanes():
            arr, ax = self.raw_data(lane)
            lab = self.labels(lane, arr.shape, ax)
            if not lab.any():
                continue
            images.append(arr)
            labels.append(lab)
            axes.append(ax)
            names.append(lane.resolved or lane.nickname)
        return images, labels, axes, names


# ------------------------------------------------------------------------ writing

ILASTIK_WRITE_VERSION = "1.4.0"


def ilastik_cells(spec) -> tuple[list, list[str]]:
    """The spec's (feature, scale) cells ilastik has, and the names of those it has not."""
    cells = spec.cells()
    kept = [c for c in cells if c[0] in ILASTIK_FEATURE_IDS]
    dropped = sorted({f"{FEATURE_NAMES[fid]} (σ={spec.scales[si]:g})"
                      for fid, si in cells if fid not in ILASTIK_FEATURE_IDS})
    return kept, dropped


def write_ilp(clf, path, raw_data=None) -> Path:
    """Write a Pixel Classification project that ilastik opens and retrains from.

    Lanes point at each training image's raw data (paths relative to the project),
    with the feature selection, class names and colours and the sparse labels as
    ``LabelSets`` blocks; no forest (ilastik retrains on load).
    """
    import h5py

    path = Path(path)
    lanes, raw = _exportable(clf, path, raw_data)

    def w(tmp):
        with h5py.File(tmp, "w") as f:
            _write_header(f)
            _write_lanes(f, lanes, raw, path)
            _write_features(f, clf.spec)
            _write_classes_and_labels(f, clf, lanes)
            _write_export_settings(f)

    return atomic_output(path, w)


def _exportable(clf, path: Path, raw_data) -> tuple[list, list]:
    """Refuse a classifier a Pixel Classification project cannot hold (warn about the features
    ilastik has not); returns its labelled images and their raw data paths."""
    if clf.stages > 1:
        raise ValueError(f"this classifier has {clf.stages} auto-context stages; a Pixel Classification project holds "
                         f"one (ilastik's Autocontext workflow is a different project type): export a classifier "
                         f"trained with --stages 1")
    if path.suffix.lower() != ".ilp":
        raise ValueError(f"{path}: an ilastik project must end in .ilp")
    lanes = list(clf.labels)
    if not lanes:
        raise ValueError("the classifier holds no training labels (it was not trained by pixelforest from label "
                         "images); nothing to put in an ilastik project")
    raw = list(raw_data) if raw_data else [li.name for li in lanes]
    if len(raw) != len(lanes):
        raise ValueError(f"{len(raw)} raw data path(s) for {len(lanes)} labelled image(s)")
    kept, dropped = ilastik_cells(clf.spec)
    if not kept:
        raise ValueError(f"this classifier uses only features ilastik does not have ({', '.join(dropped)}); a Pixel "
                         f"Classification project holds ilastik's: train with --features ilastik-default (or a "
                         f"feature JSON of ilastik's features) to export it")
    if dropped:
        warnings.warn(f"{path}: ilastik has no {', '.join(dropped)}: the project selects the classifier's other "
                      f"{len(kept)} feature cells (ilastik retrains from the labels on load)", stacklevel=3)
    return lanes, raw


def _vlen():
    import h5py

    return h5py.special_dtype(vlen=bytes)


def _s_array(items) -> np.ndarray:
    """Strings as a fixed-length bytes array (as ilastik stores names)."""
    enc = [str(x).encode("utf-8") for x in items]
    return np.array(enc, dtype=f"S{max(1, max(len(e) for e in enc))}")


def _write_header(f) -> None:
    vlen = _vlen()
    f.create_dataset("ilastikVersion", data=ILASTIK_WRITE_VERSION.encode(), dtype=vlen)
    f.create_dataset("workflowName", data=b"Pixel Classification", dtype=vlen)
    f.create_dataset("time", data=datetime.datetime.now().strftime("%a %b %d %H:%M:%S %Y").encode(), dtype=vlen)
    f.create_dataset("currentApplet", data=np.int32(2))


def _write_lanes(f, lanes, raw, path: Path) -> None:
    """``Input Data``: one lane per labelled image, its raw data path relative to the project."""
    vlen = _vlen()
    g = f.create_group("Input Data")
    g.create_dataset("Role Names", data=np.array([b"Raw Data", b"Prediction Mask"], dtype="S15"))
    g.create_dataset("StorageVersion", data=b"0.2", dtype=vlen)
    infos = g.create_group("infos")
    for i, (li, src) in enumerate(zip(lanes, raw, strict=True)):
        if not src:
            raise ValueError(f"labelled image {i} has no raw data path; pass it with --raw-data")
        source = parse_source(src)
        axes = li.axes or ("zyx" if li.shape[1] > 1 else "yx")
        rel = os.path.relpath(source.path.resolve(), path.parent.resolve())
        fp = rel + (f"/{source.dataset}" if source.dataset else "")
        r = infos.create_group(f"lane{i:04d}/Raw Data")
        r.create_dataset("allowLabels", data=True)
        r.create_dataset("axisorder", data=axes.encode(), dtype=vlen)
        r.create_dataset("axistags", data=axistags_json(axes).encode(), dtype=vlen)
        r.create_dataset("datasetId", data=str(uuid.uuid4()).encode(), dtype=vlen)
        r.create_dataset("display_mode", data=b"default", dtype=vlen)
        r.create_dataset("filePath", data=fp.encode(), dtype=vlen)
        r.create_dataset("fromstack", data=True)
        r.create_dataset("location", data=b"FileSystem", dtype=vlen)
        r.create_dataset("nickname", data=source.nickname.encode(), dtype=vlen)


def _write_features(f, spec) -> None:
    """``FeatureSelections``: ilastik's features (the spec's other features left out)."""
    fs = f.create_group("FeatureSelections")
    fs.create_dataset("FeatureIds", data=_s_array(ILASTIK_FEATURE_IDS))
    fs.create_dataset("Scales", data=np.asarray(spec.scales, np.float64))
    fs.create_dataset("SelectionMatrix", data=np.asarray(spec.selection[:len(ILASTIK_FEATURE_IDS)], bool))
    fs.create_dataset("ComputeIn2d", data=np.asarray(spec.compute_in_2d or (False,) * len(spec.scales), bool))
    fs.create_dataset("StorageVersion", data=b"0.1", dtype=_vlen())


def _write_classes_and_labels(f, clf, lanes) -> None:
    """``PixelClassification``: class names and colours, and each lane's labels as one block."""
    n = len(clf.class_names)
    pc = f.create_group("PixelClassification")
    for key, data in (("LabelNames", _s_array(clf.class_names)),
                      ("LabelColors", np.asarray(clf.class_colors, np.int32).reshape(n, 3)),
                      ("PmapColors", np.asarray(clf.class_colors, np.int32).reshape(n, 3))):
        pc.create_dataset(key, data=data).attrs["isEmpty"] = np.False_
    pc.create_dataset("StorageVersion", data=b"0.1", dtype=_vlen())
    sets = pc.create_group("LabelSets")
    for i, li in enumerate(lanes):
        lab_group = sets.create_group(f"labels{i:03d}")
        block, slices = _label_block(li)
        if block is not None:
            ds = lab_group.create_dataset("block0000", data=block, compression="gzip")
            ds.attrs["blockSlice"] = "[" + ",".join(f"{a}:{b}" for a, b in slices) + "]"


def _write_export_settings(f) -> None:
    """``Prediction Export``: ilastik's default export (HDF5, ``exported_data``)."""
    vlen = _vlen()
    pe = f.create_group("Prediction Export")
    pe.create_dataset("OutputFilenameFormat", data=b"{dataset_dir}/{nickname}_{result_type}", dtype=vlen)
    pe.create_dataset("OutputFormat", data=b"hdf5", dtype=vlen)
    pe.create_dataset("OutputInternalPath", data=b"exported_data", dtype=vlen)
    pe.create_dataset("StorageVersion", data=b"0.1", dtype=vlen)


def _label_block(li):
    """The labels of one lane as one block in the lane's axes (singleton non-channel axes dropped,
    c = 1 last), with its slice, as ilastik stores LabelSets."""
    dense = li.dense()  # (T, Z, Y, X)
    if not dense.any():
        return None, None
    axes = (li.axes or ("zyx" if li.shape[1] > 1 else "yx")).replace("c", "")
    lane = _axes.from_canonical(dense[..., None], axes, channels=False)
    keep = [i for i, a in enumerate(axes) if lane.shape[i] > 1]
    lane = lane.reshape(tuple(lane.shape[i] for i in keep))
    nz = np.nonzero(lane)
    box = tuple(slice(int(a.min()), int(a.max()) + 1) for a in nz)
    block = lane[box][..., None].astype(np.uint8)
    return block, [(b.start, b.stop) for b in box] + [(0, 1)]
