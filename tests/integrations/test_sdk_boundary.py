"""STYLE 9 / docs/integrations.md: one module per provider talks to it and is the only one that
imports its SDK (or the HTTP client): `integrations/<provider>/client.py` for inbound providers,
`integrations/destinations/senders/<provider>.py` (with the destinations' one HTTP transport,
`base.py` and its SSRF guard `ssrf.py`) for outbound ones, `enrichment/providers/<provider>.py` for
enrichment providers. Checked over every project module's import statements, wherever they are
(top level or inside a function)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Provider SDKs (and the HTTP client a provider without an SDK is called with).
SDKS = {"stripe", "twilio", "sendgrid", "python_http_client", "httpx", "slack_sdk"}
SKIP = {".venv", "tests", "bench", "node_modules", "migrations"}


def _imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def _is_provider_module(relative: Path) -> bool:
    parts = relative.parts
    return (
        (len(parts) == 3 and parts[0] == "integrations" and relative.name == "client.py")
        or parts[:3] == ("integrations", "destinations", "senders")
        or parts in (("integrations", "destinations", "base.py"), ("integrations", "destinations", "ssrf.py"))
        or parts[:2] == ("enrichment", "providers")
    )


def test_only_a_provider_client_module_imports_a_provider_sdk():
    offenders = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if SKIP.intersection(relative.parts):
            continue
        sdks = _imported_roots(ast.parse(path.read_text(), filename=str(path))) & SDKS
        is_client = _is_provider_module(relative)
        if sdks and not is_client:
            offenders.append(f"{relative}: {', '.join(sorted(sdks))}")
    assert offenders == []
