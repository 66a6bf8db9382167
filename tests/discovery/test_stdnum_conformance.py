"""Every case of python-stdnum's own doctests (../shared/conformance/stdnum/stdnum_cases.json)
through the recognizer (or named validator) that covers the module: every valid number is
accepted, every invalid one rejected."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from veil.detect.registry import default_registry, validator_by_name

# module -> recognizer name, ("recognizer", country) for country-specific IBAN modules, or
# "validator:<name>" for financial numbers that are not personal data (ISIN, LEI, ...):
# those are offered to user recognizers as named validators, not registered as PII types.
MODULE_MAP: dict[str, Any] = {
    "at.tin": "at_tin",
    "at.uid": "vat_at",
    "at.vnr": "at_vnr",
    "be.bis": "be_bis",
    "be.iban": ("iban", "BE"),
    "be.nn": "be_nn",
    "be.vat": "vat_be",
    "bg.egn": "bg_egn",
    "bg.pnf": "bg_pnf",
    "bg.vat": "vat_bg",
    "bic": "bic",
    "bitcoin": "bitcoin",
    "ch.ssn": "ch_ssn",
    "ch.vat": "vat_ch",
    "cy.vat": "vat_cy",
    "cz.dic": "vat_cz",
    "cz.rc": "cz_rc",
    "de.idnr": "de_idnr",
    "de.stnr": "de_stnr",
    "de.vat": "vat_de",
    "dk.cpr": "dk_cpr",
    "dk.cvr": "vat_dk",
    "ee.ik": "ee_ik",
    "ee.kmkr": "vat_ee",
    "es.cif": "es_cif",
    "es.dni": "es_dni",
    "es.iban": ("iban", "ES"),
    "es.nie": "es_nie",
    "es.nif": "vat_es",
    "eu.oss": "eu_oss",
    "eu.vat": "eu_vat",
    "fi.alv": "vat_fi",
    "fi.hetu": "fi_hetu",
    "fr.nif": "fr_nif",
    "fr.nir": "fr_nir",
    "fr.tva": "vat_fr",
    "gb.nhs": "gb_nhs",
    "gb.vat": "vat_gb",
    "gr.amka": "gr_amka",
    "gr.vat": "vat_gr",
    "hr.oib": "vat_hr",
    "hu.anum": "vat_hu",
    "iban": "iban",
    "ie.pps": "ie_pps",
    "ie.vat": "vat_ie",
    "isin": "validator:isin",
    "iso11649": "validator:iso11649",
    "it.codicefiscale": "it_codicefiscale",
    "it.iva": "vat_it",
    "lei": "validator:lei",
    "lt.asmens": "lt_asmens",
    "lt.pvm": "vat_lt",
    "lu.tva": "vat_lu",
    "luhn": "validator:luhn",
    "lv.pvn": "vat_lv",
    "mt.vat": "vat_mt",
    "nl.bsn": "nl_bsn",
    "nl.btw": "vat_nl",
    "no.fodselsnummer": "no_fodselsnummer",
    "no.iban": ("iban", "NO"),
    "no.mva": "vat_no",
    "pl.nip": "vat_pl",
    "pl.pesel": "pl_pesel",
    "pt.cc": "pt_cc",
    "pt.nif": "vat_pt",
    "ro.cf": "vat_ro",
    "ro.cnp": "ro_cnp",
    "se.personnummer": "se_personnummer",
    "se.vat": "vat_se",
    "si.ddv": "vat_si",
    "si.emso": "si_emso",
    "sk.dph": "vat_sk",
    "sk.rc": "sk_rc",
    "us.ein": "us_ein",
    "us.itin": "us_itin",
    "us.rtn": "validator:us_rtn",
    "us.ssn": "us_ssn",
    "us.tin": "us_tin",
    "vatin": "vatin",
}

_CASES = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "conformance"
    / "stdnum"
    / "stdnum_cases.json"
)


def _modules() -> list[str]:
    if not _CASES.is_file():
        return []
    return sorted(json.loads(_CASES.read_text())["types"])


@pytest.fixture(scope="module")
def cases(conformance_dir: Path) -> dict[str, Any]:
    return json.loads((conformance_dir / "stdnum" / "stdnum_cases.json").read_text())["types"]


def _checker(module: str) -> tuple[Callable[[str], bool], str]:
    target = MODULE_MAP[module]
    reg = default_registry()
    if isinstance(target, tuple):
        rec = reg.get(target[0])
        country = target[1]

        def check(n: str) -> bool:
            compact = "".join(n.split()).replace("-", "").upper()
            return rec.validate(n) and compact[:2] == country

        return check, f"{rec.name} ({rec.validator_name}) restricted to {country}"
    if target.startswith("validator:"):
        fn = validator_by_name(target.split(":", 1)[1])
        return (lambda n: bool(fn(n))), target
    rec = reg.get(target)
    return rec.validate, f"{rec.name} ({rec.validator_name})"


def test_every_module_is_covered(cases: dict[str, Any]) -> None:
    missing = sorted(set(cases) - set(MODULE_MAP))
    assert not missing, f"modules without a recognizer or validator: {missing}"


def test_recognizer_validators_name_their_library() -> None:
    reg = default_registry()
    for module, target in MODULE_MAP.items():
        if isinstance(target, str) and not target.startswith("validator:"):
            rec = reg.get(target)
            if module not in ("bic", "bitcoin", "iban", "vatin", "eu.vat", "eu.oss"):
                assert rec.validator_name == f"stdnum.{module}", (module, rec.validator_name)


@pytest.mark.parametrize("module", _modules() or ["<no conformance data>"])
def test_stdnum_cases(module: str, cases: dict[str, Any]) -> None:
    if module not in cases:
        pytest.skip("conformance data not found")
    check, label = _checker(module)
    entry = cases[module]
    wrong: list[str] = []
    checked = 0
    for case in entry["valid"]:
        if case.get("kwargs"):
            continue  # extra arguments change the rule checked; see test_kwargs_cases
        checked += 1
        if not check(case["number"]):
            wrong.append(f"valid rejected: {case['number']!r} ({case['source']})")
    for case in entry["invalid"]:
        if case.get("kwargs"):
            continue
        checked += 1
        if check(case["number"]):
            wrong.append(
                f"invalid accepted: {case['number']!r} ({case['error']}, {case['source']})"
            )
    assert checked > 0
    assert not wrong, f"{module} via {label}:\n" + "\n".join(wrong)


def test_kwargs_cases(cases: dict[str, Any]) -> None:
    """Cases recorded with extra arguments (``check_country=False``, a ``Bundesland``, an
    alphabet for luhn) test a rule the recognizers do not use; they are listed, not run.
    The default rule of the same numbers is covered above. This pins their number so a new
    dataset with more of them is noticed."""
    with_kwargs = [
        (m, c["number"])
        for m, e in cases.items()
        for c in e["valid"] + e["invalid"]
        if c.get("kwargs")
    ]
    assert len(with_kwargs) == 31
    assert {m for m, _ in with_kwargs} <= {
        "at.tin",
        "de.stnr",
        "fi.hetu",
        "iban",
        "lt.asmens",
        "luhn",
    }
