"""The layering rules of SPEC section 2 and STYLE.md, checked on the source itself.

- ``federation/`` is a protocol library: it never imports ``service``.
- Only ``service/app.py``, ``service/api/`` (JSON) and ``service/web/`` (pages) import FastAPI or
  Starlette, or Authlib's web integrations (``authlib.integrations``: its Starlette client, for
  OpenID Connect sign-in).
- Only ``service/cli.py`` and ``service/serving.py`` (the server process: uvicorn and the HTTP
  protocol it is given) import uvicorn.
- ``service/web/`` (pages) calls the domain's use cases, never the JSON API's route modules: of
  ``service/api/`` it uses only the request dependencies (``deps``), the problem helpers
  (``problems``) and the sign-in helpers (``auth``).
- ``trex_client`` (the SDK, ``clients/python/``) imports nothing of the node (``service``,
  ``federation``, ``migrations``), and nothing but the standard library, httpx and pydantic: it
  is installed into other people's systems with those two dependencies only.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ROOT = ROOT / "clients" / "python"
NODE_PACKAGES = ("service", "federation", "migrations")
CLIENT_DEPENDENCIES = ("httpx", "pydantic", "trex_client")
WEB_FRAMEWORKS = ("fastapi", "starlette")
WEB_INTEGRATIONS = ("authlib.integrations",)
_DYNAMIC_IMPORTERS = {"import_module", "__import__"}
API = "service.api"
# What pages may use of service/api/: helpers, not routes.
API_HELPERS_FOR_PAGES = ("service.api.deps", "service.api.problems", "service.api.auth")


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    module: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module} ({self.rule})"


def _package_of(relative: PurePosixPath) -> list[str]:
    """The dotted package a module lives in, e.g. ``service/api/me.py`` -> [service, api]."""
    parts = list(relative.with_suffix("").parts)
    # A package's __init__ lives in the package itself; any other module in its parent.
    return parts[:-1]


def imported_modules(source: str, relative: PurePosixPath) -> list[tuple[int, str]]:
    """Every module ``source`` imports, as absolute dotted names with their line numbers.

    Covers ``import x``, ``from x import y`` (relative ones resolved against the file's
    package), imports nested anywhere (functions, ``if TYPE_CHECKING:``, ``try:``), and
    ``importlib.import_module("x")`` / ``__import__("x")`` with a literal name.
    """
    package = _package_of(relative)
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename=str(relative))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            found.append((node.lineno, prefix))
            # ``from service import db`` or ``from . import service`` name modules too.
            found.extend((node.lineno, f"{prefix}.{alias.name}".strip(".")) for alias in node.names)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in _DYNAMIC_IMPORTERS and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append((node.lineno, first.value))
    return found


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _is_web(module: str) -> bool:
    return _top(module) in WEB_FRAMEWORKS or any(
        module == m or module.startswith(f"{m}.") for m in WEB_INTEGRATIONS
    )


def _is_api_route_module(module: str) -> bool:
    """A module of ``service/api/`` other than the helpers pages may use.

    ``service.api`` itself (as in ``from service.api import deps``) is the package, not a
    module of routes; the name after it is checked on its own.
    """
    if not module.startswith(f"{API}."):
        return False
    return not any(module == m or module.startswith(f"{m}.") for m in API_HELPERS_FOR_PAGES)


def layering_violations(source: str, relative: PurePosixPath) -> list[Violation]:
    """What in ``source`` (the file at ``relative``, from the repository root) breaks a rule."""
    parts = relative.parts
    in_federation = parts[0] == "federation"
    in_service = parts[0] == "service"
    web_allowed = relative == PurePosixPath("service/app.py") or parts[:2] in {
        ("service", "api"),
        ("service", "web"),
    }
    uvicorn_allowed = relative in {
        PurePosixPath("service/cli.py"),
        PurePosixPath("service/serving.py"),
    }
    in_web = parts[:2] == ("service", "web")
    in_client = parts[0] == "trex_client"
    violations = []
    for line, module in imported_modules(source, relative):
        top = _top(module)
        if in_client and top in NODE_PACKAGES:
            rule = "trex_client never imports the node"
        elif in_client and top not in sys.stdlib_module_names and top not in CLIENT_DEPENDENCIES:
            rule = "trex_client imports only the standard library, httpx and pydantic"
        elif in_federation and top == "service":
            rule = "federation/ never imports service"
        elif in_service and _is_web(module) and not web_allowed:
            rule = "only service/app.py, service/api/ and service/web/ import the web framework"
        elif in_service and top == "uvicorn" and not uvicorn_allowed:
            rule = "only service/cli.py and service/serving.py import uvicorn"
        elif in_web and _is_api_route_module(module):
            rule = (
                "service/web/ calls the domain's use cases, not service/api/ routes "
                "(of service/api/ it uses only deps, problems and auth)"
            )
        else:
            continue
        violations.append(Violation(str(relative), line, module, rule))
    return violations


def _sources() -> list[PurePosixPath]:
    return [
        PurePosixPath(path.relative_to(ROOT).as_posix())
        for folder in ("service", "federation")
        for path in sorted((ROOT / folder).rglob("*.py"))
    ]


def test_the_tree_keeps_its_layers() -> None:
    files = _sources()
    # Guard against a vacuous pass (a moved tree, a wrong root).
    assert PurePosixPath("service/app.py") in files
    assert any(f.parts[0] == "federation" for f in files)
    assert any(f.parts[:2] == ("service", "web") for f in files)
    violations = [
        violation
        for relative in files
        for violation in layering_violations(
            (ROOT / relative).read_text(encoding="utf-8"), relative
        )
    ]
    assert violations == [], "\n".join(str(v) for v in violations)


def _client_sources() -> list[PurePosixPath]:
    """The SDK's modules, relative to its distribution (``trex_client/…``)."""
    return [
        PurePosixPath(path.relative_to(CLIENT_ROOT).as_posix())
        for path in sorted((CLIENT_ROOT / "trex_client").rglob("*.py"))
    ]


def test_the_sdk_imports_nothing_of_the_node() -> None:
    files = _client_sources()
    assert PurePosixPath("trex_client/_client.py") in files
    violations = [
        violation
        for relative in files
        for violation in layering_violations(
            (CLIENT_ROOT / relative).read_text(encoding="utf-8"), relative
        )
    ]
    assert violations == [], "\n".join(str(v) for v in violations)


def test_the_allowed_places_really_import_what_they_may() -> None:
    """If these stopped importing, the exemptions above would silently test nothing."""
    app = imported_modules(
        (ROOT / "service/app.py").read_text("utf-8"), PurePosixPath("service/app.py")
    )
    cli = imported_modules(
        (ROOT / "service/cli.py").read_text("utf-8"), PurePosixPath("service/cli.py")
    )
    assert "fastapi" in {_top(m) for _, m in app}
    assert "uvicorn" in {_top(m) for _, m in cli}


@pytest.mark.parametrize(
    ("path", "source", "module"),
    [
        ("federation/sync.py", "import service", "service"),
        ("federation/sync.py", "import service.db as db", "service.db"),
        ("federation/sync.py", "from service.db import utcnow", "service.db"),
        ("federation/sync.py", "from service import db", "service"),
        (
            "federation/sync.py",
            "def f():\n    from service.errors import TrexError\n",
            "service.errors",
        ),
        (
            "federation/sync.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import service.models\n",
            "service.models",
        ),
        (
            "federation/sync.py",
            "import importlib\nimportlib.import_module('service.db')\n",
            "service.db",
        ),
        ("federation/sync.py", "__import__('service')", "service"),
        ("service/advisories/service.py", "import fastapi", "fastapi"),
        ("service/advisories/service.py", "from fastapi import HTTPException", "fastapi"),
        (
            "service/errors.py",
            "from starlette.responses import JSONResponse",
            "starlette.responses",
        ),
        (
            "service/access/policy.py",
            "try:\n    import starlette\nexcept ImportError:\n    pass\n",
            "starlette",
        ),
        (
            "service/access/signin.py",
            "from authlib.integrations.starlette_client import OAuth",
            "authlib.integrations.starlette_client",
        ),
        ("service/access/signin.py", "from authlib import integrations", "authlib.integrations"),
        ("service/asgi.py", "import uvicorn", "uvicorn"),
        ("service/api/deps.py", "from uvicorn import Config", "uvicorn"),
        ("service/db.py", "from uvicorn.config import Config", "uvicorn.config"),
        ("trex_client/_client.py", "from service.errors import TrexError", "service.errors"),
        ("trex_client/_models.py", "from service.advisories import schemas", "service.advisories"),
        ("trex_client/cli.py", "import federation.canonical", "federation.canonical"),
        ("trex_client/_core.py", "def f():\n    import migrations\n", "migrations"),
        ("trex_client/cli.py", "import click", "click"),
        ("trex_client/_core.py", "from sqlalchemy import select", "sqlalchemy"),
        ("service/web/operator_members.py", "from service.api import admin", "service.api.admin"),
        (
            "service/web/operator_federation.py",
            "from service.api.federation import federation_status",
            "service.api.federation",
        ),
        ("service/web/screening.py", "import service.api.screening", "service.api.screening"),
        (
            "service/web/operator.py",
            "from ..api import admin_federation",
            "service.api.admin_federation",
        ),
        ("service/web/home.py", "def f():\n    from service.api.me import me\n", "service.api.me"),
        (
            "service/web/advisories.py",
            "import importlib\nimportlib.import_module('service.api.advisories')\n",
            "service.api.advisories",
        ),
        # A helper's name is not a prefix that lets any module through.
        ("service/web/home.py", "import service.api.deps_of_routes", "service.api.deps_of_routes"),
    ],
)
def test_a_forbidden_import_is_caught(path: str, source: str, module: str) -> None:
    found = layering_violations(source, PurePosixPath(path))
    assert found, f"{source!r} in {path} should break a layering rule"
    assert module in {v.module for v in found}


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("service/app.py", "from fastapi import FastAPI"),
        ("service/api/me.py", "from fastapi import APIRouter"),
        ("service/api/limits.py", "from starlette.types import ASGIApp"),
        ("service/api/auth.py", "from authlib.integrations.starlette_client import OAuth"),
        # Authlib's JOSE and OAuth primitives are not web code.
        ("service/access/signin.py", "from authlib.jose import JsonWebKey"),
        ("service/cli.py", "import uvicorn"),
        ("service/advisories/service.py", "from service.errors import NotFound"),
        ("federation/sync.py", "from federation.canonical import canonical_text\nimport httpx"),
        ("federation/sync.py", "from . import canonical"),
        # A name that merely starts with 'service' is not the service package.
        ("federation/sync.py", "import services_registry"),
        ("service/advisories/service.py", "import fastapi_like_helper"),
        ("trex_client/_client.py", "import httpx\nimport asyncio"),
        ("trex_client/_models.py", "from pydantic import BaseModel"),
        ("trex_client/_client.py", "from . import _core\nfrom ._errors import TrexError"),
        ("trex_client/cli.py", "import argparse\nfrom trex_client._client import TrexClient"),
        ("service/web/home.py", "from service.api.deps import NowDep, SessionFactoryDep"),
        ("service/web/home.py", "from service.api import deps, problems"),
        ("service/web/install.py", "from service.api.problems import on_http_error"),
        ("service/web/sign_in.py", "from service.api.auth import local_path"),
        ("service/web/operator.py", "from ..api.deps import SessionFactoryDep"),
        # The domain's use cases are what pages call, whatever their module is named.
        ("service/web/operator_members.py", "from service.access import admin"),
        ("service/web/operator_federation.py", "from service.peering.admin import add_peer"),
        # Only pages are held to it: the app and the API's own modules use the routes.
        ("service/app.py", "from service.api import admin, federation"),
        ("service/api/admin_federation.py", "from service.api.admin import router"),
    ],
)
def test_an_allowed_import_passes(path: str, source: str) -> None:
    assert layering_violations(source, PurePosixPath(path)) == []


def test_relative_imports_are_resolved() -> None:
    found = imported_modules("from ..db import utcnow\n", PurePosixPath("service/api/deps.py"))
    assert (1, "service.db") in found
    found = imported_modules("from . import canonical\n", PurePosixPath("federation/__init__.py"))
    assert (1, "federation.canonical") in found
