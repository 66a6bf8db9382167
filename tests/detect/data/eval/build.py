"""Build dev.jsonl, test.jsonl, dev2.jsonl and dev3.jsonl from the sources in src/; verify them.

A source line is one text; ``[[value|type]]`` marks a span (type ``person`` when omitted);
``\\n`` is a line break and ``\\uXXXX`` any character (no-break and zero-width spaces).
Within each source file, texts alternate between the development half (1st, 3rd, ...) and
the test half (2nd, 4th, ...); ``more_dev*.txt`` (written later, while improving detection)
go to the development half whole; ``src/dev2/*.txt`` (a second development set written for
issue 21, bank texts in ten languages) make ``dev2.jsonl``, ``src/dev3/*.txt`` (a third,
written later for the PII-free look-alikes) ``dev3.jsonl``. Run:
``python tests/detect/data/eval/build.py``; it fails on a span whose text does not match, an
invalid IBAN, card, phone, id or address of its type.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARK = re.compile(r"\[\[(.+?)(?:\|(\w+))?\]\]", re.S)
TYPES = {
    "person", "city", "street_address", "postcode", "iban", "card", "phone", "email", "url",
    "ip_address", "date", "id", "vat", "bic", "crypto_wallet",
}  # fmt: skip
DEV_SETS = ("dev2", "dev3")  # src/<set>/*.txt -> <set>.jsonl, whole
REGION = {"en": "GB", "de": "DE", "fr": "FR", "es": "ES", "it": "IT", "nl": "NL", "pl": "PL",
          "pt": "PT", "tr": "TR", "mixed": "DE", "more": "GB", "sv": "SE", "da": "DK"}  # fmt: skip
# a real issuer prefix per card length family (Visa, Mastercard, Amex, Diners, Discover,
# JCB, UnionPay, Maestro)
IIN = re.compile(
    r"^(4|5[1-5]|2(2[2-9]|[3-6]|7[01]|720)|3[47]|36|30[0-5]|6011|65|35|62|5018|6759|6304)"
)


def region_of(source: str) -> str:
    """The phone region of a source file (``en.txt``, ``pl_free.txt``, ``dev2/sv.txt:3``)."""
    return REGION[source.split("/")[-1].split("_")[0].split(".")[0]]


def unescape(line: str) -> str:
    return re.sub(r"\\(n|u[0-9a-fA-F]{4})",
                  lambda m: "\n" if m.group(1) == "n" else chr(int(m.group(1)[1:], 16)), line)


def parse(line: str) -> dict:
    line = unescape(line)
    out, spans, pos, n = [], [], 0, 0
    for m in MARK.finditer(line):
        out.append(line[pos : m.start()])
        n += m.start() - pos
        value, typ = m.group(1), m.group(2) or "person"
        spans.append({"start": n, "end": n + len(value), "type": typ})
        out.append(value)
        n += len(value)
        pos = m.end()
    out.append(line[pos:])
    return {"text": "".join(out), "spans": spans}


ID_MODULES = (
    "de.idnr", "de.stnr", "fr.nir", "fr.nif", "es.dni", "es.nie", "es.nif", "es.cif",
    "it.codicefiscale", "nl.bsn", "pl.pesel", "pt.nif", "tr.tckimlik", "at.vnr",
    "se.personnummer", "gb.nhs", "us.ssn", "ro.cnp",
)  # fmt: skip


def valid_id(compact: str) -> bool:
    """Some python-stdnum module accepts it, or it is a German pension insurance number."""
    import importlib

    for name in ID_MODULES:
        if importlib.import_module(f"stdnum.{name}").is_valid(compact):
            return True
    m = re.fullmatch(r"(\d{8})([A-Z])(\d{2})(\d)", compact)
    if m is None:  # Rentenversicherungsnummer: area, birth date, initial, serial, check
        return False
    d = m.group(1) + f"{ord(m.group(2)) - 64:02d}" + m.group(3)
    weights = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)
    total = sum(sum(divmod(int(c) * w, 10)) for c, w in zip(d, weights, strict=True))
    return total % 10 == int(m.group(4))


def problems(rec: dict, region: str) -> list[str]:
    """What is wrong with one record's spans (empty when every span checks out)."""
    import phonenumbers
    from stdnum import iban, luhn
    from stdnum.eu import vat

    bad = []
    text, last = rec["text"], -1
    for s in sorted(rec["spans"], key=lambda s: s["start"]):
        v, t = text[s["start"] : s["end"]], s["type"]
        if t not in TYPES:
            bad.append(f"unknown type {t}")
        if s["start"] < last or v != v.strip() or not v:
            bad.append(f"overlapping or padded span {v!r}")
        last = s["end"]
        compact = re.sub(r"[\s.\-]", "", unicodedata.normalize("NFKC", v))
        if t == "iban" and not iban.is_valid(compact):
            bad.append(f"invalid IBAN {v!r}")
        if t == "card" and not (12 <= len(compact) <= 19 and luhn.is_valid(compact)
                                and IIN.match(compact)):
            bad.append(f"invalid card {v!r}")
        if t == "vat" and not vat.is_valid(compact):
            bad.append(f"invalid VAT {v!r}")
        if t == "id" and not valid_id(compact):
            bad.append(f"invalid id {v!r}")
        if t == "phone":
            num = re.split(r"\s*(?:ext\.?|x|Durchwahl)\s*\d+$", v)[0]
            try:
                p = phonenumbers.parse(num, region)
                ok = phonenumbers.is_valid_number(p)
            except phonenumbers.NumberParseException:
                ok = False
            if not ok:
                bad.append(f"invalid phone {v!r}")
        if t == "email" and not re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", v):
            bad.append(f"invalid email {v!r}")
        if t == "ip_address":
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError:
                bad.append(f"invalid IP {v!r}")
    return bad


def main() -> int:
    halves: dict[str, list[dict]] = {"dev": [], "test": [], "dev2": [], "dev3": []}
    errors = []
    paths = sorted((HERE / "src").glob("*.txt")) + [
        p for d in DEV_SETS for p in sorted((HERE / "src" / d).glob("*.txt"))
    ]
    for path in paths:
        name = path.relative_to(HERE / "src").as_posix()
        k = 0
        for i, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not raw.strip() or raw.startswith("#"):
                continue
            rec = parse(raw)
            rec["source"] = f"{name}:{i}"
            errors += [f"{name}:{i}: {e}" for e in problems(rec, region_of(name))]
            if name.split("/")[0] in DEV_SETS:
                half = name.split("/")[0]
            else:
                half = "dev" if k % 2 == 0 or path.stem.startswith("more_dev") else "test"
            halves[half].append(rec)
            k += 1
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    for name, recs in halves.items():
        with (HERE / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            for r in recs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        free = sum(1 for r in recs if not r["spans"])
        print(f"{name}: {len(recs)} texts, {sum(len(r['spans']) for r in recs)} spans, "
              f"{free} PII-free")
    return 0


if __name__ == "__main__":
    sys.exit(main())
