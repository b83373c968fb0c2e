"""The package's structure: no import cycle among the estimator modules."""

import ast
import pathlib

import adesk.estimators

PACKAGE = pathlib.Path(adesk.estimators.__file__).parent


def _imported_siblings(path):
    """Sibling modules of ``adesk.estimators`` that ``path`` imports, at any depth."""
    siblings = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            siblings.add(node.module.split(".")[0])
    return siblings


def test_estimator_modules_import_each_other_without_a_cycle():
    graph = {path.stem: _imported_siblings(path) for path in PACKAGE.glob("*.py")}
    # Depth-first search for a back edge.
    state = {}

    def visit(module, stack):
        state[module] = "open"
        for other in graph.get(module, ()):
            if state.get(other) == "open":
                raise AssertionError(f"import cycle: {' -> '.join([*stack, module, other])}")
            if other not in state:
                visit(other, [*stack, module])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])


def test_every_estimator_is_registered_for_loading():
    from adesk.estimators._persistence import ESTIMATOR_REGISTRY

    for name in (
        "ADEDensityEstimator",
        "ContrastiveDivergenceEstimator",
        "FlowDualEstimator",
        "NoiseContrastiveEstimator",
        "ScoreMatchingEstimator",
    ):
        assert ESTIMATOR_REGISTRY[name] is getattr(adesk.estimators, name)


def test_shared_docs_fill_every_marker_at_its_indentation():
    import pytest

    from adesk.estimators._docs import SHARED_DOCS, fill_shared_docs

    class Documented:
        """Summary.

        Parameters
        ----------
        {{standardize}}
        """

    doc = fill_shared_docs(Documented).__doc__
    first = SHARED_DOCS["standardize"].splitlines()[0]
    assert "{{" not in doc and f"\n        {first}\n" in doc

    class Unknown:
        """{{no_such_doc}}"""

    with pytest.raises(KeyError, match="no_such_doc"):
        fill_shared_docs(Unknown)
    # Every estimator's docstring was filled.
    for name in ("ADEDensityEstimator", "ContrastiveDivergenceEstimator", "FlowDualEstimator"):
        assert "{{" not in getattr(adesk.estimators, name).__doc__


def test_long_modules_say_why_at_their_top():
    """A module over about 600 lines states the reason in its docstring (issue 19)."""
    package = PACKAGE.parent
    for path in sorted(package.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") <= 650:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        assert "This module is long" in docstring, f"{path.relative_to(package)} has no reason"
