"""A small renderer for the subset of Helm's Go templates that the deepwell chart uses.

No container engine or ``helm`` binary exists here, so the chart is kept to what this
renders: ``{{ .Values.a.b }}``, ``.Release.Name``/``.Namespace``, ``.Chart.Name``/
``.Version``/``.AppVersion``; pipes ``quote``, ``nindent N``, ``indent N``;
``toYaml X``; ``if``/``if not`` … ``end``; ``{{-``/``-}}`` whitespace trimming. Anything
else raises, so a template that grows beyond the subset fails the test loudly rather
than rendering wrong (``helm template`` is the reference where it is installed).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.DOTALL)


class TemplateError(ValueError):
    """A construct outside the supported subset, or a missing value."""


def _lookup(path: str, ctx: dict[str, Any]) -> Any:
    if not path.startswith("."):
        raise TemplateError(f"unsupported expression {path!r}")
    value: Any = ctx
    for part in path[1:].split("."):
        if not isinstance(value, dict) or part not in value:
            raise TemplateError(f"no value at {path}")
        value = value[part]
    return value


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip("\n")


def _evaluate(expr: str, ctx: dict[str, Any]) -> Any:
    stages = [s.strip() for s in expr.split("|")]
    head = stages[0].split()
    if head[0] == "toYaml" and len(head) == 2:
        value: Any = _to_yaml(_lookup(head[1], ctx))
    elif len(head) == 1:
        value = _lookup(head[0], ctx)
    else:
        raise TemplateError(f"unsupported expression {stages[0]!r}")
    for stage in stages[1:]:
        name, *args = stage.split()
        text = value if isinstance(value, str) else _scalar(value)
        if name == "quote" and not args:
            value = '"' + text.replace('"', '\\"') + '"'
        elif name in ("nindent", "indent") and len(args) == 1:
            pad = " " * int(args[0])
            body = "\n".join(pad + line if line else line for line in text.split("\n"))
            value = "\n" + body if name == "nindent" else body
        else:
            raise TemplateError(f"unsupported pipe {stage!r}")
    return value


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _truthy(expr: str, ctx: dict[str, Any]) -> bool:
    negate = expr.startswith("not ")
    value = _lookup(expr.removeprefix("not ").strip(), ctx)
    return (not value) if negate else bool(value)


def render(template: str, ctx: dict[str, Any]) -> str:
    """Render one template file with ``ctx`` (``{"Values": ..., "Release": ..., "Chart": ...}``)."""
    # Tokenize, applying the whitespace trims to the neighbouring text.
    tokens: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(template):
        text = template[pos : m.start()]
        if m.group(1):
            text = text.rstrip()
        tokens.append(("text", text))
        tokens.append(("action", m.group(2)))
        pos = m.end()
        if m.group(3):
            rest = template[pos:]
            pos += len(rest) - len(rest.lstrip())
    tokens.append(("text", template[pos:]))

    out: list[str] = []
    stack: list[bool] = []  # whether each open `if` branch is being emitted
    for kind, value in tokens:
        emitting = all(stack)
        if kind == "text":
            if emitting:
                out.append(value)
        elif value.startswith("if "):
            stack.append(emitting and _truthy(value[3:].strip(), ctx))
        elif value == "end":
            if not stack:
                raise TemplateError("`end` without `if`")
            stack.pop()
        elif value.startswith(("range", "with", "define", "include", "else", "template")):
            raise TemplateError(f"unsupported action {value!r}")
        elif value.startswith("/*"):
            continue
        elif emitting:
            result = _evaluate(value, ctx)
            out.append(result if isinstance(result, str) else _scalar(result))
    if stack:
        raise TemplateError("`if` without `end`")
    return "".join(out)


def render_chart(
    chart_dir: Path, overrides: dict[str, Any] | None = None, release: str = "dw"
) -> dict[str, list[dict[str, Any]]]:
    """Every template of the chart rendered and parsed: ``{file name: [documents]}``."""
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    _merge(values, overrides or {})
    ctx = {
        "Values": values,
        "Release": {"Name": release, "Namespace": "default"},
        "Chart": {
            "Name": chart["name"],
            "Version": chart["version"],
            "AppVersion": chart["appVersion"],
        },
    }
    rendered = {}
    for path in sorted((chart_dir / "templates").glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(render(path.read_text(), ctx)) if d]
        rendered[path.name] = docs
    return rendered


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
