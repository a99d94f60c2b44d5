"""The package's import graph follows docs/design.md ("Layers of the code base"): arrows point one way, and no
private name is imported across modules. Read from the source with ``ast`` (module-level and function-level imports
alike), so a lazy import inside a function cannot hide an upward dependency."""
import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tfmri_zoo")

# subpackage → subpackages of tfmri_zoo it must never import
FORBIDDEN = {
    "physics": {"layers", "models", "training", "recon", "export", "data"},
    "recon": {"layers", "models", "training", "export"},
    "layers": {"models", "training", "export"},
    "models": {"training", "export"},
}


def imports(path):
    """``(module, names)`` of every ``import``/``from ... import`` in a file."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []


def files(subpackage):
    folder = os.path.join(PACKAGE, subpackage)
    return [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".py")]


@pytest.mark.parametrize("subpackage", sorted(FORBIDDEN))
def test_no_upward_imports(subpackage):
    offending = []
    for path in files(subpackage):
        for module, _ in imports(path):
            parts = module.split(".")
            if parts[0] == "tfmri_zoo" and len(parts) > 1 and parts[1] in FORBIDDEN[subpackage]:
                offending.append(f"{os.path.relpath(path, PACKAGE)} imports {module}")
    assert not offending, offending


def test_no_private_names_across_modules():
    offending = []
    for root, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                for module, imported in imports(path):
                    if module.startswith("tfmri_zoo"):
                        offending += [f"{os.path.relpath(path, PACKAGE)}: {module}.{n}" for n in imported
                                      if n.startswith("_") and not n.startswith("__")]
                        if any(part.startswith("_") and not part.startswith("__") for part in module.split(".")):
                            offending.append(f"{os.path.relpath(path, PACKAGE)}: {module}")
    assert not offending, offending
