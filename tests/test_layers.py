"""The layering of the packages, read from the source with :mod:`ast` (every ``import`` and
``from ... import``, at module level and inside functions and methods; relative imports
resolved):

* ``theory`` never imports ``numerics`` or ``verify``; ``numerics`` never imports ``verify``;
* inside ``theory`` imports only go downward in the fixed order (lowest first)

      symbols, arithmetic, special, gaussian, activations, dual, recursions, fixedpoints, odes,
      gd_stability, latex

  (:data:`THEORY_ORDER`): a module may import only modules before it. ``odes`` is a
  package and one layer (its modules may import each other, e.g. ``odes/base.py``);
  ``theory/__init__.py`` imports nothing from ``theory``. A module of ``theory`` missing
  from the list fails: place it in the order;
* no claim module (the ``module`` of an entry of ``verify.registry.CLAIMS``) imports
  another claim module: what two claims share belongs in ``numerics`` or in the claim
  framework of ``verify``.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("theory", "numerics", "verify")

#: the layers of ``theory``, lowest first; a module may import only the ones before it
THEORY_ORDER = ["symbols", "arithmetic", "special", "gaussian", "activations", "dual", "recursions",
                "fixedpoints", "odes", "gd_stability", "latex"]


def _module_name(path: pathlib.Path, root: pathlib.Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: pathlib.Path) -> bool:
    return path.name == "__init__.py"


def _exists(module: str, root: pathlib.Path = ROOT) -> bool:
    base = root.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path: pathlib.Path, root: pathlib.Path = ROOT):
    """``(line, source text, imported module)`` for every import in the file; for
    ``from X import name`` the module is ``X.name`` when that is a module of the
    repository (``from theory import dual``), else ``X``."""
    module = _module_name(path, root)
    package = module if _is_package(path) else module.rpartition(".")[0]
    source = path.read_text()
    tree = ast.parse(source, filename=str(path))
    for node in ast.walk(tree):
        text = ast.get_source_segment(source, node) if isinstance(
            node, (ast.Import, ast.ImportFrom)) else None
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, text, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = []  # one entry per imported module, not per name
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if _exists(sub, root) else base
                if target not in targets:
                    targets.append(target)
            for target in targets:
                yield node.lineno, text, target


def _files(package: str):
    return sorted((ROOT / package).rglob("*.py"))


def _where(path, line, text):
    return f"{path.relative_to(ROOT)}:{line}: {text}"


def _top(module: str) -> str:
    return module.split(".")[0]


def _theory_layer(module: str) -> str | None:
    """``theory.dual`` -> ``dual``, ``theory.odes.base`` -> ``odes``, ``theory`` -> ``""``."""
    parts = module.split(".")
    if parts[0] != "theory":
        return None
    return parts[1] if len(parts) > 1 else ""


def test_theory_never_imports_numerics_or_verify():
    bad = [_where(p, line, text) + f"  (imports {mod})"
           for p in _files("theory") for line, text, mod in _imports(p)
           if _top(mod) in ("numerics", "verify")]
    assert not bad, ("theory/ must not import numerics or verify (SymPy + mpmath only):\n"
                     + "\n".join(bad))


def test_numerics_never_imports_verify():
    bad = [_where(p, line, text) + f"  (imports {mod})"
           for p in _files("numerics") for line, text, mod in _imports(p)
           if _top(mod) == "verify"]
    assert not bad, "numerics/ must not import verify:\n" + "\n".join(bad)


def test_every_theory_module_has_a_layer():
    missing = []
    for path in _files("theory"):
        layer = _theory_layer(_module_name(path))
        if layer and layer not in THEORY_ORDER:
            missing.append(f"{path.relative_to(ROOT)} (layer {layer!r})")
    assert not missing, (
        "theory modules missing from the layer order in tests/test_layers.py "
        f"(THEORY_ORDER = {THEORY_ORDER}); place each one in the order:\n" + "\n".join(missing))


def test_theory_imports_go_downward():
    bad = []
    for path in _files("theory"):
        own = _theory_layer(_module_name(path))
        for line, text, mod in _imports(path):
            target = _theory_layer(mod)
            if target is None:
                continue
            where = _where(path, line, text)
            if own == "":
                bad.append(f"{where}  (theory/__init__.py imports nothing from theory)")
            elif target == "":
                bad.append(f"{where}  (imports the package theory itself; import the module)")
            elif own not in THEORY_ORDER or target not in THEORY_ORDER:
                continue  # reported by test_every_theory_module_has_a_layer
            elif target == own and own == "odes":
                continue  # one package layer: odes/base.py under the model modules
            elif THEORY_ORDER.index(target) >= THEORY_ORDER.index(own):
                bad.append(f"{where}  (theory.{own} imports theory.{target}, which is not "
                           f"below it in {' < '.join(THEORY_ORDER)})")
    assert not bad, "imports inside theory/ must go downward:\n" + "\n".join(bad)


def _claim_modules() -> dict[str, pathlib.Path]:
    from verify.registry import CLAIMS

    out = {}
    for claim in CLAIMS:
        name = claim.module if "." in claim.module else f"verify.{claim.module}"
        path = ROOT.joinpath(*name.split(".")).with_suffix(".py")
        out[name] = path
    return out


def test_claim_modules_exist():
    for name, path in _claim_modules().items():
        assert path.is_file(), f"claim module {name} has no file {path.relative_to(ROOT)}"


@pytest.mark.parametrize("claim_module", sorted(_claim_modules()))
def test_no_claim_module_imports_another(claim_module):
    claims = _claim_modules()
    path = claims[claim_module]
    bad = [_where(path, line, text) + f"  (imports the claim module {mod})"
           for line, text, mod in _imports(path) if mod in claims and mod != claim_module]
    assert not bad, ("a claim module must not import another claim module (move what they "
                     "share to numerics/ or the claim framework):\n" + "\n".join(bad))


def test_the_checker_sees_imports_inside_functions(tmp_path):
    # the reader itself: a backward import hidden in a function and a relative import
    pkg = tmp_path / "theory"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "gaussian.py").write_text(
        "import sympy\n\ndef f():\n    from theory.activations import resolve\n"
        "    from . import latex\n    return resolve\n")
    (pkg / "activations.py").write_text("")
    (pkg / "latex.py").write_text("")
    found = [(line, mod) for line, _, mod in _imports(pkg / "gaussian.py", tmp_path)]
    assert found == [(1, "sympy"), (4, "theory.activations"), (5, "theory.latex")]
