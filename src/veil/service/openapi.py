"""Write the service's OpenAPI document to docs/openapi.json (a test checks it is current).

    python -m veil.service.openapi [OUT.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from veil.service.app import openapi_document


def render() -> str:
    """The document as committed: indented JSON, a final newline."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).resolve().parents[3] / "docs" / "openapi.json"
    out.write_text(render(), "utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
