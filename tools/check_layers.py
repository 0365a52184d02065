"""`make lint` checks the code's layout: packages import only downwards, no
module imports itself through others, and no module outgrows what a reader takes
in at once. Prints what is wrong and exits 1; silent and 0 when all is well.

Every ``import`` counts, also one inside a function: it is a dependency all the
same, only a later one.
"""

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "karn"

# Top down. A package may import from the layers below it and from itself.
# Names on one line with "|" between them are siblings: neither imports the other.
# A name not (yet) in the code is skipped.
LAYERS = """
serve
app
worker | demo | pages
api
digest | privacy
models
followups
actions | learning | risk
experiments
analysis | feedback
callbacks
webhooks
surveys
customers
text
accounts
settings | periods | formatting
extensions | config | enums | clock | dbtypes
"""

# Modules that are mostly data (word lists, texts, tables), allowed past the limit.
DATA_TABLES = {
    "karn.demo.texts",
    "karn.surveys.default_survey",
}
MAX_LINES = 600


def layers() -> list[list[str]]:
    return [
        [name.strip() for name in line.split("|")]
        for line in LAYERS.strip().splitlines()
    ]


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(found: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the karn modules it imports (a name imported from a package
    counts as its submodule when it is one)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in found.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in found else base
                    for a in node.names
                ]
            else:
                continue
            for target in targets:
                while target and target not in found:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    edges[module].add(target)
    return edges


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_problems(found: dict[str, Path], edges: dict[str, set[str]]) -> list[str]:
    named = [name for layer in layers() for name in layer]
    problems = [f"{n} stands in two layers" for n in set(named) if named.count(n) > 1]
    present = {top(m) for m in found} - {"karn"}
    problems += [f"karn.{n} is in no layer" for n in sorted(present - set(named))]
    rank, siblings = {}, {}
    for i, layer in enumerate(layers()):
        for name in layer:
            rank[name], siblings[name] = i, set(layer) - {name}
    for module, targets in sorted(edges.items()):
        here = top(module)
        for target in sorted(targets):
            there = top(target)
            if there in (here, "karn") or here not in rank or there not in rank:
                continue
            if rank[there] < rank[here]:
                problems.append(f"{module} imports {target}, a layer above it")
            elif there in siblings[here]:
                problems.append(f"{module} imports {target}, a sibling")
    return problems


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Groups of more than one module that import each other in a ring (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def loop_problems(edges: dict[str, set[str]]) -> list[str]:
    # A package's __init__ importing its own modules is how packages work.
    inner = {
        module: {t for t in targets if not t.startswith(module + ".")}
        for module, targets in edges.items()
    }
    return ["import loop: " + " <-> ".join(group) for group in cycles(inner)]


def size_problems(found: dict[str, Path]) -> list[str]:
    problems = [
        f"{m} is in DATA_TABLES but does not exist" for m in DATA_TABLES - set(found)
    ]
    for module, path in found.items():
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > MAX_LINES and module not in DATA_TABLES:
            problems.append(f"{module} has {count} lines (at most {MAX_LINES})")
    return problems


def main() -> int:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    found = modules()
    edges = imports(found)
    problems = (
        layer_problems(found, edges) + loop_problems(edges) + size_problems(found)
    )
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
