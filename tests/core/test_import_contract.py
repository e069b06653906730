"""The import direction is a contract that fails the build: lint-imports (run by scripts/test.sh) passes on the
code as it is and fails as soon as a module imports against it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "core", "rollouts", "diagnostics", "incidents", "slackbot")
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _copy(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(where: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=where,
        env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_every_import_contract(tmp_path):
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # The registry is the bottom of rollouts and rollouts sits below incidents.
        ("rollouts/registry/leak.py", "from incidents.models import Incident\n", "Apps import one way"),
        ("rollouts/registry/leak.py", "from rollouts.runs.models import RolloutRun\n", "Inside rollouts"),
        # blocks is imported by posting, which tasks import: a ring inside slackbot.
        ("slackbot/blocks.py", "from slackbot import tasks\n", "No import cycle"),
        ("rollouts/judging/stats.py", "from django.db import models\n", "plain statistics"),
    ],
)
def test_a_module_importing_against_the_contract_fails_the_check(tmp_path, module, line, broken):
    where = _copy(tmp_path)
    target = where / module
    target.write_text((target.read_text() if target.exists() else "") + line)
    result = _lint(where)
    assert result.returncode == 1, result.stdout + result.stderr
    broken_section = result.stdout.split("Broken contracts", 1)[1]
    assert broken in broken_section
