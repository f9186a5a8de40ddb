"""The server's lean decoding held to the general one, and its streamed answer to json.dumps.

Oracles, many generated cases each:
- `jsonscan.json_depth` (chunked) against a regex that strips strings and counts brackets;
- `fastbody` (plain numeric bodies decoded a block at a time) against the general
  decoder (`json.loads` of the whole body + `to_tensor`): the same tensor, or None where
  the general decoder refuses the body;
- `answer.encode` (blocks of rows) against `json.dumps` of the whole answer.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import numpy as np
import pytest

from edge_agent import answer, fastbody, jsonscan
from edge_agent.predict import BadRequest, check_numbers, parse_request, to_tensor
from edge_agent.signatures import Signature

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _depth_by_regex(raw: bytes) -> int:
    level = deepest = 0
    for byte in _STRING.sub(b"", raw):
        level += {91: 1, 123: 1, 93: -1, 125: -1}.get(byte, 0)
        deepest = max(deepest, level)
    return deepest


def _value(rng: random.Random, depth: int) -> Any:
    pick = rng.random()
    if depth > 6 or pick < 0.3:
        if rng.random() < 0.5:
            return rng.choice([0, 1.5, -2, True, None])
        return "".join(rng.choice('ab[]{}"\\\n') for _ in range(rng.randint(0, 12)))
    if pick < 0.65:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {str(_value(rng, 9)): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


@pytest.mark.parametrize("chunk", [2, 7, 64, 1 << 18])
def test_json_depth_matches_the_regex_at_every_chunk_size(monkeypatch, chunk) -> None:
    monkeypatch.setattr(jsonscan, "CHUNK", chunk)
    rng = random.Random(chunk)
    for _ in range(600):
        raw = json.dumps(_value(rng, 0)).encode()
        assert jsonscan.json_depth(raw) == _depth_by_regex(raw), raw


def _signature(dtype: str, shape: tuple[int, ...]) -> Signature:
    detail = {"dtype": np.dtype(dtype).type, "shape": np.array(shape), "index": 0}
    return Signature("serving_default", {"x": detail}, {"y": detail})


class _Model:
    """What parse_request reads of a model: its signatures."""

    def __init__(self, signature: Signature) -> None:
        self.signatures = {signature.key: signature}
        self.default_signature = signature


_NUMBERS = [
    "0", "-0", "1", "-1", "7", "127", "128", "-129", "255", "256", "65535", "70000",
    "2147483647", "2147483648", "4294967296", "16777216", "16777217", "33554432",
    "0.5", "-0.5", "1.5", "1e3", "1E3", "1e-3", "2.5e+2", "-1.25E-2", "1.0", "3.4028235e38",
    "3.5e38", "1e39", "1e308", "1e400", "-1e400", "65504", "65520", "1e-50", "4.9e-324",
    "123456789012345678", "0.1", "1.0000000001",
]  # fmt: skip
_BROKEN = ["01", "+1", ".5", "1.", "1e", "--1", "1.5.2", "0x10", "1e5.2", "", " "]


def _array(rng: random.Random, shape: tuple[int, ...], numbers: list[str]) -> str:
    if not shape:
        return rng.choice(numbers)
    items = [_array(rng, shape[1:], numbers) for _ in range(shape[0])]
    space = rng.choice(["", " ", "\n  ", "\t"])
    return "[" + space + ("," + space).join(items) + space + "]"


def _body(rng: random.Random, inner: tuple[int, ...]) -> bytes:
    friendly = ["0", "1", "-1", "7", "100", "1.0", "-0", "1e2", "0.5", "2.5E1"]
    numbers = rng.sample(friendly if rng.random() < 0.5 else _NUMBERS, rng.randint(1, 6))
    if rng.random() < 0.1:
        numbers.append(rng.choice(_BROKEN))
    shape = (rng.randint(1, 5), *inner)
    if rng.random() < 0.1:  # ragged or of another shape
        shape = (shape[0], *(d + rng.choice([-1, 1]) for d in inner))
    array = _array(rng, shape, numbers)
    if rng.random() < 0.05:
        array = array.replace(",", ",,", 1)
    key = rng.choice(["instances", "inputs"])
    name = rng.choice([None, None, "serving_default", ""])
    members = [f'"{key}": {array}']
    if name is not None:
        members.insert(rng.randint(0, 1), f'"signature_name": "{name}"')
    return (
        "{" + rng.choice(["", " "]) + ", ".join(members) + rng.choice(["", "\n"]) + "}"
    ).encode()


def _general(model: _Model, raw: bytes) -> np.ndarray | None:
    try:
        request = parse_request(model, json.loads(raw))  # type: ignore[arg-type]
        ((name, detail),) = request.signature.inputs.items()
        return to_tensor(request.values[name], detail, name)
    except (BadRequest, ValueError):
        return None


@pytest.mark.parametrize(
    "dtype", ["float32", "float16", "float64", "int8", "uint8", "int16", "int32", "uint32"]
)
def test_plain_bodies_decode_as_the_general_decoder_does(monkeypatch, dtype) -> None:
    monkeypatch.setattr(fastbody, "BLOCK", 16)  # many blocks even in small bodies
    monkeypatch.setattr(fastbody, "CHUNK", 37)
    rng = random.Random(dtype)
    taken = 0
    for case in range(400):
        inner = rng.choice([(), (1,), (3,), (2, 2), (2, 1, 3)])
        signature = _signature(dtype, (1, *inner))
        raw = _body(rng, inner)
        wanted = _general(_Model(signature), raw)
        where = fastbody.envelope(raw)
        assert where is not None, raw
        got = fastbody.fast_tensor(raw, where, signature, check_numbers, lambda n: None)
        if got is None:
            # Refused values and shapes go to the general decoder, which says why.
            assert wanted is None or not _plain_enough(raw, where), (case, raw, wanted)
            continue
        taken += 1
        assert wanted is not None, (case, raw, got)
        assert got.dtype == wanted.dtype and got.shape == wanted.shape, (raw, got, wanted)
        assert np.array_equal(got, wanted, equal_nan=False), (raw, got, wanted)
    assert taken > 25, f"only {taken} of 400 bodies took the lean path"


def _plain_enough(raw: bytes, where: fastbody.Envelope) -> bool:
    """Bodies the lean path must take when the general decoder does: all but integers
    past float64's exact range."""
    array = raw[where.start : where.end]
    if not re.search(rb"[0-9]", array):
        return False  # an empty array: the general decoder says what it makes of it
    return re.search(rb"[0-9]{16}", array) is None or any(c in array for c in b".eE")


def test_bodies_that_are_not_plain_go_to_the_general_decoder() -> None:
    signature = _signature("float32", (1, 2))
    for raw in [
        b'{"instances": [[NaN, 1]]}',
        b'{"instances": [[Infinity, 1]]}',
        b'{"instances": [{"x": [1, 2]}]}',
        b'{"instances": [[1, 2]], "other": 1}',
        b'{"instances": [[1, 2]]} x',
        b'{"instances": [[1, 2]], "instances": [[1, 2]]}',
        b'{"instances": [[1, 2]]]}',
        b'{"instances": [[1, 2],]}',
        b'{"instances": [[1, 2]] [[1]]}',
        b'{"instances": [[true, 2]]}',
        b'{"instances": [[1, "2"]]}',
        b'{"signature_name": "a\\"b", "instances": [[1, 2]]}',
    ]:
        where = fastbody.envelope(raw)
        got = where and fastbody.fast_tensor(raw, where, signature, check_numbers, lambda n: None)
        assert got is None, raw


def _old_answer(outputs: dict[str, np.ndarray], columnar: bool, n: int) -> bytes:
    """The answer as the server built it before it streamed: one json.dumps."""
    columns = {name: answer.to_json(v, name) for name, v in outputs.items()}
    if columnar:
        body: Any = {"outputs": next(iter(columns.values())) if len(columns) == 1 else columns}
    elif len(columns) == 1:
        body = {"predictions": next(iter(columns.values()))}
    else:
        body = {"predictions": [{k: c[i] for k, c in columns.items()} for i in range(n)]}
    return (json.dumps(body, allow_nan=False) + "\n").encode()


def _output(rng: random.Random, n: int) -> np.ndarray:
    shape = (n, *rng.choice([(), (1,), (3,), (2, 5), (40,)]))
    kind = rng.choice(["float32", "float64", "float16", "int8", "int64", "bool", "str"])
    if kind == "str":
        words = np.array([b"a", b"\xff\xfe", "é".encode(), b'"q"'], dtype=object)
        return words[rng.randrange(4)] if not shape else np.resize(words, shape)
    values = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 1e3, shape)
    if kind.startswith("float"):
        values[values > 2500] = np.nan
        values[values < -2500] = np.inf
    return values.astype(kind)


@pytest.mark.parametrize("block", [1, 3, 17, 1 << 14])
def test_streamed_answers_equal_json_dumps(monkeypatch, block) -> None:
    monkeypatch.setattr(answer, "BLOCK_VALUES", block)
    rng = random.Random(block)
    for _ in range(150):
        n = rng.randint(0, 7)
        outputs = {
            f"out_{i}_bytes" if rng.random() < 0.2 else f"o{i}": _output(rng, n)
            for i in range(rng.randint(1, 3))
        }
        columnar = rng.random() < 0.5
        text = b"".join(answer.encode(outputs, columnar, n))
        assert text == _old_answer(outputs, columnar, n)
        assert len(text) <= answer.memory_bound(outputs)
