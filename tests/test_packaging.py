"""Packaging: the version has one source, and the CLI and the package agree with the metadata."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import ionflow
from ionflow.cli import main

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_version_flag_and_attribute_match_the_package_metadata(capsys):
    installed = metadata.version("ionflow")
    assert ionflow.__version__ == installed
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"ionflow {installed}"


@pytest.mark.skipif(not PYPROJECT.exists(), reason="not a source checkout")
def test_pyproject_reads_the_version_from_the_package():
    project = tomllib.loads(PYPROJECT.read_text())
    assert "version" not in project["project"]  # no second copy to keep in step
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "ionflow.__version__"}
