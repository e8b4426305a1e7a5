"""The CLI tests use the `cli` fixture of tests/conftest.py."""

from pathlib import Path

from tests.conftest import Cli

ROOT = Path(__file__).parents[2]

__all__ = ["ROOT", "Cli"]
