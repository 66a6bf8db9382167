"""Which policy field type the values of each scanned column fit (for policy drafts)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from veil.discovery.columns import ScanReport

# -- policy field types ---------------------------------------------------------------------

_KINDS = ("boolean", "integer", "float", "date", "timestamp")
_LEADING_ZERO = r"^[+-]?0\d"


class TypeGuesser:
    """Which policy field type the text values of each column fit (checked on every batch,
    stopping at the first batch that rules a type out)."""

    def __init__(self) -> None:
        self.possible: dict[str, list[str]] = {}
        self.arrow: dict[str, pa.DataType] = {}
        self.seen: set[str] = set()

    def add(self, batch: pa.RecordBatch) -> None:
        for name, arr in zip(batch.schema.names, batch.columns, strict=True):
            typ = arr.type
            self.arrow.setdefault(name, typ)
            if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
                continue
            kinds = self.possible.setdefault(name, list(_KINDS))
            if not kinds:
                continue
            vals = pc.utf8_trim_whitespace(arr)
            vals = vals.filter(pc.not_equal(vals, ""))
            if len(vals) == 0:
                continue
            self.seen.add(name)
            head = vals.slice(0, 256)
            for kind in list(kinds):
                # a small slice first: most columns rule most types out on a few values
                if not _fits(head, kind) or (len(vals) > len(head) and not _fits(vals, kind)):
                    kinds.remove(kind)

    def result(self, report: ScanReport) -> dict[str, str]:
        out: dict[str, str] = {}
        for c in report.columns:
            name = c.name
            typ = self.arrow.get(name)
            if c.types or c.free_text:
                # identifiers stay text (leading zeros, separators); birth dates may be dates
                dob_date = c.top_type == "date_of_birth" and (
                    _is_date(typ) or (name in self.seen and "date" in self.possible.get(name, []))
                )
                out[name] = "date" if dob_date else "string"
                continue
            if typ is not None and not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
                out[name] = kind_of(typ)
                continue
            kinds = self.possible.get(name, [])
            out[name] = kinds[0] if (name in self.seen and kinds) else "string"
        return out


def _is_date(typ: pa.DataType | None) -> bool:
    return typ is not None and pa.types.is_date(typ)


def _fits(vals: pa.Array, kind: str) -> bool:
    try:
        if kind == "boolean":
            pc.cast(vals, pa.bool_())
        elif kind == "integer":
            if pc.any(pc.match_substring_regex(vals, _LEADING_ZERO)).as_py():
                return False  # codes with leading zeros (postcodes, ids) stay text
            pc.cast(vals, pa.int64())
        elif kind == "float":
            pc.cast(vals, pa.float64())
        elif kind == "date":
            pc.cast(vals, pa.date32())
        elif kind == "timestamp":
            from veil.io.types import parse_timestamp

            parse_timestamp(vals)
        return True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False


def kind_of(typ: pa.DataType) -> str:
    if pa.types.is_boolean(typ):
        return "boolean"
    if pa.types.is_integer(typ):
        return "integer"
    if pa.types.is_floating(typ):
        return "float"
    if pa.types.is_decimal(typ):
        return "decimal"
    if pa.types.is_date(typ):
        return "date"
    if pa.types.is_timestamp(typ):
        return "timestamp"
    return "string"


def arrow_type(name: str) -> pa.DataType:
    simple = {
        "bool": pa.bool_(),
        "double": pa.float64(),
        "float": pa.float32(),
        "date32[day]": pa.date32(),
        "date64[ms]": pa.date64(),
    }
    if name in simple:
        return simple[name]
    if name.startswith(("int", "uint")):
        return pa.int64()
    if name.startswith("timestamp"):
        return pa.timestamp("us")
    if name.startswith("decimal"):
        return pa.decimal128(38, 9)
    return pa.string()
