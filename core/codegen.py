"""Tracking code and API examples for an event definition, as the wizard and event screens show.

Everything a user typed (labels, descriptions, option labels and values, names) is escaped for the
language it lands in, so that no input can leave a string or a comment:

- JavaScript strings are JSON with ASCII escapes, and ``</`` and ``<!--`` are escaped too, because
  the snippet is pasted inside an HTML ``<script>``;
- comments (JavaScript ``//``, Python and shell ``#``) hold one line: line terminators and other
  control characters become spaces (bidirectional controls too, so a comment cannot make code
  read differently from how it runs);
- the curl body is one single-quoted shell argument; the JSON inside it holds no ``'``;
- Python strings are double-quoted literals with every non-printable character escaped.

The output depends on the definition alone, so the same definition always gives the same text.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.models import EventDefinition, ObjectType, PropertyDefinition, PropertyType
from core.rules import is_url_like

EXAMPLE_TEXT = "example text"
EXAMPLE_URL = "https://www.example.com/"
EXAMPLE_NUMBER = 1
EXAMPLE_TIMESTAMP = 1767225600000
"""2026-01-01T00:00:00Z in epoch milliseconds: a fixed instant keeps the examples deterministic."""
EXAMPLE_EMAIL = "visitor@example.com"
EXAMPLE_OBJECT_ID = "1"
TOKEN_VARIABLE = "HUBSPOT_ACCESS_TOKEN"
"""The environment variable the Python and Node examples read the access token from."""

_MAX_OPTIONS_IN_COMMENT = 10

# Line terminators of any of the three languages, other control characters, lone surrogates
# (not encodable) and bidirectional controls ("Trojan Source").
_NOT_IN_COMMENT = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_PLAIN_NAME = re.compile(r"[a-z][a-z0-9_]*")

PropertyExample = str | int | float


def tracking_id(definition: EventDefinition) -> str:
    """The event's fully qualified name: HubSpot's "Tracking ID", sent as ``eventName``."""
    return definition.fully_qualified_name


def placeholder(prop: PropertyDefinition) -> PropertyExample:
    """A typed example value for ``prop``, made from nothing the user typed except option values.

    Strings get ``"example text"`` (an https URL for URL and referrer properties, as
    :func:`core.rules.is_url_like` tells them), numbers 1, datetimes a fixed instant in epoch
    milliseconds, enumerations the value of their first option that is not hidden (``""`` when
    there is none).
    """
    if prop.type is PropertyType.NUMBER:
        return EXAMPLE_NUMBER
    if prop.type is PropertyType.DATETIME:
        return EXAMPLE_TIMESTAMP
    if prop.type is PropertyType.ENUMERATION:
        return next((o.value for o in prop.options if not o.hidden), "")
    return EXAMPLE_URL if is_url_like(prop.name) else EXAMPLE_TEXT


def javascript_snippet(definition: EventDefinition) -> str:
    """HubSpot's current JavaScript form, ``trackCustomBehavioralEvent``, for ``definition``:
    the call alone, which sends as soon as it runs (:func:`triggered_snippet` wires it to a
    trigger, as the wizard and the demo do).

    Every custom property appears on its own line with its placeholder and a comment giving its
    label and type. Safe to paste inside an HTML ``<script>`` whatever the labels hold.
    """
    lines = [
        _js_comment(_named(definition.label, tracking_id(definition))),
        *_description_lines(definition, _js_comment),
        _js_comment(
            "Call _hsq.push where the behaviour happens, e.g. inside a click listener; "
            "replace the example values."
        ),
        *_hsq_push(definition),
    ]
    return "\n".join(lines) + "\n"


class SnippetTriggerKind(StrEnum):
    """What makes a snippet send: the tracking code runs every snippet on every page load, so
    a snippet that is not wired to one of these sends a completion on each page view."""

    CLICK = "click"
    PAGE_VIEW = "page_view"
    CALL = "call"

    @property
    def label(self) -> str:
        return {
            SnippetTriggerKind.CLICK: "A click on (CSS selector)",
            SnippetTriggerKind.PAGE_VIEW: "A page view under (path)",
            SnippetTriggerKind.CALL: "A call of (function name)",
        }[self]


@dataclass(frozen=True)
class SnippetTrigger:
    """A trigger and its target: a CSS selector, a path prefix, or a function name."""

    kind: SnippetTriggerKind
    target: str


_JS_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def default_trigger(
    definition: EventDefinition, kind: SnippetTriggerKind = SnippetTriggerKind.CLICK
) -> SnippetTrigger:
    """The trigger a new snippet starts with: a click on ``[data-track="NAME"]`` (the page marks
    its elements), the path ``/``, or a function ``trackNameInCamelCase``."""
    if kind is SnippetTriggerKind.CLICK:
        return SnippetTrigger(kind, f'[data-track="{definition.name}"]')
    if kind is SnippetTriggerKind.PAGE_VIEW:
        return SnippetTrigger(kind, "/")
    return SnippetTrigger(kind, function_name(definition))


def function_name(definition: EventDefinition) -> str:
    """``track`` and the internal name in camel case: ``viewed_car`` gives ``trackViewedCar``."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", definition.name) if w]
    return "track" + "".join(w[:1].upper() + w[1:] for w in words)


def triggered_snippet(definition: EventDefinition, trigger: SnippetTrigger) -> str:
    """The snippet wired to ``trigger``: nothing is sent when the page loads, only when the
    trigger happens (a click on a matching element, a page view under a path, a call).

    The target is what the user typed: the selector and the path land in JavaScript strings;
    a function name that is not a JavaScript identifier is replaced by :func:`function_name`.
    """
    call = _hsq_push(definition)
    inner = ["  " + line for line in call]
    target = trigger.target
    if trigger.kind is SnippetTriggerKind.CLICK:
        target = target.strip() or default_trigger(definition).target
        what = f"Sends a completion when a visitor clicks an element matching {target}"
        wired = [
            'document.addEventListener("click", function (event) {',
            "  var clicked = event.target;",
            f"  var matches = clicked && clicked.closest && clicked.closest({_js_string(target)});",
            "  if (!matches) return;",
            *inner,
            "});",
        ]
    elif trigger.kind is SnippetTriggerKind.PAGE_VIEW:
        target = target.strip() or "/"
        what = f"Sends a completion when a page whose path starts with {target} is viewed"
        what += "; other pages send nothing"
        wired = [
            f"if (window.location.pathname.indexOf({_js_string(target)}) === 0) {{",
            *inner,
            "}",
        ]
    else:
        name = target.strip()
        if not _JS_IDENTIFIER.fullmatch(name):
            name = function_name(definition)
        what = f"Sends a completion each time your page calls {name}()"
        wired = [f"window.{name} = function () {{", *inner, "};"]
    lines = [
        _js_comment(_named(definition.label, tracking_id(definition))),
        *_description_lines(definition, _js_comment),
        _js_comment(
            what
            + ("." if trigger.kind is SnippetTriggerKind.PAGE_VIEW else "; nothing on page load.")
        ),
        _js_comment("Replace the example values with what the page knows."),
        *wired,
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SnippetBehaviour:
    """What a snippet does on a page that embeds the tracking code, as it stands."""

    sends: bool
    on_every_page_load: bool
    description: str
    """A sentence to finish "On a page with /tracking.js, this snippet …"."""


def describe_snippet(snippet: str) -> SnippetBehaviour:
    """Read a snippet (generated or edited) and say when it sends.

    A reading of the text, not a JavaScript parser: it finds the ``trackCustomBehavioralEvent``
    call and whether it sits inside a block (a listener, a function, an ``if``) or at the top
    level, where it runs on every page load.
    """
    code, strings = _without_comments_and_strings(snippet)
    named = [i for i, text in enumerate(strings) if text == "trackCustomBehavioralEvent"]
    at = code.find(f"\x00{named[0]}\x00") if named else -1
    if at < 0:
        return SnippetBehaviour(
            False, False, "sends nothing: it never calls trackCustomBehavioralEvent"
        )
    depth = code.count("{", 0, at) - code.count("}", 0, at)
    # inside the [ ... ] of the push, its own object braces come after the name
    if depth <= 0:
        return SnippetBehaviour(
            True,
            True,
            "sends a completion on every page load: it is not wired to a trigger (a click, "
            "a page, a function)",
        )
    click = re.search(r"addEventListener\(\s*(\x00\d+\x00)", code)
    if click and strings[int(click.group(1).strip("\x00"))] == "click":
        selector = re.search(r"\.(?:closest|matches)\(\s*\x00(\d+)\x00", code)
        where = f"an element matching {strings[int(selector.group(1))]}" if selector else "the page"
        return SnippetBehaviour(True, False, f"sends a completion when a visitor clicks {where}")
    path = re.search(r"location\.pathname\.(?:indexOf|startsWith)\(\s*\x00(\d+)\x00", code)
    if path:
        prefix = strings[int(path.group(1))]
        return SnippetBehaviour(
            True, False, f"sends a completion when a page whose path starts with {prefix} is viewed"
        )
    function = re.search(r"window\.([A-Za-z_$][A-Za-z0-9_$]*)\s*=\s*function", code)
    if function:
        return SnippetBehaviour(
            True, False, f"sends a completion each time the page calls {function.group(1)}()"
        )
    return SnippetBehaviour(True, False, "sends a completion when the code around its call runs")


def _without_comments_and_strings(code: str) -> tuple[str, list[str]]:
    """``code`` with comments removed and each string literal as ``\\x00N\\x00`` (N indexes the
    returned list of their contents), so that braces and names in them are not counted."""
    out: list[str] = []
    strings: list[str] = []
    i, n = 0, len(code)
    while i < n:
        char = code[i]
        if code.startswith("//", i):
            end = code.find("\n", i)
            i = n if end < 0 else end
        elif code.startswith("/*", i):
            end = code.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif char in "\"'`":
            j, text = i + 1, []
            while j < n and code[j] != char:
                if code[j] == "\\" and j + 1 < n:
                    text.append(code[j + 1])
                    j += 2
                    continue
                text.append(code[j])
                j += 1
            out.append(f"\x00{len(strings)}\x00")
            strings.append("".join(text))
            i = j + 1
        else:
            out.append(char)
            i += 1
    return "".join(out), strings


def curl_example(definition: EventDefinition, base_url: str) -> str:
    """A curl command that sends one completion to ``{base_url}/events/v3/send``.

    The token comes from the shell variable ``$TOKEN``; the JSON body is one single-quoted
    argument, so nothing in it is expanded by the shell.
    """
    url = f"{_base(base_url)}/events/v3/send"
    body = json.dumps(example_send_body(definition), ensure_ascii=True, indent=2)
    # ' only occurs inside JSON strings, where \u0027 means the same; the body then needs no
    # '"'"' splicing and reads as plain JSON between two quotes.
    body = body.replace("'", "\\u0027")
    lines = [
        _hash_comment(_headline(definition)),
        _hash_comment("TOKEN holds your access token (cbe portal --json prints it)."),
        _hash_comment(_identity_note(definition)),
        f"curl -sS -w '\\n%{{http_code}}\\n' -X POST {shlex.quote(url)} \\",
        '  -H "Authorization: Bearer $TOKEN" \\',
        "  -H 'Content-Type: application/json' \\",
        f"  -d {shlex.quote(body)}",
    ]
    return "\n".join(lines) + "\n"


def python_example(definition: EventDefinition, base_url: str) -> str:
    """Python that sends one completion with HubSpot's SDK (``hubspot-api-client``).

    The SDK is pointed at ``base_url`` through both ``host`` and ``base_url``, as the README
    shows; the token comes from ``$HUBSPOT_ACCESS_TOKEN``.
    """
    base = _py_string(_base(base_url))
    if definition.primary_object is ObjectType.CONTACT:
        identity = f"email={_py_string(EXAMPLE_EMAIL)}"
    else:
        identity = f"object_id={_py_string(EXAMPLE_OBJECT_ID)}"
    examples = _custom_properties(definition)
    if examples:
        properties = [
            "        properties={",
            *(
                f"            {_py_string(p.name)}: {_py_value(placeholder(p))},  "
                f"{_hash_comment(_property_note(p))}"
                for p in examples
            ),
            "        },",
        ]
    else:
        properties = ["        properties={},"]
    # The label stays off the first two lines: a "coding:" comment there would change how
    # Python decodes the file.
    lines = [
        "import os",
        "",
        "from hubspot import HubSpot",
        "from hubspot.events.send import BehavioralEventHttpCompletionRequest",
        "",
        _hash_comment(_headline(definition)),
        _hash_comment(f"pip install hubspot-api-client; {TOKEN_VARIABLE} holds your access token."),
        _hash_comment(_identity_note(definition)),
        "client = HubSpot(",
        f'    access_token=os.environ["{TOKEN_VARIABLE}"],',
        f"    host={base},",
        f"    base_url={base},",
        ")",
        "client.events.send.basic_api.send(",
        "    behavioral_event_http_completion_request=BehavioralEventHttpCompletionRequest(",
        f"        event_name={_py_string(tracking_id(definition))},",
        f"        {identity},",
        *properties,
        "    )",
        ")",
    ]
    return "\n".join(lines) + "\n"


def node_example(definition: EventDefinition, base_url: str) -> str:
    """Node 18+ (global ``fetch``) that sends one completion and prints the HTTP status.

    Plain CommonJS: the request runs in an async function, not a top-level ``await``. The token
    comes from ``process.env.HUBSPOT_ACCESS_TOKEN``.
    """
    url = f"{_base(base_url)}/events/v3/send"
    lines = [
        _js_comment(_headline(definition)),
        _js_comment(f"Node 18 or later; {TOKEN_VARIABLE} holds your access token."),
        _js_comment(_identity_note(definition)),
        "const body = {",
        f"  eventName: {_js_string(tracking_id(definition))},",
        f"  {_js_identity(definition)},",
        *_js_properties(definition, indent="  "),
        "};",
        "",
        "async function send() {",
        f"  const response = await fetch({_js_string(url)}, {{",
        '    method: "POST",',
        "    headers: {",
        f'      Authorization: "Bearer " + process.env.{TOKEN_VARIABLE},',
        '      "Content-Type": "application/json",',
        "    },",
        "    body: JSON.stringify(body),",
        "  });",
        "  console.log(response.status); // 204: stored",
        "  if (response.status >= 400) console.log(await response.text());",
        "}",
        "",
        "send().catch((error) => {",
        "  console.error(error);",
        "  process.exitCode = 1;",
        "});",
    ]
    return "\n".join(lines) + "\n"


def api_examples(definition: EventDefinition, base_url: str) -> dict[str, str]:
    """The API examples the event screens show, by tab name: curl, Python, then Node."""
    return {
        "curl": curl_example(definition, base_url),
        "Python": python_example(definition, base_url),
        "Node": node_example(definition, base_url),
    }


# -- what the examples say ------------------------------------------------------------------


def _custom_properties(definition: EventDefinition) -> list[PropertyDefinition]:
    return [p for p in definition.properties if not p.hubspot_defined]


def example_send_body(definition: EventDefinition) -> dict[str, Any]:
    """A send body for ``definition`` with a placeholder identity and a value per property."""
    body: dict[str, Any] = {"eventName": tracking_id(definition)}
    if definition.primary_object is ObjectType.CONTACT:
        body["email"] = EXAMPLE_EMAIL
    else:
        body["objectId"] = EXAMPLE_OBJECT_ID
    body["properties"] = {p.name: placeholder(p) for p in _custom_properties(definition)}
    return body


def _headline(definition: EventDefinition) -> str:
    return _named(definition.label, f"send one completion of {tracking_id(definition)}.")


def _identity_note(definition: EventDefinition) -> str:
    kind = definition.primary_object
    if kind is ObjectType.CONTACT:
        return f"{EXAMPLE_EMAIL} stands for the email of an existing contact."
    return f"{EXAMPLE_OBJECT_ID} stands for the id of an existing {kind.singular.lower()}."


def _property_note(prop: PropertyDefinition) -> str:
    if prop.type is PropertyType.DATETIME:
        return f"{_prop_label(prop)} ({prop.type.label}, epoch milliseconds)"
    if prop.type is PropertyType.ENUMERATION:
        values = [json.dumps(o.value, ensure_ascii=False) for o in prop.options]
        if len(values) > _MAX_OPTIONS_IN_COMMENT:
            more = len(values) - _MAX_OPTIONS_IN_COMMENT
            values = [*values[:_MAX_OPTIONS_IN_COMMENT], f"and {more} more"]
        allowed = ", ".join(values) if values else "no options yet"
        return f"{_prop_label(prop)} ({prop.type.label}: {allowed})"
    return f"{_prop_label(prop)} ({prop.type.label})"


def _description_lines(definition: EventDefinition, comment: Callable[[str], str]) -> list[str]:
    description = _one_line(definition.description)
    return [comment(description)] if description else []


def _named(label: str, text: str) -> str:
    """``label: text``, or ``text`` alone while the label is still blank (the wizard's preview)."""
    shown = _one_line(label)
    return f"{shown}: {text}" if shown else text


def _prop_label(prop: PropertyDefinition) -> str:
    return _one_line(prop.label) or prop.name


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


# -- escaping, one function per place text can land -----------------------------------------


def _one_line(text: str) -> str:
    """``text`` with control characters as spaces and runs of whitespace as one space."""
    return " ".join(_NOT_IN_COMMENT.sub(" ", text).split())


def _html_safe(text: str) -> str:
    # Inside <script>, "</" could close the element and "<!--" changes how the rest is parsed.
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _js_comment(text: str) -> str:
    return f"// {_html_safe(_one_line(text))}".rstrip()


def _hash_comment(text: str) -> str:
    return f"# {_one_line(text)}".rstrip()


def _js_string(text: str) -> str:
    # JSON with ASCII escapes is a JavaScript string literal; U+2028/U+2029 come out as \u
    # escapes, which also keeps them from ending the line in older engines.
    return _html_safe(json.dumps(text, ensure_ascii=True))


def _js_value(value: PropertyExample) -> str:
    return _js_string(value) if isinstance(value, str) else json.dumps(value)


def _js_key(name: str) -> str:
    if _PLAIN_NAME.fullmatch(name):
        return name
    if name == "__proto__":
        # A literal "__proto__": key sets the prototype instead of a property; computed does not.
        return f"[{_js_string(name)}]"
    return _js_string(name)


def _hsq_push(definition: EventDefinition) -> list[str]:
    """The lines that send one completion of ``definition`` with example values."""
    return [
        "var _hsq = (window._hsq = window._hsq || []);",
        "_hsq.push([",
        '  "trackCustomBehavioralEvent",',
        "  {",
        f"    name: {_js_string(tracking_id(definition))},",
        *_js_properties(definition, indent="    "),
        "  },",
        "]);",
    ]


def _js_properties(definition: EventDefinition, indent: str) -> list[str]:
    examples = _custom_properties(definition)
    if not examples:
        return [f"{indent}properties: {{}},"]
    return [
        f"{indent}properties: {{",
        *(
            f"{indent}  {_js_key(p.name)}: {_js_value(placeholder(p))}, "
            f"{_js_comment(_property_note(p))}"
            for p in examples
        ),
        f"{indent}}},",
    ]


def _js_identity(definition: EventDefinition) -> str:
    if definition.primary_object is ObjectType.CONTACT:
        return f"email: {_js_string(EXAMPLE_EMAIL)}"
    return f"objectId: {_js_string(EXAMPLE_OBJECT_ID)}"


def _py_string(text: str) -> str:
    """A double-quoted Python literal: printable characters as they are, the rest escaped."""
    out = ['"']
    for char in text:
        if char in '\\"':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            if code < 0x100:
                out.append(f"\\x{code:02x}")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _py_value(value: PropertyExample) -> str:
    return _py_string(value) if isinstance(value, str) else repr(value)
