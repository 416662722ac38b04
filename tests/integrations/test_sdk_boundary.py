"""STYLE 9 / docs/integrations.md: a provider's `client.py` is the only module that imports its SDK
(or its HTTP client). Checked over every project module's import statements, wherever they are
(top level or inside a function)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Provider SDKs (and the HTTP client a provider without an SDK is called with).
SDKS = {"stripe", "twilio", "sendgrid", "python_http_client", "httpx"}
SKIP = {".venv", "tests", "bench", "node_modules", "migrations"}


def _imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_a_provider_client_module_imports_a_provider_sdk():
    offenders = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if SKIP.intersection(relative.parts):
            continue
        sdks = _imported_roots(ast.parse(path.read_text(), filename=str(path))) & SDKS
        is_client = len(relative.parts) == 3 and relative.parts[0] == "integrations" and relative.name == "client.py"
        if sdks and not is_client:
            offenders.append(f"{relative}: {', '.join(sorted(sdks))}")
    assert offenders == []
