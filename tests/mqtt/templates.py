"""Home Assistant's value templates, as far as the discovery configs use them.

:func:`render` evaluates ``{{ value_json.a['b'].c }}`` (attribute and quoted-key access on
the JSON payload) itself, and checks the result against jinja2 when it is installed
(Home Assistant renders with Jinja: ``value`` the payload, ``value_json`` the parsed one).
"""

from __future__ import annotations

import json
import re
from typing import Any

_TEMPLATE = re.compile(r"^\{\{\s*value_json((?:\.[A-Za-z_]\w*|\[\"[^\"]*\"\]|\['[^']*'\])*)"
                       r"\s*\}\}$")
_STEP = re.compile(r"\.([A-Za-z_]\w*)|\[\"([^\"]*)\"\]|\['([^']*)'\]")


def render(template: str | None, payload: str) -> str:
    """What Home Assistant makes of ``payload`` with ``template`` (None: the payload);
    KeyError/ValueError when the payload does not fit the template."""
    if template is None:
        return payload
    found = _TEMPLATE.match(template)
    if found is None:
        raise ValueError(f"not a template these tests read: {template!r}")
    value: Any = json.loads(payload)
    for step in _STEP.finditer(found.group(1)):
        value = value[next(g for g in step.groups() if g is not None)]
    text = str(value)
    try:
        import jinja2
    except ModuleNotFoundError:
        return text
    strict = jinja2.Environment(undefined=jinja2.StrictUndefined)
    assert strict.from_string(template).render(value=payload,
                                               value_json=json.loads(payload)) == text
    return text
