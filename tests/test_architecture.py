"""The import architecture (pyproject's ``[tool.importlinter]``): kept by the tree as it is, and
broken by a planted upward import or a planted circle in a copy of it."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from models import REGISTRY

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


# --- no engine module names a model: what it needs of one is on the model's card -------------------------

MODEL_MODULES = {card.build.__module__ for card in REGISTRY.values()}
MODEL_NAMES = set(REGISTRY)


def model_mentions(source: str) -> list[str]:
    """Where ``source`` names a model: an import of a model's own module, ``REGISTRY["<name>"]``, or a
    model name (a literal, or a module constant holding one) compared with something about models."""
    tree = ast.parse(source)
    constants = {target.id for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and node.value.value in MODEL_NAMES
                 for target in node.targets if isinstance(target, ast.Name)}

    def names_a_model(node: ast.AST) -> bool:
        return ((isinstance(node, ast.Constant) and node.value in MODEL_NAMES)
                or (isinstance(node, ast.Name) and node.id in constants))

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module in MODEL_MODULES or any(
                f"{node.module}.{alias.name}" in MODEL_MODULES for alias in node.names)):
            found.append(f"line {node.lineno}: imports {node.module}")
        elif isinstance(node, ast.Import) and any(alias.name in MODEL_MODULES for alias in node.names):
            found.append(f"line {node.lineno}: imports a model's module")
        elif (isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("REGISTRY")
              and names_a_model(node.slice)):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(map(names_a_model, operands)) and any("model" in ast.unparse(o) for o in operands
                                                           if not names_a_model(o)):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_engine_module_names_a_model():
    mentions = {str(path.relative_to(ROOT)): found for path in sorted((ROOT / "automl").rglob("*.py"))
                if (found := model_mentions(path.read_text()))}
    assert mentions == {}


@pytest.mark.parametrize("source", [
    'from models.wide_deep import WIDE_DEEP_CARD\n',
    'def f(config):\n    return "wide_deep" in config.models\n',
    'DRN_NAME = "drn"\n\ndef f(model):\n    return model == DRN_NAME\n',
    'from models import REGISTRY\nCARD = REGISTRY["gbdt"]\n',
])
def test_a_planted_model_name_is_found(source):
    assert model_mentions(source)


def test_an_option_that_shares_a_models_name_is_not_a_mention():
    assert model_mentions('def f(k):\n    return k == "lr" or k.endswith("_lr")\n') == []
