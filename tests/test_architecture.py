"""
The layers of docs/architecture.md are enforced, and the enforcement itself can fail: each
test plants one forbidden import in a throwaway copy of the project and sees the checker
refuse it, naming the import.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["integration_site", "audits", "identity", "licensing", "monitoring", "bookmarks"]
BIN = Path(sys.executable).parent


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The apps' Python code and pyproject.toml."""
    ignored = shutil.ignore_patterns("__pycache__", "static", "templates")
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=ignored)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def plant(project: Path, module: str, source: str) -> None:
    path = project / Path(*module.split(".")).with_suffix(".py")
    path.write_text(source)


def test_the_project_keeps_every_contract(project_copy):
    result = lint_imports(project_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "named"),
    [
        # The platform knows no app.
        (
            "integration_site.planted",
            "import audits.models\n",
            "integration_site.planted -> audits.models",
        ),
        # The trail is below the domains.
        (
            "audits.planted",
            "from monitoring import models\n",
            "audits.planted -> monitoring.models",
        ),
        # Siblings never import each other.
        ("licensing.planted", "import identity.models\n", "licensing.planted -> identity.models"),
        # Nothing below saved searches imports them, even lazily.
        (
            "monitoring.planted",
            "def f():\n    import bookmarks.models\n",
            "monitoring.planted -> bookmarks.models",
        ),
    ],
)
def test_a_wrong_way_import_breaks_the_layers_contract(project_copy, module, source, named):
    plant(project_copy, module, source)
    result = lint_imports(project_copy)
    assert result.returncode != 0
    assert (
        "Layers: the platform, then the trail, then the domains, then saved searches BROKEN"
        in result.stdout
    )
    assert named in result.stdout


def test_an_import_cycle_inside_an_app_breaks_the_acyclic_contract(project_copy):
    plant(project_copy, "licensing.planted_a", "import licensing.planted_b\n")
    plant(project_copy, "licensing.planted_b", "def f():\n    import licensing.planted_a\n")
    result = lint_imports(project_copy)
    assert result.returncode != 0
    assert "No import cycles inside an app BROKEN" in result.stdout
    assert "No cycles are allowed in licensing." in result.stdout


def test_importing_another_apps_private_name_fails_the_lint(project_copy):
    plant(project_copy, "bookmarks.planted", "from audits.chain import _planted_private\n")
    result = subprocess.run(
        [
            str(BIN / "ruff"),
            "check",
            "--no-cache",
            "--output-format",
            "concise",
            "bookmarks/planted.py",
        ],
        cwd=project_copy,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Private name import `_planted_private`" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "named"),
    [
        (
            "monitoring.planted",
            "from monitoring.sensu import payloads\n",
            "monitoring.planted -> monitoring.sensu.payloads",
        ),
        # The trail's write path never reaches the Foreman API, even lazily.
        (
            "audits.services",
            "def f():\n    from audits.foreman import views\n",
            "audits.services -> audits.foreman.views",
        ),
    ],
)
def test_a_domain_importing_its_wire_layer_breaks_the_protocol_contract(
    project_copy, module, source, named
):
    path = project_copy / Path(*module.split(".")).with_suffix(".py")
    path.write_text((path.read_text() if path.exists() else "") + source)
    result = lint_imports(project_copy)
    assert result.returncode != 0
    assert "Peer protocol packages import their domain, never the reverse BROKEN" in result.stdout
    assert named in result.stdout
