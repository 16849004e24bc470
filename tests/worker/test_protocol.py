"""The plugin <-> worker protocol is defined once on each side (pixelforest.worker.protocol, Protocol.java):
both name the same requests and keys, the plugin uses the names (no string literals), the worker
handles every request, and docs/protocol.md is the protocol's current table."""

from __future__ import annotations

import re
from pathlib import Path

from pixelforest.worker import HANDLERS, handle, protocol

ROOT = Path(__file__).resolve().parents[2]
JAVA = ROOT / "fiji-plugin" / "src" / "main" / "java" / "org" / "pixelforest" / "fiji"
#: the keys of a feature spec map (the engine's JSON layout, which the Features dialog edits)
SPEC_KEYS = {"scales", "features", "normalize", "compute_in_2d"}


def _java_constants() -> dict[str, set[str]]:
    """Protocol.java's string constants, per class ("" for the top level: the request names)."""
    text = (JAVA / "Protocol.java").read_text(encoding="utf-8")
    out: dict[str, set[str]] = {}
    parts = re.split(r"public static final class (\w+) \{", text)
    for name, body in zip([""] + parts[1::2], parts[0::2], strict=True):
        out[name] = set(re.findall(r'static final String \w+ = "([^"]*)";', body))
    return out


def test_both_sides_name_the_same_requests_and_keys():
    java = _java_constants()
    assert java[""] == set(protocol.REQUESTS)
    assert java["Key"] == protocol.param_keys()
    assert java["Out"] == protocol.output_keys()
    assert java["RoiKey"] == set(protocol.ROI_KEYS)
    assert java["Row"] == set(protocol.SUMMARY_KEYS)
    assert java["Task"] == set(protocol.TASK_INPUTS)
    service = (JAVA / "PythonService.java").read_text(encoding="utf-8")
    assert 'SCRIPT = "' + protocol.SCRIPT.replace("\n", "\\n") + '"' in service  # the script every task runs


def test_the_worker_handles_every_request_of_the_protocol():
    assert set(HANDLERS) == set(protocol.REQUESTS)


def test_the_plugin_names_requests_and_keys_through_protocol():
    keys = protocol.param_keys() | protocol.output_keys() | set(protocol.ROI_KEYS) | set(protocol.SUMMARY_KEYS)
    sources = [p for p in JAVA.glob("*.java") if p.name != "Protocol.java"]
    sources += list((ROOT / "tests" / "fiji").glob("*.java"))
    literal = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        literal += [f"{path.name}: call({m})" for m in re.findall(r'PythonService\.call\(\s*("[^"]*")', text)]
        for m in re.finditer(r'\b(\w+)\.(?:put|get|getOrDefault)\(\s*"(\w+)"', text):
            if m.group(2) in keys and not (m.group(2) in SPEC_KEYS and path.name == "FeatureDialog.java"):
                literal.append(f"{path.name}: {m.group(0)}")
        literal += [f"{path.name}: {m}" for m in re.findall(r'\bmap\(\s*"\w+"', text)]
    assert not literal, literal


def test_docs_protocol_md_is_current():
    """docs/protocol.md is generated from the protocol (run protocol.REGENERATE to write it again)."""
    docs = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert docs == protocol.render_markdown(), protocol.REGENERATE


class _Task:
    def __init__(self):
        self.outputs = {}

    def update(self, *a, **k):
        pass


def test_a_missing_parameter_and_the_defaults():
    t = _Task()
    handle(t, "live_close", {})
    assert t.outputs["error"] == ("the plugin sent no 'session' for 'live_close': plugin and pixelforest versions "
                                  "differ?")
    t = _Task()
    handle(t, "feature_presets", {})  # session: null by default
    assert "error" not in t.outputs and "max_scale" not in t.outputs
    assert len(t.outputs["ids"]) == len(t.outputs["names"]) > 0
    assert protocol.REQUESTS["train"].defaults()["trees"] == 100 and protocol.REQUESTS["train"].missing({}) == [
        "roi_index", "rois"]
