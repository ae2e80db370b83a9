"""Generate the reference pages in ``docs/`` from the code: one page per spec model (every field
with its type, default and the description that says why) and one per construct (what it is,
its keyword arguments, what it exposes), plus ``docs/README.md``, the index.

    .venv/bin/python -m tools.reference_docs          # rewrite docs/
    .venv/bin/python -m tools.reference_docs --check  # exit 1 and name the stale pages

A test runs the check, so the pages cannot drift from the models they describe.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

CONSTRUCTS: tuple[tuple[str, str], ...] = (
    ("Pattern", "ModelServing"),
    ("Platform", "ServingNetwork"),
    ("Platform", "ModelStore"),
    ("Platform", "InferenceCache"),
    ("Platform", "ServiceIdentity"),
    ("Platform", "CommonLabels"),
    ("VM runtime", "VmModel"),
    ("VM runtime", "ModelServerFleet"),
    ("VM runtime", "FleetAutoscaler"),
    ("GKE runtime", "ServingCluster"),
    ("GKE runtime", "NodePool"),
    ("GKE runtime", "ModelWorkload"),
    ("GKE runtime", "ClusterAccess"),
    ("GKE runtime", "MetricsAdapter"),
    ("Edge", "GlobalLoadBalancer"),
    ("Edge", "CloudArmorPolicy"),
    ("Operations", "ServingObservability"),
)
"""(section, exported name) of every construct page, in index order."""

ENVIRONMENT_SECTIONS = {
    "NetworkSpec": "[network]", "ModelStoreSpec": "[model_store]", "CacheSpec": "[cache]",
    "LoadBalancerSpec": "[load_balancer]", "CloudArmorSpec": "[cloud_armor]", "ModelSpec": "[[models]]",
    "ScalingSpec": "[models.scaling]", "BackendServiceSpec": "[models.backend]", "VmRuntimeSpec": "[models.vm]",
    "GkeRuntimeSpec": "[models.gke]", "GkeClusterSpec": "[gke.cluster]", "ObservabilitySpec": "[observability]",
}
"""Spec -> the environment-file table it validates."""


def _clean(text: str | None) -> str:
    """A docstring as Markdown: dedented, reST double backquotes as code."""
    return inspect.cleandoc(text or "").replace("``", "`")


def _first_paragraph(text: str | None) -> str:
    return " ".join(_clean(text).split("\n\n")[0].split())


def _type(annotation: Any, specs: set[str]) -> str:
    """A readable type with links to other spec pages (``ScalingSpec`` -> ``[ScalingSpec](ScalingSpec.md)``)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0], specs)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type(a, specs) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        inner = ", ".join("..." if a is Ellipsis else _type(a, specs) for a in args)
        return f"{name}[{inner}]"
    if annotation is type(None):
        return "None"
    name = getattr(annotation, "__name__", str(annotation))
    return f"[{name}]({name}.md)" if name in specs else name


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return f"{type(value).__name__}()"
        return repr(value)
    if field.default is PydanticUndefined:
        return "**required**"
    return repr(field.default)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def spec_page(model: type[BaseModel], specs: set[str]) -> str:
    """The Markdown page of one spec model."""
    name = model.__name__
    lines = [f"# {name}", ""]
    section = ENVIRONMENT_SECTIONS.get(name)
    if section:
        lines += [f"Environment files: `{section}`.", ""]
    lines += [_clean(model.__doc__), "", "| field | type | default | description |", "|---|---|---|---|"]
    for field_name, field in model.model_fields.items():
        lines.append(
            f"| `{field_name}` | {_cell(_type(field.annotation, specs))} | `{_cell(_default(field))}` | "
            f"{_cell(field.description or '')} |"
        )
    moved = getattr(model, "moved_keys", {})
    if moved:
        lines += ["", "Keys of the earlier shape (rejected with where they went):", ""]
        lines += [f"- `{key}`: {where}" for key, where in moved.items()]
    return "\n".join(lines) + "\n"


def construct_page(cls: type, specs: set[str]) -> str:
    """The Markdown page of one construct: docstring, constructor arguments, module overview."""
    lines = [f"# {cls.__name__}", "", f"`from constructs_lib import {cls.__name__}` (module `{cls.__module__}`)", ""]
    lines += [_clean(cls.__doc__), ""]
    parameters = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name not in ("self", "scope", "id_")]
    if parameters:
        lines += ["| argument | type | default |", "|---|---|---|"]
        for parameter in parameters:
            annotation = parameter.annotation
            if annotation is inspect.Parameter.empty:
                shown = ""
            elif isinstance(annotation, str):  # as written (modules use postponed annotations)
                shown = re.sub(r"\b(\w+Spec)\b", lambda m: f"[{m[1]}]({m[1]}.md)" if m[1] in specs else m[1], annotation)
            else:
                shown = _type(annotation, specs)
            default = "**required**" if parameter.default is inspect.Parameter.empty else f"`{parameter.default!r}`"
            lines.append(f"| `{parameter.name}` | {_cell(shown)} | {_cell(default)} |")
        lines.append("")
    module = sys.modules[cls.__module__]
    if module.__doc__:
        lines += ["## About the module", "", _clean(module.__doc__), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def index_page(spec_names: list[str], specs_by_name: dict[str, type[BaseModel]]) -> str:
    lines = [
        "# Reference", "",
        "Generated from the code by `python -m tools.reference_docs` (a test fails when a page is stale).",
        "Constructs are the building blocks; spec models are their tunables and the tables of an",
        "environment file, with every default and the reason for it.", "",
        "## Constructs", "",
    ]
    section = None
    import constructs_lib

    for heading, name in CONSTRUCTS:
        if heading != section:
            lines += ["", f"### {heading}", ""] if section is not None else [f"### {heading}", ""]
            section = heading
        lines.append(f"- [{name}]({name}.md): {_first_paragraph(getattr(constructs_lib, name).__doc__)}")
    lines += ["", "## Spec models", ""]
    for name in spec_names:
        table = f" `{ENVIRONMENT_SECTIONS[name]}`" if name in ENVIRONMENT_SECTIONS else ""
        lines.append(f"- [{name}]({name}.md){table}: {_first_paragraph(specs_by_name[name].__doc__)}")
    return "\n".join(lines) + "\n"


def pages() -> dict[str, str]:
    """File name -> content of every reference page."""
    import constructs_lib
    from constructs_lib import specs

    spec_names = sorted(specs.__all__)
    specs_by_name = {name: getattr(specs, name) for name in spec_names}
    known = set(spec_names)
    result = {f"{name}.md": spec_page(model, known) for name, model in specs_by_name.items()}
    for _, name in CONSTRUCTS:
        result[f"{name}.md"] = construct_page(getattr(constructs_lib, name), known)
    result["README.md"] = index_page(spec_names, specs_by_name)
    return {name: re.sub(r"[ \t]+\n", "\n", text) for name, text in result.items()}


def stale(directory: Path = DOCS) -> list[str]:
    """Pages in ``directory`` that differ from the generated ones, are missing, or are left over."""
    wanted = pages()
    found = {p.name for p in directory.glob("*.md")} if directory.is_dir() else set()
    problems = [name for name, text in wanted.items() if not (directory / name).is_file() or (directory / name).read_text() != text]
    return sorted(problems + [name for name in found - set(wanted)])


def write(directory: Path = DOCS) -> None:
    directory.mkdir(exist_ok=True)
    wanted = pages()
    for leftover in {p.name for p in directory.glob("*.md")} - set(wanted):
        (directory / leftover).unlink()
    for name, text in wanted.items():
        (directory / name).write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale pages instead of writing them")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        if problems:
            print(f"docs/ is stale ({', '.join(problems)}): run `.venv/bin/python -m tools.reference_docs`", file=sys.stderr)
            return 1
        return 0
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
