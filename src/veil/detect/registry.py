"""The recognizer registry: one identifier type = one small recognizer, registered by name.

A :class:`Recognizer` is data, not a class hierarchy: a regex that finds *candidates* (in
free text, and as a whole column value), a validator from a well-kept library that
confirms them (python-stdnum, schwifty, phonenumbers, ipaddress), context words that raise
the score (or are required), and a few hints for column scanning. The engines in
``veil.detect.text`` and ``veil.discovery.columns`` run the regexes over whole Arrow
arrays or joined text and call validators only on candidates, each distinct value once.

Users add their own recognizers from a dict (the policy file feeds it)::

    registry = default_registry()
    registry.add_from_config({
        "name": "employee_id", "type": "employee_id",
        "pattern": r"EMP-\\d{6}", "validator": "luhn",
        "context": ["employee", "staff"], "category": "direct_identifier",
    })
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from veil.errors import PolicyError

Validator = Callable[[str], Any]
"""A validator gets the candidate text and returns True/False, or a score in [0, 1]."""

CATEGORIES = (
    "direct_identifier",
    "contact",
    "government_id",
    "account",
    "card",
    "transaction",
    "income_credit",
    "location",
    "online_identifier",
    "demographic",
    "free_text",
)

RULES = ("pseudonymize", "mask", "generalize", "redact_text", "drop", "keep")


@dataclass(frozen=True)
class TypeInfo:
    """What an identifier type is in a policy: its data category and the rule a draft
    suggests for a column holding it. Unpacks as ``(category, rule)``."""

    category: str
    rule: str

    def __iter__(self) -> Iterator[str]:
        return iter((self.category, self.rule))


DEFAULT_TYPE_INFO = TypeInfo("direct_identifier", "pseudonymize")
"""For a type the table does not know (a user recognizer's own type)."""

TYPE_INFO: dict[str, TypeInfo] = {
    "person": TypeInfo("direct_identifier", "pseudonymize"),
    "email": TypeInfo("contact", "pseudonymize"),
    "phone": TypeInfo("contact", "mask"),
    "iban": TypeInfo("account", "pseudonymize"),
    "account_number": TypeInfo("account", "pseudonymize"),
    "bic": TypeInfo("account", "generalize"),
    "crypto_wallet": TypeInfo("account", "pseudonymize"),
    "card": TypeInfo("card", "mask"),
    "vat": TypeInfo("government_id", "pseudonymize"),
    "national_id": TypeInfo("government_id", "drop"),
    "us_ssn": TypeInfo("government_id", "drop"),
    "uk_nino": TypeInfo("government_id", "drop"),
    "passport": TypeInfo("government_id", "drop"),
    "date_of_birth": TypeInfo("demographic", "generalize"),
    "ip_address": TypeInfo("online_identifier", "generalize"),
    "mac_address": TypeInfo("online_identifier", "pseudonymize"),
    "device_id": TypeInfo("online_identifier", "pseudonymize"),
    "postcode": TypeInfo("location", "generalize"),
    "street_address": TypeInfo("location", "drop"),
    "city": TypeInfo("location", "generalize"),
    "company_id": TypeInfo("government_id", "pseudonymize"),
    "url": TypeInfo("online_identifier", "pseudonymize"),
    "date": TypeInfo("demographic", "generalize"),
    "free_text": TypeInfo("free_text", "redact_text"),
}
"""type -> data category and suggested policy rule."""

# Chance that a random candidate of the right shape passes a validator of this strength.
# The column scanner rejects a column whose validation rate is near chance (random ids).
STRENGTHS = ("checksum", "library", "format", "context")


@dataclass(frozen=True)
class Recognizer:
    """One identifier type.

    ``pattern`` is a Python regex finding candidates inside free text. ``value_pattern`` is an
    RE2 regex (pyarrow.compute syntax, no look-arounds) that a whole column value must match
    (anchors are added); ``prefilter`` an RE2 regex, a superset of ``pattern``, used to pick
    the texts worth scanning (``gate``, a Python function, does the same for a few short
    texts, where compiling RE2 would cost more than the scan). ``validator`` confirms a
    candidate (True/False or a score). An ``optional`` recognizer (general dates, URLs: no
    personal data by themselves) runs only when its type is asked for by name.
    """

    name: str
    type: str
    pattern: str
    validator: Validator | None = None
    validator_name: str = "format"
    strength: str = "format"  # checksum | library | format | context
    context: tuple[str, ...] = ()
    context_required: bool = False
    score: float = 0.6
    value_pattern: str | None = None
    prefilter: str | None = None
    column_names: str | None = None  # regex on column names that support this type
    name_required: bool = False  # in columns: needs a supporting column name
    in_text: bool = True
    in_columns: bool = True
    veto: Callable[[str], bool] | None = None  # failed validation + veto(value) -> vetoes overlaps
    context_fn: Callable[[str, str], bool] | None = None  # (text before, text after) -> context?
    shrink: bool = False  # on failed validation, retry shorter candidates at separators
    validate_in_text: bool = True  # False: in text the regex match itself is the evidence
    flags: int = 0
    category: str | None = None
    rule: str | None = None
    context_window: int = 48
    context_not: tuple[str, ...] = ()  # words in the window that cancel the match's context
    context_not_window: int | None = None  # characters before the match searched for those
    gate: Callable[[str], bool] | None = None  # cheap Python test for a few short texts
    optional: bool = False  # found only when its type is asked for (``types=[...]``)
    column_min_rate: float | None = None  # in columns: this recognizer alone validates this share
    country: str = ""  # ISO 3166 code of the country that issues the number ("" = any)

    def __post_init__(self) -> None:
        if not self.name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise PolicyError(f"recognizer name {self.name!r} is not an identifier")
        if self.strength not in STRENGTHS:
            raise PolicyError(f"recognizer {self.name}: unknown strength {self.strength!r}")

    # -- compiled forms (cached on the frozen instance) ---------------------------------
    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern, self.flags)

    @cached_property
    def value_regex_source(self) -> str | None:
        """RE2 source for whole-value matching in columns, anchored."""
        src = self.value_pattern
        if src is None:
            return None
        prefix = "(?i)" if self.flags & re.IGNORECASE else ""
        return f"{prefix}^\\s*(?:{src})\\s*$"

    @cached_property
    def value_regex(self) -> re.Pattern[str] | None:
        """Python twin of the value pattern (used for small inputs and as RE2 fallback)."""
        if self.value_pattern is None:
            return None
        return re.compile(f"\\s*(?:{self.value_pattern})\\s*", self.flags)

    @cached_property
    def column_regex(self) -> re.Pattern[str] | None:
        return re.compile(self.column_names, re.IGNORECASE) if self.column_names else None

    @cached_property
    def context_lower(self) -> tuple[str, ...]:
        return tuple(w.lower() for w in self.context)

    @property
    def data_category(self) -> str:
        return self.category or TYPE_INFO.get(self.type, DEFAULT_TYPE_INFO).category

    @property
    def suggested_rule(self) -> str:
        return self.rule or TYPE_INFO.get(self.type, DEFAULT_TYPE_INFO).rule

    @cached_property
    def has_value_group(self) -> bool:
        return "value" in self.regex.groupindex

    def score_value(self, value: str) -> float:
        """Validator score of a candidate: 0.0 = rejected, else the base score (or the
        validator's own score). Never raises. When the pattern has a group named ``value``,
        the validator sees that group only (``LC(?P<value>\\d{15})``)."""
        if self.validator is None:
            return self.score
        if self.has_value_group:
            m = self.regex.search(value)
            if m is None or m.group("value") is None:
                return 0.0
            value = m.group("value")
        try:
            ok = self.validator(value)
        except Exception:  # noqa: BLE001 - a library validator must not crash a scan
            return 0.0
        if ok is True:
            return self.score
        if not ok:
            return 0.0
        return float(ok)

    def validate(self, value: str) -> bool:
        """True when the candidate passes this recognizer's validator."""
        return self.score_value(value) > 0.0

    def supports_column(self, column_name: str) -> bool:
        rx = self.column_regex
        return bool(rx and rx.search(normalize_column_name(column_name)))

    def has_context(self, window_lower: str) -> bool:
        return any(w in window_lower for w in self.context_lower)


def normalize_column_name(name: str) -> str:
    """ "customerEmail", "DOB_text", "iban-no" -> "customer email", "dob text", "iban no"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return re.sub(r"[\s_\-.\[\]]+", " ", spaced).strip().lower()


# -- validators by name (for user recognizers in a policy file) ------------------------


def _stdnum(module: str) -> Validator:
    mod = importlib.import_module(f"stdnum.{module}")
    return mod.is_valid  # type: ignore[no-any-return]


def _luhn(value: str) -> bool:
    from stdnum import luhn

    return bool(luhn.is_valid(re.sub(r"[\s-]", "", value)))


def _lazy(name: str) -> Validator:
    def call(value: str) -> Any:
        return VALIDATORS[name](value)

    return call


VALIDATORS: dict[str, Validator] = {}
"""Named validators for user recognizers. Any ``stdnum.<module>`` name also works."""


def _init_validators() -> None:
    from veil.detect.recognizers import cards, contact, crypto, network

    VALIDATORS.update(
        {
            "luhn": _luhn,
            "card": cards.validate_card,
            "iban": _stdnum("iban"),
            "bic": _stdnum("bic"),
            "eu_vat": _stdnum("eu.vat"),
            "vatin": _stdnum("vatin"),
            "isin": _stdnum("isin"),
            "lei": _stdnum("lei"),
            "iso11649": _stdnum("iso11649"),
            "us_rtn": _stdnum("us.rtn"),
            "bitcoin": _stdnum("bitcoin"),
            "ethereum": crypto.validate_ethereum,
            "email": contact.validate_email,
            "phone": contact.validate_phone,
            "ipv4": network.validate_ipv4,
            "ipv6": network.validate_ipv6,
            "ip": network.validate_ip,
            "mac": _stdnum("mac"),
        }
    )


def validator_by_name(name: str) -> Validator:
    """The validator registered as ``name`` (see :data:`VALIDATORS`) or ``stdnum.<module>``."""
    if not VALIDATORS:
        _init_validators()
    if name in VALIDATORS:
        return VALIDATORS[name]
    if name.startswith("stdnum."):
        module = name[len("stdnum.") :]
        if not re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*", module):
            raise PolicyError(f"validator {name!r}: not a stdnum module name")
        try:
            return _stdnum(module)
        except (ImportError, AttributeError):
            raise PolicyError(f"validator {name!r}: no such python-stdnum module") from None
    known = ", ".join(sorted(VALIDATORS))
    raise PolicyError(f"unknown validator {name!r} (known: {known}, or stdnum.<module>)")


# -- the registry ----------------------------------------------------------------------

_CONFIG_KEYS = {
    "name",
    "type",
    "pattern",
    "value_pattern",
    "validator",
    "context",
    "context_required",
    "score",
    "column_names",
    "category",
    "rule",
    "flags",
}


class Registry:
    """Recognizers by name. Iterates in registration order."""

    def __init__(self, recognizers: Iterable[Recognizer] = ()) -> None:
        self._by_name: dict[str, Recognizer] = {}
        self._version = 0
        for rec in recognizers:
            self.register(rec)

    def register(self, recognizer: Recognizer, *, replace: bool = False) -> Recognizer:
        if recognizer.name in self._by_name and not replace:
            raise PolicyError(f"recognizer {recognizer.name!r} is already registered")
        self._by_name[recognizer.name] = recognizer
        self._version += 1
        return recognizer

    def unregister(self, name: str) -> None:
        if name not in self._by_name:
            raise PolicyError(f"no recognizer named {name!r}")
        del self._by_name[name]
        self._version += 1

    def get(self, name: str) -> Recognizer:
        try:
            return self._by_name[name]
        except KeyError:
            raise PolicyError(f"no recognizer named {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Recognizer]:
        return iter(list(self._by_name.values()))

    def __len__(self) -> int:
        return len(self._by_name)

    @property
    def version(self) -> int:
        return self._version

    def names(self) -> list[str]:
        return list(self._by_name)

    def types(self) -> list[str]:
        return sorted({r.type for r in self._by_name.values()})

    def for_type(self, type_: str) -> list[Recognizer]:
        return [r for r in self._by_name.values() if r.type == type_]

    def only(self, types: Iterable[str]) -> Registry:
        wanted = set(types)
        return Registry(r for r in self._by_name.values() if r.type in wanted)

    def copy(self) -> Registry:
        return Registry(self._by_name.values())

    def add_from_config(self, spec: Mapping[str, Any], *, replace: bool = False) -> Recognizer:
        return self.register(recognizer_from_config(spec), replace=replace)

    def add_all_from_config(self, specs: Iterable[Mapping[str, Any]]) -> list[Recognizer]:
        return [self.add_from_config(s) for s in specs]


def recognizer_from_config(spec: Mapping[str, Any]) -> Recognizer:
    """Build a user recognizer from a dict: ``name``, ``pattern`` (regex) required; ``type``
    (defaults to the name), ``validator`` (a name from :data:`VALIDATORS` or
    ``stdnum.<module>``), ``context`` (list of words), ``context_required`` (default: true
    when context words are given and no validator), ``score``, ``column_names`` (regex),
    ``value_pattern`` (RE2 regex for whole column values; defaults to ``pattern`` when RE2
    accepts it), ``category``, ``rule``, ``flags`` (list of "ignorecase"). A group named
    ``value`` in ``pattern`` is what the validator checks (the span is the whole match)."""
    if not isinstance(spec, Mapping):
        raise PolicyError("a custom recognizer must be a mapping")
    name = spec.get("name")
    where = f"recognizer {name!r}" if name else "custom recognizer"
    unknown = set(spec) - _CONFIG_KEYS
    if unknown:
        raise PolicyError(f"unknown field(s) {sorted(unknown)}", where=where)
    if not isinstance(name, str):
        raise PolicyError("field 'name' is required and must be a string", where=where)
    pattern, flags = _config_pattern(spec, where)
    vname = spec.get("validator")
    validator = _config_validator(vname, where)
    context = _config_context(spec, where)
    context_required = spec.get("context_required", bool(context) and validator is None)
    score = _config_score(spec, validator is not None, where)
    category, rule = _config_category_rule(spec, where)
    value_pattern = _config_value_pattern(spec, pattern, where)
    column_names = _config_column_names(spec, where)
    try:
        return Recognizer(
            name=name,
            type=str(spec.get("type") or name),
            pattern=pattern,
            validator=validator,
            validator_name=vname or "format",
            strength="library" if validator is not None else "format",
            context=context,
            context_required=bool(context_required),
            score=score,
            value_pattern=value_pattern,
            column_names=column_names,
            flags=flags,
            category=category,
            rule=rule,
        )
    except PolicyError as exc:
        raise PolicyError(exc.message, where=where) from None


def _config_pattern(spec: Mapping[str, Any], where: str) -> tuple[str, int]:
    """The required ``pattern``, compiled with its ``flags`` to check it."""
    pattern = spec.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise PolicyError("field 'pattern' is required and must be a regex string", where=where)
    flags = 0
    for f in spec.get("flags", []) or []:
        if str(f).lower() not in ("i", "ignorecase", "ignore_case"):
            raise PolicyError(f"unknown flag {f!r} (known: ignorecase)", where=where)
        flags |= re.IGNORECASE
    try:
        re.compile(pattern, flags)
    except re.error as exc:
        raise PolicyError(f"field 'pattern' is not a valid regex: {exc}", where=where) from None
    return pattern, flags


def _config_validator(vname: Any, where: str) -> Validator | None:
    if vname is None:
        return None
    if not isinstance(vname, str):
        raise PolicyError("field 'validator' must be a validator name", where=where)
    return validator_by_name(vname)


def _config_context(spec: Mapping[str, Any], where: str) -> tuple[str, ...]:
    context = spec.get("context", []) or []
    if isinstance(context, str) or not all(isinstance(w, str) for w in context):
        raise PolicyError("field 'context' must be a list of words", where=where)
    return tuple(context)


def _config_score(spec: Mapping[str, Any], validated: bool, where: str) -> float:
    score = spec.get("score", 0.8 if validated else 0.6)
    if not isinstance(score, (int, float)) or not 0 < float(score) <= 1:
        raise PolicyError("field 'score' must be a number in (0, 1]", where=where)
    return float(score)


def _config_category_rule(spec: Mapping[str, Any], where: str) -> tuple[str | None, str | None]:
    category = spec.get("category")
    if category is not None and category not in CATEGORIES:
        raise PolicyError(
            f"unknown category {category!r} (known: {', '.join(CATEGORIES)})", where=where
        )
    rule = spec.get("rule")
    if rule is not None and rule not in RULES:
        raise PolicyError(f"unknown rule {rule!r} (known: {', '.join(RULES)})", where=where)
    return category, rule


def _config_value_pattern(spec: Mapping[str, Any], pattern: str, where: str) -> str | None:
    value_pattern = spec.get("value_pattern")
    if value_pattern is None and re2_accepts(pattern):
        return pattern
    if value_pattern is not None and not re2_accepts(value_pattern):
        raise PolicyError("field 'value_pattern' is not a valid RE2 regex", where=where)
    return value_pattern  # type: ignore[no-any-return]


def _config_column_names(spec: Mapping[str, Any], where: str) -> str | None:
    column_names = spec.get("column_names")
    if column_names is not None:
        try:
            re.compile(column_names)
        except (re.error, TypeError):
            raise PolicyError("field 'column_names' is not a valid regex", where=where) from None
    return column_names  # type: ignore[no-any-return]


def re2_accepts(pattern: str) -> bool:
    """True when pyarrow's RE2 compiles ``pattern`` (no look-arounds, backreferences...)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array(["x"]), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


_DEFAULT: list[Recognizer] = []


def builtin_recognizers() -> list[Recognizer]:
    """The built-in recognizers (built once)."""
    if not _DEFAULT:
        from veil.detect.recognizers import all_recognizers

        _DEFAULT.extend(all_recognizers())
    return list(_DEFAULT)


def default_registry() -> Registry:
    """A fresh registry holding every built-in recognizer (add or remove freely)."""
    return Registry(builtin_recognizers())


def registry_for(
    policy: Any = None, registry: Registry | None = None
) -> tuple[Registry, list[str]]:
    """The registry to scan with: ``registry`` (or the built-ins) plus the user recognizers of
    ``policy`` (a :class:`veil.policy.Policy`, a path, or ``"sample"``). Returns the registry
    and the names of the user recognizers added."""
    from veil.policy import Policy, load_policy

    reg = registry.copy() if registry is not None else default_registry()
    if policy is None:
        return reg, []
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    added: list[str] = []
    for i, spec in enumerate(pol.recognizers):
        try:
            rec = reg.add_from_config(spec)
        except PolicyError as exc:
            raise PolicyError(
                f"{exc.where + ': ' if exc.where else ''}{exc.message}",
                where=pol.locate("recognizers", i),
            ) from None
        added.append(rec.name)
    return reg, added


def with_overrides(rec: Recognizer, **changes: Any) -> Recognizer:
    """A copy of ``rec`` with some fields changed (e.g. more context words)."""
    return replace(rec, **changes)
