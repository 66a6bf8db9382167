"""Fixtures of the service tests: a workspace with a consent policy, one key per role, a client.

Every log record of the ``veil`` and ``uvicorn`` loggers during the session is kept in
``CAPTURED`` for the log-capture test (tests/service/test_logs_hold_no_personal_data.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

POLICY = """\
version: 1
name: Service test bank
controller:
  name: Test Bank SE
  contact: privacy@test-bank.example
  address: Teststrasse 1, Frankfurt
  dpo: {name: DPO, email: dpo@test-bank.example}
datasets:
  customers:
    subject_id: customer_id
    fields:
      customer_id: direct_identifier
      email: contact
      balance: {category: income_credit, type: float}
purposes:
  offers:
    description: Personalised offers from transaction history
    legal_basis: consent
    retention: 2 years
    datasets:
      customers: {fields: {customer_id: keep, balance: keep}}
  scoring:
    description: Credit scoring
    legal_basis: legitimate_interests
    legitimate_interest: Responsible lending
    retention: 5 years
    datasets:
      customers: {fields: {customer_id: keep, balance: keep}}
    automated_decisions:
      decision: Approve or refuse a loan application
      basis: contract
      safeguards: [human_intervention, express_view, contest]
      overseers: [Head of credit risk]
      features:
        balance: {reason: Your account balance is low}
      protected_attributes: [gender, age_band]
"""

#: The decision model every service test workspace has registered (purpose scoring).
MODEL = "score"

# Subject ids that look like personal data on purpose: if any reached a log, the scanner would
# find it (see test_logs_hold_no_personal_data.py).
SUBJECT = "anna.schmidt@example.com"
SUBJECT2 = "DE89370400440532013000"
GRANT = {"purpose": "offers", "channel": "web_form",
         "action": "Anna Schmidt clicked 'I agree' (anna.schmidt@example.com)"}

CAPTURED: list[str] = []


class _Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            CAPTURED.append(self.format(record))
        except Exception:  # a record that cannot be formatted is still a record
            CAPTURED.append(str(record.msg))


@pytest.fixture(scope="session", autouse=True)
def capture_service_logs() -> Iterator[list[str]]:
    handler = _Keep(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(n) for n in ("veil", "uvicorn", "uvicorn.error",
                                              "uvicorn.access")]
    old = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        if lg.name.startswith("veil"):
            lg.setLevel(logging.DEBUG)
    yield CAPTURED
    for lg, level in old:
        lg.removeHandler(handler)
        lg.setLevel(level)


#: The environment variable that holds the KEK of workspaces made by `make_workspace` (set for
#: the session by `service_kek`): the KEK seals the API-key pepper and the subjects' pseudonym key.
SERVICE_KEK_VAR = "VEIL_TEST_SERVICE_KEK"


@pytest.fixture(scope="session", autouse=True)
def service_kek() -> Iterator[None]:
    from veil.kek.providers import EnvKEK

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SERVICE_KEK_VAR, EnvKEK.new_secret())
        yield


NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")  # a key that names a field is not a value


def json_strings(obj: Any, names: bool = True) -> Iterator[str]:
    """Every string of a JSON value; keys that read as field names only with ``names``."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if names or not NAME.match(str(k)):
                yield str(k)
            yield from json_strings(v, names)
    elif isinstance(obj, list):
        for v in obj:
            yield from json_strings(v, names)


def echoed(answer: Any, values: set[str]) -> list[str]:
    """Values of ``values`` found in any string of the JSON ``answer``."""
    found = []
    for text in json_strings(answer):
        found.extend(v for v in values if v in text)
    return found


def make_workspace(root: Path) -> Any:
    """A workspace with an env KEK (`SERVICE_KEK_VAR`), the test policy and a notice."""
    from veil.consent import Ledger
    from veil.kek.config import write_keys_config
    from veil.policy import load_policy
    from veil.store.workspace import init_workspace

    ws, _ = init_workspace(root)
    write_keys_config(root, {"kek": "env", "variable": SERVICE_KEK_VAR})
    (root / "policy.yaml").write_text(POLICY, "utf-8")
    Ledger(ws, load_policy(root / "policy.yaml")).add_notice(
        "offers", "1", "We use your transactions to tailor offers.\n", created_by="tests",
        effective="2024-01-01T00:00:00Z")
    from tests.decisions.ledger_fixtures import add_model

    add_model(ws, MODEL, purpose="scoring", features=["balance"])
    return ws


def make_keys(ws: Any) -> dict[str, str]:
    from veil.service import ApiKeyStore

    store = ApiKeyStore(ws)
    from veil.service.roles import ROLES

    return {role: store.create(role, f"test-{role}", created_by="tests")[1] for role in ROLES}


def client_for(root: Path, **settings: Any) -> Any:
    from fastapi.testclient import TestClient

    from veil.service import ServiceConfig, create_app

    if (root / "policy.yaml").is_file():
        settings.setdefault("policy", str(root / "policy.yaml"))
    return TestClient(create_app(ServiceConfig.load(root, **settings)),
                      raise_server_exceptions=False)


@pytest.fixture
def svc(workspace) -> Iterator[Any]:
    """A workspace (SQLite and PostgreSQL) with keys per role and a client on it."""
    from veil.consent import Ledger
    from veil.policy import parse_policy

    (workspace.root / "policy.yaml").write_text(POLICY, "utf-8")
    Ledger(workspace, parse_policy(POLICY)).add_notice(
        "offers", "1", "We use your transactions to tailor offers.\n", created_by="tests",
        effective="2024-01-01T00:00:00Z")
    keys = make_keys(workspace)
    with client_for(workspace.root, rate_limit=0) as client:
        yield _Ctx(workspace, keys, client)


class _Ctx:
    def __init__(self, ws: Any, keys: dict[str, str], client: Any) -> None:
        self.ws, self.keys, self.client = ws, keys, client

    def h(self, role: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}

    def key_id(self, role: str) -> str:
        return self.keys[role].split("_")[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Starlette's TestClient warns that it wants httpx2; the tests use the installed httpx.
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.filterwarnings(
                "ignore:Using `httpx` with `starlette.testclient`"))
