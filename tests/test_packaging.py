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


# -- numpydoc on the public API ------------------------------------------------------------------

# What every public function and class must have (numpydoc.validate codes):
#   GL08 a docstring; SS01 a summary line, SS02 starting with a capital, SS03 ending with a period;
#   PR01 every parameter documented, PR02 no documented parameter that does not exist,
#   PR07 a description for each; RT01 a Returns section (YD01 Yields for generators).
# The stylistic rest (See Also, Examples, extended summaries, infinitive verbs) is not enforced.
CHECKS = {"GL08", "SS01", "SS02", "SS03", "PR01", "PR02", "PR07", "RT01", "YD01"}
PUBLIC = (
    "ionflow",
    "ionflow.solve",
    "ionflow.surrogate",
    "ionflow.generate",
    "ionflow.io",
    "ionflow.metrics",
    "ionflow.rev",
    "ionflow.cellmodel",
)
# Modules that another change is rewriting at the time of writing (solve/_assemble.py,
# surrogate/_tiles.py): their public docstrings are still to be fixed. The test fails once one
# passes, so that its entry is removed here.
PENDING: set[str] = set()  # public names allowed to fail numpydoc for now (none)


def _public_objects():
    import importlib
    import inspect

    seen = {}
    for modname in PUBLIC:
        module = importlib.import_module(modname)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                seen.setdefault(f"{obj.__module__}.{obj.__qualname__}", (f"{modname}.{name}", obj))
    return sorted(seen.items())


def _dataclass_fields_undocumented(cls) -> list[str]:
    """Fields of a dataclass missing from the Attributes/Parameters of it or a dataclass base."""
    import dataclasses
    import inspect

    from numpydoc.docscrape import NumpyDocString

    documented = set()
    for klass in cls.__mro__:
        if not dataclasses.is_dataclass(klass) or not klass.__doc__:
            continue
        doc = NumpyDocString(inspect.cleandoc(klass.__doc__))
        for item in doc["Attributes"] + doc["Parameters"]:
            documented |= {n.strip() for n in item.name.split(",")}
    return [f.name for f in dataclasses.fields(cls) if f.name not in documented]


def _problems(qualname: str, obj) -> list[tuple[str, str]]:
    """The numpydoc errors in CHECKS of one object; a dataclass documents fields as Attributes."""
    import dataclasses

    from numpydoc.validate import validate

    errors = validate(qualname)["errors"]
    if dataclasses.is_dataclass(obj):
        errors = [e for e in errors if e[0] not in ("PR01", "PR02")]
        missing = _dataclass_fields_undocumented(obj)
        if missing:
            errors.append(("PR01", f"fields {missing} not in Attributes"))
    return [(code, msg) for code, msg in errors if code in CHECKS]


def test_public_api_docstrings_follow_numpydoc():
    pytest.importorskip("numpydoc")
    problems = [
        f"{public}: {code} {msg}"
        for qualname, (public, obj) in _public_objects()
        if qualname not in PENDING
        for code, msg in _problems(qualname, obj)
    ]
    assert not problems, "\n".join(problems)


def test_pending_docstrings_are_still_pending():
    pytest.importorskip("numpydoc")
    passing = [q for q, (_, obj) in _public_objects() if q in PENDING and not _problems(q, obj)]
    assert not passing, f"these pass numpydoc now; remove them from PENDING: {passing}"
