"""A minimal, dependency-free reader of the TFLite flatbuffer schema.

This is the only module that parses a `.tflite` file. It reads just what the
studio and the agent need: operator codes and versions with their use counts
over every subgraph, each subgraph's size and which ops write float32 tensors,
the signatures, the main subgraph's inputs and outputs with quantization and
shape signature, and metadata such as `min_runtime_version`. The runtime the
model needs is computed from its ops by `min_runtime`. Every offset is checked
against the file size, so a truncated or foreign file raises `ModelFormatError`
instead of reading garbage.

Field numbers follow tensorflow/compiler/mlir/lite/schema/schema.fbs.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from edge_agent.builtin_ops import BUILTIN_OPERATORS
from edge_agent.min_runtime import is_custom, is_flex, parse_version, runtime_need

__all__ = [
    "ModelFacts",
    "ModelFormatError",
    "OpInfo",
    "SignatureInfo",
    "SubgraphInfo",
    "TensorInfo",
    "kernel_key",
    "parse_version",
    "read_model_facts",
]

FILE_IDENTIFIER = b"TFL3"

TENSOR_TYPES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string",
    6: "bool", 7: "int16", 8: "complex64", 9: "int8", 10: "float64",
    11: "complex128", 12: "uint64", 13: "resource", 14: "variant", 15: "uint32",
    16: "uint16", 17: "int4", 18: "bfloat16",
}  # fmt: skip
"""TensorType enum values → numpy-style dtype names."""

# Table field indices (schema.fbs).
_MODEL_VERSION, _MODEL_OPCODES, _MODEL_SUBGRAPHS, _MODEL_DESCRIPTION = 0, 1, 2, 3
_MODEL_BUFFERS, _MODEL_METADATA, _MODEL_SIGNATURES = 4, 6, 7
_OPCODE_DEPRECATED, _OPCODE_CUSTOM, _OPCODE_VERSION, _OPCODE_BUILTIN = 0, 1, 2, 3
_SUBGRAPH_TENSORS, _SUBGRAPH_INPUTS, _SUBGRAPH_OUTPUTS, _SUBGRAPH_OPERATORS = 0, 1, 2, 3
_SUBGRAPH_NAME = 4
_TENSOR_SHAPE, _TENSOR_TYPE, _TENSOR_NAME, _TENSOR_QUANT, _TENSOR_SHAPE_SIG = 0, 1, 3, 4, 7
_QUANT_SCALE, _QUANT_ZERO_POINT, _QUANT_DIM = 2, 3, 6
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_OPERATOR_OPCODE_INDEX, _OPERATOR_INPUTS, _OPERATOR_OUTPUTS = 0, 1, 2
_SIGNATURE_INPUTS, _SIGNATURE_OUTPUTS, _SIGNATURE_KEY, _SIGNATURE_SUBGRAPH = 0, 1, 2, 4
_TENSORMAP_NAME, _TENSORMAP_INDEX = 0, 1


class ModelFormatError(Exception):
    """The bytes are not a complete TFLite flatbuffer. The message is user-facing."""


@dataclass(frozen=True)
class OpInfo:
    """One operator code: builtin name (or 'CUSTOM:<code>'), version, uses in all subgraphs."""

    name: str
    version: int
    count: int = 0


@dataclass(frozen=True)
class TensorInfo:
    """An input or output tensor of the main subgraph.

    `shape_signature` has -1 for dynamic dimensions (equal to `shape` when the
    model has none); `signature_name` is the tensor's name in the main
    subgraph's signature (the key a signature runner uses), if it has one.
    """

    name: str
    shape: List[int]
    dtype: str
    quantization: Optional[Dict[str, Any]]
    shape_signature: Optional[List[int]] = None
    signature_name: Optional[str] = None


@dataclass(frozen=True)
class SubgraphInfo:
    """One subgraph: its size, ops by name, and ops that write a float32 tensor."""

    index: int
    name: str
    tensors: int
    operators: int
    inputs: int
    outputs: int
    ops: Dict[str, int] = field(default_factory=dict)
    float_ops: Dict[str, int] = field(default_factory=dict)
    kernels: List[str] = field(default_factory=list)


def kernel_key(op: str, inputs: List[str], outputs: List[str]) -> str:
    """Names the kernel an operator needs: 'RSQRT(int16)->(int16)'.

    A runtime can register an op version and still refuse its tensor types
    ("Type INT16 is unsupported by op Rsqrt"), so what runs is the op with the
    types of every input ('-' for an absent optional one) and output.
    """
    return f"{op}({','.join(inputs)})->({','.join(outputs)})"


@dataclass(frozen=True)
class SignatureInfo:
    """A signature (e.g. 'serving_default'): its subgraph and input/output names in order."""

    key: str
    subgraph: int
    inputs: List[str]
    outputs: List[str]


@dataclass(frozen=True)
class ModelFacts:
    """What a .tflite file says about itself, read without any runtime.

    `min_runtime_version` is computed: the maximum of the metadata's claim
    (`metadata_min_runtime_version`) and of the runtime table over every op;
    `min_runtime_set_by` says which ("FULLY_CONNECTED v12" or "metadata");
    `unknown_ops` are builtin op versions the table lacks (need unknown).
    """

    size_bytes: int
    sha256: str
    schema_version: int
    min_runtime_version: Optional[str]
    ops: List[OpInfo]
    inputs: List[TensorInfo]
    outputs: List[TensorInfo]
    description: str = ""
    metadata: Dict[str, str] = field(default_factory=dict)
    subgraphs: List[SubgraphInfo] = field(default_factory=list)
    signatures: List[SignatureInfo] = field(default_factory=list)
    metadata_min_runtime_version: Optional[str] = None
    min_runtime_set_by: Optional[str] = None
    unknown_ops: List[OpInfo] = field(default_factory=list)

    @property
    def flex_ops(self) -> List[str]:
        """Names of the TensorFlow (Flex) ops, e.g. 'FlexTensorListReserve'."""
        return [op.name[len("CUSTOM:") :] for op in self.ops if is_flex(op.name)]

    @property
    def kernels(self) -> List[str]:
        """The distinct kernels (`kernel_key`) of every subgraph, in order of first use."""
        return list(dict.fromkeys(k for g in self.subgraphs for k in g.kernels))

    @property
    def custom_ops(self) -> List[str]:
        """Codes of the other custom ops (the runtime must register them)."""
        return [
            op.name[len("CUSTOM:") :]
            for op in self.ops
            if is_custom(op.name) and not is_flex(op.name)
        ]

    def to_json(self) -> Dict[str, Any]:
        """Returns a JSON-able dict; ops are `{name, version, count}`."""
        return asdict(self)


class _Reader:
    """Bounds-checked flatbuffer primitives over an in-memory buffer."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self.size = len(data)

    def _check(self, pos: int, n: int) -> None:
        if pos < 0 or pos + n > self.size:
            raise ModelFormatError(
                f"the file is truncated or corrupt (needs byte {pos + n}, has {self.size})"
            )

    def u8(self, pos: int) -> int:
        self._check(pos, 1)
        return self.data[pos]

    def i8(self, pos: int) -> int:
        self._check(pos, 1)
        return struct.unpack_from("<b", self.data, pos)[0]

    def u16(self, pos: int) -> int:
        self._check(pos, 2)
        return struct.unpack_from("<H", self.data, pos)[0]

    def i32(self, pos: int) -> int:
        self._check(pos, 4)
        return struct.unpack_from("<i", self.data, pos)[0]

    def u32(self, pos: int) -> int:
        self._check(pos, 4)
        return struct.unpack_from("<I", self.data, pos)[0]

    def u64(self, pos: int) -> int:
        self._check(pos, 8)
        return struct.unpack_from("<Q", self.data, pos)[0]

    def field_pos(self, table: int, index: int) -> Optional[int]:
        """Absolute position of field `index` of the table at `table`, or None if absent."""
        vtable = table - self.i32(table)
        vsize = self.u16(vtable)
        slot = 4 + 2 * index
        if slot >= vsize:
            return None
        rel = self.u16(vtable + slot)
        return table + rel if rel else None

    def deref(self, pos: int) -> int:
        return pos + self.u32(pos)

    def table(self, table: int, index: int) -> Optional[int]:
        pos = self.field_pos(table, index)
        return None if pos is None else self.deref(pos)

    def scalar(self, table: int, index: int, kind: str, default: int = 0) -> int:
        pos = self.field_pos(table, index)
        if pos is None:
            return default
        return {"u8": self.u8, "i8": self.i8, "i32": self.i32, "u32": self.u32, "u64": self.u64}[
            kind
        ](pos)

    def vector(self, table: int, index: int) -> Tuple[int, int]:
        """Returns (start of elements, length) of a vector field; (0, 0) when absent."""
        pos = self.table(table, index)
        if pos is None:
            return 0, 0
        length = self.u32(pos)
        return pos + 4, length

    def string(self, table: int, index: int) -> Optional[str]:
        start, length = self.vector(table, index)
        if not start:
            return None
        self._check(start, length)
        return self.data[start : start + length].decode("utf-8", errors="replace")

    def tables(self, table: int, index: int) -> List[int]:
        start, length = self.vector(table, index)
        self._check(start, 4 * length)
        return [self.deref(start + 4 * i) for i in range(length)]

    def ints(self, table: int, index: int, fmt: str = "i") -> List[Any]:
        start, length = self.vector(table, index)
        if not start:
            return []
        width = struct.calcsize("<" + fmt)
        self._check(start, width * length)
        return list(struct.unpack_from(f"<{length}{fmt}", self.data, start))

    def bytes_of(self, table: int, index: int) -> bytes:
        start, length = self.vector(table, index)
        if not start:
            return b""
        self._check(start, length)
        return self.data[start : start + length]


def read_model_facts(
    source: Union[str, Path, bytes, Any], sha256: Optional[str] = None
) -> ModelFacts:
    """Parses a .tflite file (a path, bytes, or any buffer such as an mmap) into `ModelFacts`.

    `sha256`, when the caller already knows the data's digest, is used as is
    (a memory-mapped file is then parsed without reading the pages it skips).
    Raises ModelFormatError when the data is not a TFLite flatbuffer or is
    truncated, and OSError when the path cannot be read.
    """
    if isinstance(source, (str, Path)):
        data = Path(source).read_bytes()
    else:
        data = bytes(source) if isinstance(source, memoryview) else source
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise ModelFormatError("not a TFLite model (no 'TFL3' file identifier)")
    try:
        return _parse(_Reader(data), sha256)
    except ModelFormatError:
        raise
    except (struct.error, IndexError, ValueError, KeyError, RecursionError) as exc:
        raise ModelFormatError(f"the file is truncated or corrupt ({exc})") from exc


def _parse(r: _Reader, sha256: Optional[str] = None) -> ModelFacts:
    model = r.deref(0)
    version = r.scalar(model, _MODEL_VERSION, "u32")
    buffers = r.tables(model, _MODEL_BUFFERS)

    metadata: Dict[str, str] = {}
    for entry in r.tables(model, _MODEL_METADATA):
        name = r.string(entry, _METADATA_NAME) or ""
        index = r.scalar(entry, _METADATA_BUFFER, "u32")
        raw = _buffer_bytes(r, buffers, index)
        # Metadata values are C strings in practice (min_runtime_version) or
        # opaque blobs; keep the printable ones.
        text = raw.split(b"\0", 1)[0].decode("ascii", errors="replace")
        if text.isprintable():
            metadata[name] = text

    opcodes = [_opcode(r, code) for code in r.tables(model, _MODEL_OPCODES)]
    subgraph_tables = r.tables(model, _MODEL_SUBGRAPHS)
    if not subgraph_tables:
        raise ModelFormatError("the model has no subgraph")
    counts = [0] * len(opcodes)
    subgraphs = [
        _subgraph(r, index, table, opcodes, counts) for index, table in enumerate(subgraph_tables)
    ]
    parsed = [_signature(r, s) for s in r.tables(model, _MODEL_SIGNATURES)]
    signatures = [info for info, _ in parsed]
    # The main subgraph's first signature names its inputs and outputs.
    names = next((found for info, found in parsed if info.subgraph == 0), {})
    main = subgraph_tables[0]
    tensors = r.tables(main, _SUBGRAPH_TENSORS)

    def tensor(i: int) -> TensorInfo:
        if not 0 <= i < len(tensors):
            raise ModelFormatError(f"the model refers to tensor {i}, which does not exist")
        t = tensors[i]
        dtype_code = r.scalar(t, _TENSOR_TYPE, "i8")
        shape = r.ints(t, _TENSOR_SHAPE)
        return TensorInfo(
            name=r.string(t, _TENSOR_NAME) or f"tensor_{i}",
            shape=shape,
            dtype=TENSOR_TYPES.get(dtype_code, f"type_{dtype_code}"),
            quantization=_quantization(r, t),
            shape_signature=r.ints(t, _TENSOR_SHAPE_SIG) or list(shape),
            signature_name=names.get(i),
        )

    need = runtime_need(opcodes, metadata.get("min_runtime_version"))
    return ModelFacts(
        size_bytes=r.size,
        sha256=sha256 or hashlib.sha256(r.data).hexdigest(),
        schema_version=version,
        min_runtime_version=need.version,
        ops=[OpInfo(n, v, c) for (n, v), c in zip(opcodes, counts)],
        inputs=[tensor(i) for i in r.ints(main, _SUBGRAPH_INPUTS)],
        outputs=[tensor(i) for i in r.ints(main, _SUBGRAPH_OUTPUTS)],
        description=r.string(model, _MODEL_DESCRIPTION) or "",
        metadata=metadata,
        subgraphs=subgraphs,
        signatures=signatures,
        metadata_min_runtime_version=need.metadata_version,
        min_runtime_set_by=need.set_by,
        unknown_ops=[OpInfo(n, v) for n, v in need.unknown_ops],
    )


def _opcode(r: _Reader, code: int) -> Tuple[str, int]:
    deprecated = r.scalar(code, _OPCODE_DEPRECATED, "i8")
    builtin = max(r.scalar(code, _OPCODE_BUILTIN, "i32"), deprecated)
    version = r.scalar(code, _OPCODE_VERSION, "i32", default=1)
    custom = r.string(code, _OPCODE_CUSTOM)
    if custom:
        return f"CUSTOM:{custom}", version
    return BUILTIN_OPERATORS.get(builtin, f"BUILTIN_{builtin}"), version


def _subgraph(
    r: _Reader, index: int, table: int, opcodes: List[Tuple[str, int]], counts: List[int]
) -> SubgraphInfo:
    """Reads one subgraph; adds its operators to `counts` (per operator code)."""
    tensors = r.tables(table, _SUBGRAPH_TENSORS)
    operators = r.tables(table, _SUBGRAPH_OPERATORS)
    ops: Dict[str, int] = {}
    float_ops: Dict[str, int] = {}
    kernels: List[str] = []
    types: Dict[int, str] = {}

    def dtype(i: int) -> str:
        if not 0 <= i < len(tensors):
            return "-"  # -1: an optional input left out
        if i not in types:
            code = r.scalar(tensors[i], _TENSOR_TYPE, "i8")
            types[i] = TENSOR_TYPES.get(code, f"type_{code}")
        return types[i]

    for op in operators:
        code = r.scalar(op, _OPERATOR_OPCODE_INDEX, "u32")
        if code >= len(opcodes):
            raise ModelFormatError(
                f"an operator refers to operator code {code}, which does not exist"
            )
        counts[code] += 1
        name = opcodes[code][0]
        ops[name] = ops.get(name, 0) + 1
        outputs = r.ints(op, _OPERATOR_OUTPUTS)
        if any(dtype(i) == "float32" for i in outputs):
            float_ops[name] = float_ops.get(name, 0) + 1
        kernels.append(kernel_key(name, [dtype(i) for i in r.ints(op, _OPERATOR_INPUTS)],
                                  [dtype(i) for i in outputs]))  # fmt: skip
    return SubgraphInfo(
        index=index,
        name=r.string(table, _SUBGRAPH_NAME) or "",
        tensors=len(tensors),
        operators=len(operators),
        inputs=len(r.ints(table, _SUBGRAPH_INPUTS)),
        outputs=len(r.ints(table, _SUBGRAPH_OUTPUTS)),
        ops=ops,
        float_ops=float_ops,
        kernels=kernels,
    )


def _signature(r: _Reader, table: int) -> Tuple[SignatureInfo, Dict[int, str]]:
    """Reads a SignatureDef; also returns tensor index → signature name."""
    names: Dict[int, str] = {}

    def entries(index: int) -> List[str]:
        found = []
        for entry in r.tables(table, index):
            name = r.string(entry, _TENSORMAP_NAME) or ""
            names[r.scalar(entry, _TENSORMAP_INDEX, "u32")] = name
            found.append(name)
        return found

    info = SignatureInfo(
        key=r.string(table, _SIGNATURE_KEY) or "",
        subgraph=r.scalar(table, _SIGNATURE_SUBGRAPH, "u32"),
        inputs=entries(_SIGNATURE_INPUTS),
        outputs=entries(_SIGNATURE_OUTPUTS),
    )
    return info, names


def _buffer_bytes(r: _Reader, buffers: List[int], index: int) -> bytes:
    if not 0 <= index < len(buffers):
        raise ModelFormatError(f"the model refers to buffer {index}, which does not exist")
    buf = buffers[index]
    data = r.bytes_of(buf, _BUFFER_DATA)
    if data:
        return data
    # Models over 2 GB keep buffers after the flatbuffer, addressed by offset.
    offset = r.scalar(buf, _BUFFER_OFFSET, "u64")
    size = r.scalar(buf, _BUFFER_SIZE, "u64")
    if offset > 1 and size:
        r._check(offset, size)
        return r.data[offset : offset + size]
    return b""


def _quantization(r: _Reader, tensor: int) -> Optional[Dict[str, Any]]:
    q = r.table(tensor, _TENSOR_QUANT)
    if q is None:
        return None
    scales = r.ints(q, _QUANT_SCALE, "f")
    zero_points = r.ints(q, _QUANT_ZERO_POINT, "q")
    if not scales:
        return None
    return {
        "scale": [float(s) for s in scales],
        "zero_point": [int(z) for z in zero_points],
        "quantized_dimension": r.scalar(q, _QUANT_DIM, "i32"),
    }
