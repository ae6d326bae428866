"""The import architecture (pyproject's ``[tool.importlinter]``): kept by the tree as it is, and
broken by a planted upward import or a planted circle in a copy of it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("automl", "models", "storage", "ui")


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` run in ``project`` (its packages come first on the path, ahead of the install)."""
    script = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", script, "--no-cache"], cwd=project, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The project's packages, app.py and pyproject.toml, copied to plant violations in."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("app.py", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def plant(project: Path, path: str, source: str) -> None:
    """Append ``source`` to the file at ``path`` in ``project`` (a new module when there is none)."""
    file = project / path
    file.write_text((file.read_text() if file.exists() else "") + source)


def test_the_tree_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(copy):
    plant(copy, "automl/data/planted.py", "from automl.search.config import StudyConfig\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "import only downward BROKEN" in result.stdout
    assert "automl.data.planted -> automl.search.config" in result.stdout


def test_an_import_circle_breaks_the_acyclic_contract(copy):
    # two sibling modules of one layer importing each other: no layer is crossed, only the circle
    plant(copy, "automl/features/planted_a.py", "from automl.features import planted_b\n")
    plant(copy, "automl/features/planted_b.py", "from automl.features import planted_a\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "No import circle between the modules of any package BROKEN" in result.stdout
    assert "planted_a" in result.stdout


@pytest.mark.parametrize("path, source, broken", [
    ("models/planted.py", "import automl.errors\n", "The model zoo stands alone"),
    ("storage/planted.py", "import models.spec\n", "Storage stands alone"),
    ("automl/planted.py", "import app\n", "Nothing imports the Streamlit entry point app.py"),
    # the epoch loop asking the task dispatch above it, as it once did
    ("automl/training/loop.py", "from automl.training.fit import FITS\n",
     "Training: the task dispatch above the feeds, the feeds above the loop"),
])
def test_a_forbidden_import_breaks_its_contract(copy, path, source, broken):
    plant(copy, path, source)
    result = lint_imports(copy)
    assert result.returncode != 0
    assert f"{broken} BROKEN" in result.stdout
