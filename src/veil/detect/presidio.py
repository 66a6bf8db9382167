"""For users coming from Presidio: Veil's types under Presidio's entity names, Veil's span
finder as a Presidio recognizer, and Presidio's recognizers inside Veil.

    from veil.detect.presidio import veil_recognizer
    analyzer.registry.add_recognizer(veil_recognizer())     # Veil inside Presidio

    from veil.detect.presidio import from_presidio
    registry = default_registry()
    for rec in from_presidio(presidio_pattern_recognizer):  # Presidio inside Veil
        registry.register(rec)

presidio-analyzer is optional (``pip install presidio-analyzer``; it is in the ``test``
extra): it is imported only by the functions that need it. Presidio's NER needs a spaCy
model, which spaCy publishes outside PyPI; Veil's own recognizers need none, so a Presidio
analyzer holding only :func:`veil_recognizer` (and pattern recognizers) works without one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from veil.detect.registry import Recognizer
from veil.detect.text import SpanFinder

PRESIDIO_ENTITIES: dict[str, str] = {
    "person": "PERSON",
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "iban": "IBAN_CODE",
    "card": "CREDIT_CARD",
    "ip_address": "IP_ADDRESS",
    "mac_address": "MAC_ADDRESS",
    "url": "URL",
    "date": "DATE_TIME",
    "date_of_birth": "DATE_TIME",
    "city": "LOCATION",
    "street_address": "LOCATION",
    "postcode": "LOCATION",
    "crypto_wallet": "CRYPTO",
    "us_ssn": "US_SSN",
    "uk_nino": "UK_NINO",
    "passport": "PASSPORT",
    "account_number": "BANK_ACCOUNT",
    "bic": "SWIFT_CODE",
    "vat": "VAT_CODE",
    "national_id": "NATIONAL_ID",
    "company_id": "COMPANY_ID",
    "device_id": "DEVICE_ID",
}
"""Veil type -> Presidio entity name (Presidio's own names where it has one; a plain
upper-case name where it has none: BANK_ACCOUNT, SWIFT_CODE, VAT_CODE, NATIONAL_ID, ...)."""

RECOGNIZER_ENTITIES: dict[str, str] = {
    "es_dni": "ES_NIF",
    "in_aadhaar": "IN_AADHAAR",
    "in_pan": "IN_PAN",
    "in_epic": "IN_VOTER",
    "au_abn": "AU_ABN",
    "au_acn": "AU_ACN",
    "au_tfn": "AU_TFN",
    "sg_uen": "SG_UEN",
    "kr_rrn": "KR_RRN",
    "th_pin": "TH_TNIN",
    "es_nie": "ES_NIE",
    "it_codicefiscale": "IT_FISCAL_CODE",
    "vat_it": "IT_VAT_CODE",
    "pl_pesel": "PL_PESEL",
    "fi_hetu": "FI_PERSONAL_IDENTITY_CODE",
    "se_personnummer": "SE_PERSONNUMMER",
    "se_orgnr": "SE_ORGANISATIONSNUMMER",
    "gb_nhs": "UK_NHS",
    "us_itin": "US_ITIN",
    "de_idnr": "DE_TAX_ID",
    "de_stnr": "DE_TAX_NUMBER",
    "vat_de": "DE_VAT_ID",
    "de_handelsregister": "DE_HANDELSREGISTER",
    "de_rvnr": "DE_SOCIAL_SECURITY",
}
"""Veil recognizer -> Presidio entity, where Presidio names the country's number."""


def presidio_entity(type_: str, recognizer: str = "") -> str:
    """The Presidio entity name of a Veil span (its recognizer's, else its type's)."""
    return RECOGNIZER_ENTITIES.get(recognizer) or PRESIDIO_ENTITIES.get(type_, type_.upper())


def veil_type(entity: str) -> str:
    """The Veil type of a Presidio entity name (the first Veil type mapped to it; the lower-
    cased name when none is)."""
    for rec, ent in RECOGNIZER_ENTITIES.items():
        if ent == entity:
            from veil.detect.registry import default_registry

            reg = default_registry()
            if rec in reg:
                return reg.get(rec).type
    for t, ent in PRESIDIO_ENTITIES.items():
        if ent == entity:
            return t
    return entity.lower()


def veil_recognizer(finder: SpanFinder | None = None, *, language: str = "en") -> Any:
    """A Presidio ``EntityRecognizer`` that runs Veil's span finder (every Veil recognizer,
    one call per text) and reports Presidio entity names."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    if finder is None:  # every type, general dates and URLs too (Presidio reports them)
        from veil.detect.registry import default_registry

        finder = SpanFinder(types=default_registry().types())
    f = finder
    entities = sorted(set(PRESIDIO_ENTITIES.values()) | set(RECOGNIZER_ENTITIES.values()))

    class VeilRecognizer(EntityRecognizer):  # type: ignore[misc]
        """Veil's recognizers as one Presidio recognizer."""

        def load(self) -> None:
            return None

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list:
            wanted = set(entities or self.supported_entities)
            out = []
            for sp in f.find([text])[0]:
                ent = presidio_entity(sp.type, sp.recognizer)
                if ent in wanted:
                    out.append(
                        RecognizerResult(
                            ent,
                            sp.start,
                            sp.end,
                            sp.score,
                            recognition_metadata={
                                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                                "veil_type": sp.type,
                                "veil_recognizer": sp.recognizer,
                            },
                        )
                    )
            return out

    return VeilRecognizer(
        supported_entities=entities, name="VeilRecognizer", supported_language=language
    )


def from_presidio(recognizer: Any, *, score: float | None = None) -> list[Recognizer]:
    """Veil recognizers from a Presidio ``PatternRecognizer``: one per pattern, with its
    regex, score and context words, and Presidio's ``validate_result`` as the validator
    (True keeps, False drops, None keeps the pattern's score). Patterns Python's ``re``
    cannot compile are left out; other kinds of Presidio recognizer (NER models) go through
    :func:`presidio_ner` instead."""
    patterns = getattr(recognizer, "patterns", None)
    if patterns is None:
        raise TypeError("from_presidio takes a Presidio PatternRecognizer (see presidio_ner)")
    entity = recognizer.supported_entities[0]
    flags = re.IGNORECASE if (getattr(recognizer, "global_regex_flags", 0) or 0) & 2 else 0
    base = re.sub(r"\W+", "_", f"presidio_{recognizer.name}").strip("_").lower()
    out: list[Recognizer] = []
    for i, p in enumerate(patterns):
        try:
            re.compile(p.regex, flags)
        except re.error:
            continue

        def check(value: str, _r: Any = recognizer, _s: float = p.score) -> float:
            ok = _r.validate_result(value)
            if ok is False or (_r.invalidate_result(value) is True):
                return 0.0
            return 1.0 if ok is True else _s

        out.append(
            Recognizer(
                name=f"{base}_{i}",
                type=veil_type(entity),
                pattern=p.regex,
                validator=check,
                validator_name=f"presidio {recognizer.name}",
                strength="library",
                context=tuple(recognizer.context or ()),
                score=score if score is not None else max(p.score, 0.01),
                value_pattern=None,
                flags=flags,
                in_columns=False,
            )
        )
    return out


def presidio_ner(recognizer: Any, *, language: str = "en", entities: Iterable[str] = ()) -> Any:
    """A :class:`SpanFinder` ``ner`` hook from any Presidio recognizer (spaCy, transformers,
    GLiNER...): its results become Veil spans of the mapped types."""
    from veil.detect.text import Span

    wanted = list(entities) or list(recognizer.supported_entities)

    def run(texts: list[str]) -> list[list[Span]]:
        out = []
        for t in texts:
            res = recognizer.analyze(t, wanted, None)
            out.append(
                [Span(r.start, r.end, veil_type(r.entity_type), r.score, "presidio") for r in res]
            )
        return out

    return run
