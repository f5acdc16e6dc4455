"""The layering rules of the design, checked on the source (every import statement, lazy ones
inside functions and type-checking-only ones included):

- the plugin (``hostdev/cni/``) speaks to the kernel and sysfs only through the library's public
  API: it never imports ``hostdev._netlink`` or ``hostdev._sysfs``;
- the library (``hostdev/`` outside ``cni/`` and ``tools/``) never imports the plugin or the
  tools built on both, and the plugin never imports the tools.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "hostdev"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, package: str) -> set[str]:
    """Every module ``source`` (a module of ``package``) imports, relative imports resolved;
    ``from X import Y`` counts as importing ``X.Y`` too, as Y may be a submodule."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def imports_of(path: Path) -> set[str]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imported_modules(path.read_text(), package)


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module_name(path)} imports {name}"
        for path in paths
        for name in sorted(imports_of(path))
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_the_plugin_uses_only_the_public_library() -> None:
    plugin = sorted((PACKAGE / "cni").rglob("*.py"))
    assert len(plugin) > 10
    assert offending(plugin, ("hostdev._netlink", "hostdev._sysfs")) == []


def test_the_library_never_imports_the_plugin_or_the_tools() -> None:
    library = [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] not in ("cni", "tools")]
    assert len(library) > 20
    assert offending(library, ("hostdev.cni", "hostdev.tools")) == []


def test_the_plugin_never_imports_the_tools() -> None:
    assert offending(sorted((PACKAGE / "cni").rglob("*.py")), ("hostdev.tools",)) == []


def test_the_checker_sees_every_kind_of_import() -> None:
    source = '''
from __future__ import annotations
import hostdev.errors
from .sibling import thing
from .. import errors
TYPE_CHECKING = False
if TYPE_CHECKING:
    from hostdev._netlink.rtnl_link import Link
def later() -> None:
    from hostdev._sysfs import pci_function
'''
    names = imported_modules(source, "hostdev.cni")
    assert {"hostdev.errors", "hostdev.cni.sibling", "hostdev.errors", "hostdev._netlink.rtnl_link",
            "hostdev._sysfs.pci_function"} <= names  # fmt: skip
