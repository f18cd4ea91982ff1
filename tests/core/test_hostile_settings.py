"""``config.toml`` and ``state.json`` from anywhere: a hypothesis fuzz, as for checkpoints.

The user writes the first and the app the second, but either may be truncated, edited by
hand, replaced by something else, or nested 100k deep. Whatever they hold, reading them
never raises: the settings are the defaults plus one line saying why (no control character
in it: it is shown in a toast), and the state is well-typed or empty.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_tui.core.store import settings as store

GOOD_CONFIG = """# lstm-tui settings
theme = "nord"
device = "cpu"
threads = 2

[keys]
train = "f5,ctrl+t"
"predictor.more" = "ctrl+up"
"""

GOOD_STATE = {
    "checkpoints": ["/home/me/a.safetensors", "/home/me/b.safetensors"],
    "corpora": ["/home/me/book.txt"],
    "last": "checkpoint",
}

EDGES = [math.inf, -math.inf, math.nan, 1e300, -1, 0, 2**64, True, "", "x\x1b[2J", [], {}]
leaves = (
    st.sampled_from(EDGES)
    | st.none()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
json_values = leaves | st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _toml(value: object) -> str:
    """A TOML value for what TOML can hold (None has no TOML form: an empty string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps("" if value is None else value)


def _mutate_text(data: st.DataObject, text: str) -> str:
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        how = data.draw(st.sampled_from(["insert", "delete", "truncate", "deep"]))
        if how == "insert":
            text = text[:at] + data.draw(st.text(max_size=6)) + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 8)) :]
        elif how == "truncate":
            text = text[:at]
        else:  # nesting past the parser's recursion limit
            n = data.draw(st.sampled_from([1_000, 100_000]))
            text = text[:at] + "[" * n + "]" * n + text[at:]
    return text


def _check_settings(found: store.Settings, problem: str | None) -> None:
    assert problem is None or ("\n" not in problem and "\x1b" not in problem), problem
    if problem is not None:
        assert found == store.Settings()
        return
    assert found.theme is None or isinstance(found.theme, str)
    assert found.device is None or isinstance(found.device, str)
    assert found.threads is None or (type(found.threads) is int and found.threads >= 1)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in found.keys.items())


def _check_state(state: store.State) -> None:
    for entries in (state.checkpoints, state.corpora):
        assert len(entries) <= store.RECENT
        assert all(isinstance(p, str) and p and "\0" not in p for p in entries)
    assert state.last in (None, "checkpoint", "corpus")
    state.to_reopen()  # never raises either
    state.remember("corpus", Path("x.txt"))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzz_config_toml(tmp_path: Path, data: st.DataObject) -> None:
    path = tmp_path / "config.toml"
    how = data.draw(st.sampled_from(["value", "value", "text", "bytes"]))
    if how == "value":
        lines = GOOD_CONFIG.splitlines()
        at = data.draw(st.sampled_from([i for i, line in enumerate(lines) if " = " in line]))
        key = lines[at].split(" = ")[0]
        lines[at] = f"{key} = {_toml(data.draw(json_values))}"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif how == "text":
        path.write_text(_mutate_text(data, GOOD_CONFIG), encoding="utf-8")
    else:
        path.write_bytes(data.draw(st.binary(max_size=64)))
    _check_settings(*store.read_settings(path))


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzz_state_json(tmp_path: Path, data: st.DataObject) -> None:
    path = tmp_path / "state.json"
    how = data.draw(st.sampled_from(["value", "value", "text", "bytes"]))
    document = json.loads(json.dumps(GOOD_STATE))
    if how == "value":
        place = data.draw(st.sampled_from(_paths(document)))
        value = data.draw(json_values)
        if not place:
            document = value
        else:
            parent = document
            for key in place[:-1]:
                parent = parent[key]
            parent[place[-1]] = value
        path.write_text(json.dumps(document), encoding="utf-8")  # NaN, Infinity included
    elif how == "text":
        path.write_text(_mutate_text(data, json.dumps(document)), encoding="utf-8")
    else:
        path.write_bytes(data.draw(st.binary(max_size=64)))
    _check_state(store.read_state(path))


def test_the_good_files_read_back_as_written(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(GOOD_CONFIG, encoding="utf-8")
    found, problem = store.read_settings(config)
    assert problem is None and found.theme == "nord" and found.threads == 2
    assert found.keys == {"train": "f5,ctrl+t", "predictor.more": "ctrl+up"}
    state = tmp_path / "state.json"
    state.write_text(json.dumps(GOOD_STATE), encoding="utf-8")
    assert store.read_state(state) == store.State(**GOOD_STATE)
