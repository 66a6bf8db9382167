"""What ``scan_table`` accepts, as a stream of Arrow batches, and the scannable leaves of a
column (structs flattened, lists element-wise, dictionaries decoded)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError

BATCH_ROWS = 65_536


def batches_of(data: Any) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema and batches of a Table, RecordBatch(es), a reader, a DataFrame (anything
    with the Arrow stream interface) or an iterable of batches."""
    if isinstance(data, pa.Table):
        return data.schema, iter(data.to_batches(max_chunksize=BATCH_ROWS))
    if isinstance(data, pa.RecordBatch):
        return data.schema, iter([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.schema, iter(data)
    if isinstance(data, (list, tuple)) and all(isinstance(b, pa.RecordBatch) for b in data):
        if not data:
            return pa.schema([]), iter([])
        return data[0].schema, iter(data)
    if hasattr(data, "__arrow_c_stream__") or type(data).__name__ == "DataFrame":
        return _frame_batches(data)
    if isinstance(data, Iterable):
        return _iterable_batches(data)
    raise InputError(f"scan_table cannot read a {type(data).__name__}")


def _frame_batches(data: Any) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    try:
        table = _to_arrow(data)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        # the library's message may quote a cell value: name the error class only
        raise InputError(
            f"cannot read the {type(data).__name__} as an Arrow table ({type(exc).__name__})"
        ) from None
    return table.schema, iter(table.to_batches(max_chunksize=BATCH_ROWS))


def _iterable_batches(data: Iterable[Any]) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    it = iter(data)
    try:
        first = next(it)
    except StopIteration:
        return pa.schema([]), iter([])
    if not isinstance(first, pa.RecordBatch):
        raise InputError("scan_table expects a pyarrow Table, RecordBatch(es) or a reader")

    def chain() -> Iterator[pa.RecordBatch]:
        yield first
        yield from it

    return first.schema, chain()


def _to_arrow(data: Any) -> pa.Table:
    try:
        return pa.table(data)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        if type(data).__name__ != "DataFrame" or not hasattr(data, "dtypes"):
            raise
    # a pandas column mixing types (object dtype): scan the text of its values
    fixed = data.copy()
    for col, dtype in data.dtypes.items():
        if str(dtype) == "object":
            fixed[col] = [None if v is None or v != v else str(v) for v in data[col]]
    return pa.table(fixed)


def leaves(name: str, arr: pa.Array) -> Iterator[tuple[str, pa.Array, str | None]]:
    """(column path, array, note) for each scannable leaf: structs are flattened,
    lists scanned element-wise, dictionaries decoded."""
    typ = arr.type
    if pa.types.is_struct(typ):
        for i in range(typ.num_fields):
            yield from leaves(f"{name}.{typ.field(i).name}", pc.struct_field(arr, [i]))
        return
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        yield from (
            (n, a, note or "list elements scanned")
            for n, a, note in leaves(f"{name}[]", pc.list_flatten(arr))
        )
        return
    if pa.types.is_dictionary(typ):
        yield name, arr.dictionary_decode(), None
        return
    yield name, arr, None
