"""Generated tracking code and API examples: they run, send what they say, and stay safe.

The examples are run for real where this machine can: the JavaScript snippet in node with a stub
``window``, the Node example with a stub ``fetch``, the curl example in bash with a stub ``curl``,
and the Python example with a stub ``hubspot`` package. Hostile labels, descriptions, option
values and names must come out as exactly the data they are, never as code.
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from core import codegen
from core.codegen import (
    SnippetTrigger,
    SnippetTriggerKind,
    api_examples,
    curl_example,
    default_trigger,
    describe_snippet,
    function_name,
    javascript_snippet,
    node_example,
    placeholder,
    python_example,
    tracking_id,
    triggered_snippet,
)
from core.models import (
    EnumerationOption,
    EventDefinition,
    ObjectType,
    PropertyDefinition,
    PropertyType,
    TrackingMethod,
)
from core.values import ParsedValue, parse_value
from tests.api.conftest import Server, start_server, stop_server

NODE = shutil.which("node")
BASH = shutil.which("bash")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")

BASE_URL = "http://127.0.0.1:8765"
TOKEN = "test-token-123"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
EXAMPLE_TIMESTAMP = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)

# A file only an injected command would create; checked after every run.
MARKER = Path(tempfile.gettempdir()) / f"cbe-pwned-{uuid.uuid4().hex}"

HOSTILE = [
    pytest.param('"); alert(1); //', id="close-string-and-call"),
    pytest.param("*/ alert(1) /*", id="close-block-comment"),
    pytest.param("\n alert(1)", id="newline"),
    pytest.param("\r alert(1)", id="carriage-return"),
    pytest.param("\u2028alert(1)", id="line-separator"),
    pytest.param("\u2029alert(1)", id="paragraph-separator"),
    pytest.param("\x85\x0b\x0c\x1c alert(1)", id="other-line-breaks"),
    pytest.param("</script><script>alert(1)</script>", id="close-script-tag"),
    pytest.param("</SCRIPT ><!-- <script>", id="script-tag-upper-and-html-comment"),
    pytest.param("--> alert(1)", id="html-close-comment"),
    pytest.param("'; rm -rf / #", id="shell-single-quote"),
    pytest.param(f"$(touch {MARKER})", id="shell-command-substitution"),
    pytest.param(f"`touch {MARKER}`", id="shell-backticks"),
    pytest.param(f'"; touch {MARKER}; echo "', id="shell-double-quote"),
    pytest.param("`${process.exit(1)}`", id="js-template-literal"),
    pytest.param("${TOKEN} $HOME", id="shell-variables"),
    pytest.param('\\"', id="backslash-quote"),
    pytest.param("trailing backslash \\", id="trailing-backslash"),
    pytest.param("nul\x00char", id="nul"),
    pytest.param("\u202eevil\u2066 reversed", id="bidi-controls"),
    pytest.param("# -*- coding: utf-7 -*- +AAo-print(1)", id="python-coding-cookie"),
    pytest.param("'''\"\"\" ''' \"\"\"", id="python-triple-quotes"),
    pytest.param("🚗 Volvo – é ü 日本", id="emoji-and-accents"),
    pytest.param("lone \ud800 surrogate", id="lone-surrogate"),
]


def prop(name: str, type_: PropertyType, label: str = "", **fields: Any) -> PropertyDefinition:
    return PropertyDefinition(name=name, label=label or name.title(), type=type_, **fields)


def options(*pairs: tuple[str, str], hidden: tuple[str, ...] = ()) -> list[EnumerationOption]:
    return [
        EnumerationOption(value=value, label=label, display_order=i, hidden=value in hidden)
        for i, (value, label) in enumerate(pairs)
    ]


def event(
    properties: list[PropertyDefinition],
    *,
    label: str = "Viewed Car",
    description: str = "Fires when a visitor views a car listing",
    primary_object: ObjectType = ObjectType.CONTACT,
    name: str = "viewed_car",
    fully_qualified_name: str = "pe12345678_viewed_car",
) -> EventDefinition:
    return EventDefinition(
        id="1",
        name=name,
        label=label,
        fully_qualified_name=fully_qualified_name,
        description=description,
        primary_object=primary_object,
        properties=properties,
        tracking_method=TrackingMethod.JAVASCRIPT,
        created_at=NOW,
        updated_at=NOW,
    )


def carspot() -> EventDefinition:
    """HubSpot's CarSpot example, with a timestamp and a URL property."""
    return event(
        [
            prop(
                "condition",
                PropertyType.ENUMERATION,
                options=options(("new", "New"), ("used", "Used")),
            ),
            prop("year", PropertyType.NUMBER),
            prop("make", PropertyType.STRING),
            prop("listed_at", PropertyType.DATETIME, "Listed at"),
            prop("listing_url", PropertyType.STRING, "Listing URL"),
        ]
    )


CARSPOT_PROPERTIES = {
    "condition": "new",
    "year": 1,
    "make": "example text",
    "listed_at": EXAMPLE_TIMESTAMP,
    "listing_url": "https://www.example.com/",
}


def signed_contract() -> EventDefinition:
    """A deal event whose first option is hidden."""
    return event(
        [
            prop("amount", PropertyType.NUMBER),
            prop(
                "plan",
                PropertyType.ENUMERATION,
                options=options(("legacy", "Legacy"), ("pro", "Pro"), hidden=("legacy",)),
            ),
            prop("signed_at", PropertyType.DATETIME, "Signed at"),
            prop("contract_link", PropertyType.STRING, "Contract link"),
            prop("signer", PropertyType.STRING),
        ],
        label="Signed Contract",
        description="",
        primary_object=ObjectType.DEAL,
        name="signed_contract",
        fully_qualified_name="pe12345678_signed_contract",
    )


SIGNED_CONTRACT_PROPERTIES = {
    "amount": 1,
    "plan": "pro",
    "signed_at": EXAMPLE_TIMESTAMP,
    "contract_link": "https://www.example.com/",
    "signer": "example text",
}

EXAMPLES = [
    pytest.param(carspot, CARSPOT_PROPERTIES, id="contact-carspot"),
    pytest.param(signed_contract, SIGNED_CONTRACT_PROPERTIES, id="deal-signed-contract"),
    pytest.param(lambda: event([]), {}, id="no-properties"),
]


def hostile_event(text: str, primary_object: ObjectType = ObjectType.CONTACT) -> EventDefinition:
    """``text`` as the event's label and description, every property label, and option values
    and labels; the hostile option comes first, so it is the enumeration's placeholder."""
    return event(
        [
            prop("make", PropertyType.STRING, text, description=text),
            prop("year", PropertyType.NUMBER, text),
            prop("listed_at", PropertyType.DATETIME, text),
            prop(
                "condition",
                PropertyType.ENUMERATION,
                text,
                options=[
                    EnumerationOption(label=text, value=text, description=text),
                    EnumerationOption(label=text + " 2", value="used"),
                ],
            ),
        ],
        label=text,
        description=text,
        primary_object=primary_object,
    )


def hostile_properties(text: str) -> dict[str, Any]:
    return {"make": "example text", "year": 1, "listed_at": EXAMPLE_TIMESTAMP, "condition": text}


def send_body(definition: EventDefinition, properties: dict[str, Any]) -> dict[str, Any]:
    """The body HubSpot's send endpoint takes, built here independently of codegen."""
    if definition.primary_object is ObjectType.CONTACT:
        identity: dict[str, Any] = {"email": "visitor@example.com"}
    else:
        identity = {"objectId": "1"}
    return {"eventName": definition.fully_qualified_name, **identity, "properties": properties}


# -- running the generated code --------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_snippet(tmp_path: Path, snippet: str) -> Any:
    """What the snippet pushes onto ``window._hsq``, run in node with a stub window."""
    assert NODE is not None
    script = (
        "globalThis.window = globalThis;\n"
        + snippet
        + "\nprocess.stdout.write(JSON.stringify(window._hsq));\n"
    )
    result = subprocess.run(
        [NODE, str(_write(tmp_path, "snippet.js", script))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def node_check(tmp_path: Path, code: str) -> None:
    assert NODE is not None
    result = subprocess.run(
        [NODE, "--check", str(_write(tmp_path, "check.js", code))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def run_node_example(tmp_path: Path, code: str) -> tuple[dict[str, Any], list[str]]:
    """The request the Node example makes (through a stub fetch) and the lines it prints after."""
    assert NODE is not None
    stub = (
        "globalThis.fetch = async (url, init) => {\n"
        "  console.log(JSON.stringify({ url, init }));\n"
        "  return { status: 204, text: async () => '' };\n"
        "};\n"
    )
    result = subprocess.run(
        [NODE, str(_write(tmp_path, "example.js", stub + code))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HUBSPOT_ACCESS_TOKEN": TOKEN},
    )
    assert result.returncode == 0, result.stderr
    # JSON.stringify leaves U+2028 raw, so split on newlines only.
    first, *rest = result.stdout.rstrip("\n").split("\n")
    return json.loads(first), rest


def curl_arguments(command: str) -> list[str]:
    """The curl command's arguments as a shell would split them (comments dropped)."""
    joined = command.replace("\\\n", "")
    return shlex.split(joined, comments=True)


def run_curl_example(tmp_path: Path, command: str) -> list[str]:
    """The arguments bash passes to curl, with curl replaced by a function that prints them."""
    assert BASH is not None
    script = "curl() { printf '%s\\0' \"$@\"; }\n" + command
    path = _write(tmp_path, "example.sh", script)
    checked = subprocess.run(
        [BASH, "-n", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert checked.returncode == 0, checked.stderr
    result = subprocess.run(
        [BASH, str(path)],
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "TOKEN": TOKEN},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.decode("utf-8").split("\0")[:-1]


def data_argument(arguments: list[str]) -> Any:
    assert arguments.count("-d") == 1, arguments
    return json.loads(arguments[arguments.index("-d") + 1])


class Recorder:
    """What the Python example did with a stub ``hubspot`` package."""

    def __init__(self) -> None:
        self.clients: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []


def stub_hubspot(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()

    class BehavioralEventHttpCompletionRequest:
        def __init__(self, **fields: Any) -> None:
            self.fields = fields

    class HubSpot:
        def __init__(self, **config: Any) -> None:
            recorder.clients.append(config)
            send = SimpleNamespace(basic_api=SimpleNamespace(send=self._send))
            self.events = SimpleNamespace(send=send)

        @staticmethod
        def _send(**kwargs: Any) -> None:
            recorder.sent.append(kwargs)

    hubspot = ModuleType("hubspot")
    hubspot.HubSpot = HubSpot  # type: ignore[attr-defined]
    events = ModuleType("hubspot.events")
    send = ModuleType("hubspot.events.send")
    send.BehavioralEventHttpCompletionRequest = BehavioralEventHttpCompletionRequest  # type: ignore[attr-defined]
    for module in (hubspot, events, send):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    return recorder


def run_python_example(monkeypatch: pytest.MonkeyPatch, code: str) -> Recorder:
    """Run the example as python would run its file: compiled from UTF-8 bytes."""
    recorder = stub_hubspot(monkeypatch)
    ast.parse(code)
    exec(compile(code.encode("utf-8"), "example.py", "exec"), {"__name__": "__main__"})
    return recorder


def sent_by_python(recorder: Recorder) -> dict[str, Any]:
    assert len(recorder.sent) == 1
    request = recorder.sent[0]["behavioral_event_http_completion_request"]
    fields: dict[str, Any] = request.fields
    return fields


def python_fields(definition: EventDefinition, properties: dict[str, Any]) -> dict[str, Any]:
    identity = (
        {"email": "visitor@example.com"}
        if definition.primary_object is ObjectType.CONTACT
        else {"object_id": "1"}
    )
    return {"event_name": definition.fully_qualified_name, **identity, "properties": properties}


def assert_one_line_per_line(text: str) -> None:
    """No line terminator of JavaScript, Python or the shell hides anywhere but at line ends."""
    assert text.split("\n") == [*text.splitlines(), ""]
    for char in ("\r", "\u2028", "\u2029", "\x00", "\x85"):
        assert char not in text
    text.encode("utf-8")  # no lone surrogate: the text can be saved and shown


# -- placeholders ----------------------------------------------------------------------------


class TestPlaceholder:
    @pytest.mark.parametrize(
        ("definition", "expected"),
        [
            pytest.param(prop("make", PropertyType.STRING), "example text", id="string"),
            pytest.param(
                prop("listing_url", PropertyType.STRING), "https://www.example.com/", id="url"
            ),
            pytest.param(
                prop("first_referrer", PropertyType.STRING),
                "https://www.example.com/",
                id="referrer",
            ),
            pytest.param(
                prop("download_link", PropertyType.STRING), "https://www.example.com/", id="link"
            ),
            pytest.param(prop("surly_mood", PropertyType.STRING), "example text", id="surly"),
            pytest.param(prop("blinker", PropertyType.STRING), "example text", id="blinker"),
            pytest.param(prop("purl", PropertyType.STRING), "example text", id="purl"),
            pytest.param(prop("year", PropertyType.NUMBER), 1, id="number"),
            pytest.param(
                prop("listed_at", PropertyType.DATETIME), EXAMPLE_TIMESTAMP, id="datetime"
            ),
            pytest.param(
                prop(
                    "condition",
                    PropertyType.ENUMERATION,
                    options=options(("new", "New"), ("used", "Used")),
                ),
                "new",
                id="enumeration-first-option",
            ),
            pytest.param(
                prop(
                    "plan",
                    PropertyType.ENUMERATION,
                    options=options(("legacy", "Legacy"), ("pro", "Pro"), hidden=("legacy",)),
                ),
                "pro",
                id="enumeration-skips-hidden",
            ),
            pytest.param(
                prop(
                    "plan",
                    PropertyType.ENUMERATION,
                    options=options(("legacy", "Legacy"), hidden=("legacy",)),
                ),
                "",
                id="enumeration-all-hidden",
            ),
            pytest.param(prop("plan", PropertyType.ENUMERATION), "", id="enumeration-no-options"),
        ],
    )
    def test_is_typed_and_fixed(self, definition: PropertyDefinition, expected: object) -> None:
        value = placeholder(definition)
        assert value == expected
        assert type(value) is type(expected)

    def test_timestamp_is_the_first_moment_of_2026(self) -> None:
        assert placeholder(prop("at", PropertyType.DATETIME)) == 1767225600000
        assert codegen.EXAMPLE_TIMESTAMP == EXAMPLE_TIMESTAMP

    @pytest.mark.parametrize(
        "definition",
        [
            pytest.param(p, id=f"{p.type.value}-{p.name}")
            for p in [*carspot().properties, *signed_contract().properties]
        ],
    )
    def test_is_accepted_by_strict_ingestion(self, definition: PropertyDefinition) -> None:
        parsed = parse_value(definition, placeholder(definition), f"properties.{definition.name}")
        assert isinstance(parsed, ParsedValue), parsed
        assert parsed.unusable == ()


def test_tracking_id_is_the_fully_qualified_name() -> None:
    assert tracking_id(carspot()) == "pe12345678_viewed_car"


# -- the JavaScript snippet ------------------------------------------------------------------


class TestJavascriptSnippet:
    def test_carspot_reads_as_hubspot_documents_it(self) -> None:
        snippet = javascript_snippet(carspot())
        assert snippet == (
            "// Viewed Car: pe12345678_viewed_car\n"
            "// Fires when a visitor views a car listing\n"
            "// Call _hsq.push where the behaviour happens, e.g. inside a click listener; "
            "replace the example values.\n"
            "var _hsq = (window._hsq = window._hsq || []);\n"
            "_hsq.push([\n"
            '  "trackCustomBehavioralEvent",\n'
            "  {\n"
            '    name: "pe12345678_viewed_car",\n'
            "    properties: {\n"
            '      condition: "new", // Condition (Enumeration: "new", "used")\n'
            "      year: 1, // Year (Number)\n"
            '      make: "example text", // Make (String)\n'
            "      listed_at: 1767225600000, // Listed at (Timestamp, epoch milliseconds)\n"
            '      listing_url: "https://www.example.com/", // Listing URL (String)\n'
            "    },\n"
            "  },\n"
            "]);\n"
        )

    @pytest.mark.parametrize(("make", "expected"), EXAMPLES)
    def test_lists_every_custom_property_with_its_placeholder(
        self, make: Any, expected: dict[str, Any]
    ) -> None:
        definition = make()
        snippet = javascript_snippet(definition)
        for p in definition.properties:
            line = next(line for line in snippet.splitlines() if line.strip().startswith(p.name))
            assert f"{p.name}: {json.dumps(expected[p.name])}, // {p.label} (" in line

    def test_is_deterministic(self) -> None:
        assert javascript_snippet(carspot()) == javascript_snippet(carspot())
        assert javascript_snippet(signed_contract()) == javascript_snippet(signed_contract())

    def test_enumeration_comment_names_at_most_ten_values(self) -> None:
        many = options(*[(f"v{i}", f"V{i}") for i in range(12)])
        snippet = javascript_snippet(event([prop("pick", PropertyType.ENUMERATION, options=many)]))
        assert '// Pick (Enumeration: "v0", "v1", ' in snippet
        assert '"v9", and 2 more)' in snippet
        assert '"v10"' not in snippet

    @needs_node
    @pytest.mark.parametrize(("make", "expected"), EXAMPLES)
    def test_node_parses_and_runs_it(
        self, tmp_path: Path, make: Any, expected: dict[str, Any]
    ) -> None:
        definition = make()
        snippet = javascript_snippet(definition)
        node_check(tmp_path, snippet)
        assert run_snippet(tmp_path, snippet) == [
            [
                "trackCustomBehavioralEvent",
                {"name": definition.fully_qualified_name, "properties": expected},
            ]
        ]

    @pytest.mark.parametrize("text", HOSTILE)
    def test_hostile_text_stays_in_strings_and_comments(self, text: str) -> None:
        snippet = javascript_snippet(hostile_event(text))
        assert "</script" not in snippet.lower()
        assert "<!--" not in snippet
        assert_one_line_per_line(snippet)
        # Same shape as a harmless event's snippet: nothing added a line.
        assert len(snippet.splitlines()) == len(javascript_snippet(hostile_event("x")).splitlines())

    @needs_node
    @pytest.mark.parametrize("text", HOSTILE)
    def test_hostile_text_pushes_exactly_the_intended_data(self, tmp_path: Path, text: str) -> None:
        definition = hostile_event(text)
        assert run_snippet(tmp_path, javascript_snippet(definition)) == [
            [
                "trackCustomBehavioralEvent",
                {"name": definition.fully_qualified_name, "properties": hostile_properties(text)},
            ]
        ]

    def test_readable_text_stays_readable_in_comments(self) -> None:
        snippet = javascript_snippet(hostile_event("🚗 Volvo – é"))
        assert "// 🚗 Volvo – é: pe12345678_viewed_car" in snippet
        assert "// 🚗 Volvo – é (String)" in snippet

    def test_line_breaks_in_a_label_become_spaces(self) -> None:
        snippet = javascript_snippet(hostile_event("Viewed\n\u2028Car\r\n"))
        assert snippet.startswith("// Viewed Car: pe12345678_viewed_car\n")

    def test_a_blank_label_leaves_no_stray_colon(self) -> None:
        # The wizard previews the snippet before the user has typed a label.
        definition = event([prop("make", PropertyType.STRING, " ")], label="", description="")
        snippet = javascript_snippet(definition)
        assert snippet.startswith("// pe12345678_viewed_car\n// Call _hsq.push")
        assert 'make: "example text", // make (String)' in snippet


# -- curl ------------------------------------------------------------------------------------


class TestCurlExample:
    def test_carspot(self) -> None:
        assert curl_example(carspot(), BASE_URL) == (
            "# Viewed Car: send one completion of pe12345678_viewed_car.\n"
            "# TOKEN holds your access token (cbe portal --json prints it).\n"
            "# visitor@example.com stands for the email of an existing contact.\n"
            "curl -sS -w '\\n%{http_code}\\n' -X POST http://127.0.0.1:8765/events/v3/send \\\n"
            '  -H "Authorization: Bearer $TOKEN" \\\n'
            "  -H 'Content-Type: application/json' \\\n"
            "  -d '{\n"
            '  "eventName": "pe12345678_viewed_car",\n'
            '  "email": "visitor@example.com",\n'
            '  "properties": {\n'
            '    "condition": "new",\n'
            '    "year": 1,\n'
            '    "make": "example text",\n'
            '    "listed_at": 1767225600000,\n'
            '    "listing_url": "https://www.example.com/"\n'
            "  }\n"
            "}'\n"
        )

    @pytest.mark.parametrize(("make", "expected"), EXAMPLES)
    def test_splits_into_a_post_with_the_intended_body(
        self, make: Any, expected: dict[str, Any]
    ) -> None:
        definition = make()
        arguments = curl_arguments(curl_example(definition, BASE_URL + "/"))
        assert arguments[0] == "curl"
        assert arguments[arguments.index("-X") + 1] == "POST"
        assert f"{BASE_URL}/events/v3/send" in arguments
        assert "Authorization: Bearer $TOKEN" in arguments
        assert "Content-Type: application/json" in arguments
        assert data_argument(arguments) == send_body(definition, expected)

    @pytest.mark.parametrize(
        "kind", [pytest.param(k, id=k.plural) for k in ObjectType if k is not ObjectType.CONTACT]
    )
    def test_other_objects_are_identified_by_object_id(self, kind: ObjectType) -> None:
        definition = hostile_event("Renewed", primary_object=kind)
        body = data_argument(curl_arguments(curl_example(definition, BASE_URL)))
        assert body["objectId"] == "1"
        assert "email" not in body
        assert f"1 stands for the id of an existing {kind.singular.lower()}." in curl_example(
            definition, BASE_URL
        )

    @needs_bash
    @pytest.mark.parametrize(("make", "expected"), EXAMPLES)
    def test_bash_passes_the_body_and_token_to_curl(
        self, tmp_path: Path, make: Any, expected: dict[str, Any]
    ) -> None:
        definition = make()
        arguments = run_curl_example(tmp_path, curl_example(definition, BASE_URL))
        assert f"Authorization: Bearer {TOKEN}" in arguments
        assert data_argument(arguments) == send_body(definition, expected)

    @pytest.mark.parametrize("text", HOSTILE)
    def test_hostile_text_stays_in_the_body(self, text: str) -> None:
        definition = hostile_event(text)
        command = curl_example(definition, BASE_URL)
        assert_one_line_per_line(command)
        body = data_argument(curl_arguments(command))
        assert body == send_body(definition, hostile_properties(text))

    @needs_bash
    @pytest.mark.parametrize("text", HOSTILE)
    def test_bash_runs_no_hostile_command(self, tmp_path: Path, text: str) -> None:
        definition = hostile_event(text)
        arguments = run_curl_example(tmp_path, curl_example(definition, BASE_URL))
        assert not MARKER.exists()
        assert list(tmp_path.iterdir()) == [tmp_path / "example.sh"]
        assert data_argument(arguments) == send_body(definition, hostile_properties(text))


# -- Python ----------------------------------------------------------------------------------


class TestPythonExample:
    @pytest.mark.parametrize(("make", "expected"), EXAMPLES)
    def test_sends_with_hubspots_sdk(
        self, monkeypatch: pytest.MonkeyPatch, make: Any, expected: dict[str, Any]
    ) -> None:
        definition = make()
        code = python_example(definition, BASE_URL + "/")
        assert "from hubspot import HubSpot\n" in code
        assert "from hubspot.events.send import BehavioralEventHttpCompletionRequest\n" in code
        recorder = run_python_example(monkeypatch, code)
        assert recorder.clients == [{"access_token": TOKEN, "host": BASE_URL, "base_url": BASE_URL}]
        assert sent_by_python(recorder) == python_fields(definition, expected)

    def test_comments_name_label_and_type(self) -> None:
        code = python_example(carspot(), BASE_URL)
        assert '"listed_at": 1767225600000,  # Listed at (Timestamp, epoch milliseconds)\n' in code
        assert '"condition": "new",  # Condition (Enumeration: "new", "used")\n' in code

    @pytest.mark.parametrize("text", HOSTILE)
    def test_hostile_text_is_data(self, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
        definition = hostile_event(text, ObjectType.TICKET)
        code = python_example(definition, BASE_URL)
        assert_one_line_per_line(code)
        # Nothing the user typed lands where Python reads a coding declaration.
        assert code.splitlines()[:2] == ["import os", ""]
        recorder = run_python_example(monkeypatch, code)
        assert sent_by_python(recorder) == python_fields(definition, hostile_properties(text))


# -- Node ------------------------------------------------------------------------------------


class TestNodeExample:
    def test_does_not_await_at_top_level(self) -> None:
        code = node_example(carspot(), BASE_URL)
        assert "async function send() {" in code
        assert not [line for line in code.splitlines() if line.startswith("const response")]
        assert "process.env.HUBSPOT_ACCESS_TOKEN" in code

    @needs_node
    @pytest.mark.parametrize(("make", "expected"), EXAMPLES)
    def test_posts_the_intended_body_and_prints_the_status(
        self, tmp_path: Path, make: Any, expected: dict[str, Any]
    ) -> None:
        definition = make()
        code = node_example(definition, BASE_URL + "/")
        node_check(tmp_path, code)
        request, printed = run_node_example(tmp_path, code)
        assert request["url"] == f"{BASE_URL}/events/v3/send"
        assert request["init"]["method"] == "POST"
        assert request["init"]["headers"] == {
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": "application/json",
        }
        assert json.loads(request["init"]["body"]) == send_body(definition, expected)
        assert printed == ["204"]

    @needs_node
    @pytest.mark.parametrize("text", HOSTILE)
    def test_hostile_text_is_data(self, tmp_path: Path, text: str) -> None:
        definition = hostile_event(text, ObjectType.COMPANY)
        code = node_example(definition, BASE_URL)
        assert_one_line_per_line(code)
        request, printed = run_node_example(tmp_path, code)
        assert json.loads(request["init"]["body"]) == send_body(
            definition, hostile_properties(text)
        )
        assert printed == ["204"]


# -- hostile names: property names and the event name itself ---------------------------------


HOSTILE_NAMES: list[str] = [str(p.values[0]) for p in HOSTILE] + [
    "__proto__",
    "constructor",
    "Make",
    "2fast",
]


def hostile_names_event() -> EventDefinition:
    return event(
        [prop(name, PropertyType.STRING, "Label") for name in HOSTILE_NAMES],
        name='viewed_car"); alert(1); //',
        fully_qualified_name="pe1_</script>'\"`${x}`$(touch " + str(MARKER) + ")\n\u2028",
    )


HOSTILE_NAMES_PROPERTIES = dict.fromkeys(HOSTILE_NAMES, "example text")


class TestHostileNames:
    @needs_node
    def test_snippet(self, tmp_path: Path) -> None:
        definition = hostile_names_event()
        snippet = javascript_snippet(definition)
        assert "</script" not in snippet.lower()
        assert_one_line_per_line(snippet)
        assert run_snippet(tmp_path, snippet) == [
            [
                "trackCustomBehavioralEvent",
                {"name": definition.fully_qualified_name, "properties": HOSTILE_NAMES_PROPERTIES},
            ]
        ]

    @needs_bash
    def test_curl(self, tmp_path: Path) -> None:
        definition = hostile_names_event()
        command = curl_example(definition, BASE_URL)
        expected = send_body(definition, HOSTILE_NAMES_PROPERTIES)
        assert data_argument(curl_arguments(command)) == expected
        assert data_argument(run_curl_example(tmp_path, command)) == expected
        assert not MARKER.exists()

    def test_python(self, monkeypatch: pytest.MonkeyPatch) -> None:
        definition = hostile_names_event()
        recorder = run_python_example(monkeypatch, python_example(definition, BASE_URL))
        assert sent_by_python(recorder) == python_fields(definition, HOSTILE_NAMES_PROPERTIES)

    @needs_node
    def test_node(self, tmp_path: Path) -> None:
        definition = hostile_names_event()
        request, _ = run_node_example(tmp_path, node_example(definition, BASE_URL))
        assert json.loads(request["init"]["body"]) == send_body(
            definition, HOSTILE_NAMES_PROPERTIES
        )


# -- all together ----------------------------------------------------------------------------


def test_api_examples_are_curl_python_node_in_that_order() -> None:
    examples = api_examples(carspot(), BASE_URL)
    assert list(examples) == ["curl", "Python", "Node"]
    assert examples["curl"] == curl_example(carspot(), BASE_URL)
    assert examples["Python"] == python_example(carspot(), BASE_URL)
    assert examples["Node"] == node_example(carspot(), BASE_URL)


def test_examples_never_hold_a_token() -> None:
    examples = api_examples(carspot(), BASE_URL)
    assert '"Authorization: Bearer $TOKEN"' in examples["curl"]
    assert 'os.environ["HUBSPOT_ACCESS_TOKEN"]' in examples["Python"]
    assert '"Bearer " + process.env.HUBSPOT_ACCESS_TOKEN' in examples["Node"]


# -- against a real cbe serve ----------------------------------------------------------------

SERVED_OPTION = 'it\'s "new" </script>'
"""An option value the server accepts that still needs escaping in every language."""

SERVED_PROPERTIES = [
    prop(
        "condition",
        PropertyType.ENUMERATION,
        options=options((SERVED_OPTION, "New"), ("used", "Used")),
    ),
    prop("year", PropertyType.NUMBER),
    prop("make", PropertyType.STRING),
    prop("listed_at", PropertyType.DATETIME, "Listed at"),
    prop("listing_url", PropertyType.STRING, "Listing URL"),
]
SERVED_STORED = {
    "condition": SERVED_OPTION,
    "year": "1",
    "make": "example text",
    "listed_at": "2026-01-01T00:00:00.000Z",
    "listing_url": "https://www.example.com/",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``cbe serve`` with a contact visitor@example.com and company 1."""
    server = start_server(tmp_path_factory.mktemp("served") / "db")
    try:
        with server.client() as client:
            contact = client.post(
                "/crm/v3/objects/contacts", json={"properties": {"email": "visitor@example.com"}}
            )
            company = client.post("/crm/v3/objects/companies", json={"properties": {"name": "A"}})
        assert contact.status_code == 201, contact.text
        assert company.json()["id"] == "1", company.text
        yield server
    finally:
        stop_server(server)


def define_on(server: Server, name: str, primary_object: ObjectType) -> EventDefinition:
    """Create the event on the server; the local definition carries the server's name for it."""
    with server.client() as client:
        response = client.post(
            "/events/v3/event-definitions",
            json={
                "label": name.replace("_", " ").title(),
                "name": name,
                "primaryObject": primary_object.value,
                "includeDefaultProperties": True,
                "propertyDefinitions": [
                    {"name": p.name, "label": p.label, "type": p.type.value}
                    | ({"options": [o.to_json() for o in p.options]} if p.options else {})
                    for p in SERVED_PROPERTIES
                ],
            },
        )
    assert response.status_code == 201, response.text
    return event(
        SERVED_PROPERTIES,
        label=response.json()["labels"]["singular"],
        name=name,
        fully_qualified_name=response.json()["fullyQualifiedName"],
        primary_object=primary_object,
    )


def run_for_real(tool: str, code: str, server: Server, tmp_path: Path) -> str:
    env = {**os.environ, "TOKEN": server.token, "HUBSPOT_ACCESS_TOKEN": server.token}
    command = {
        "curl": [BASH or "bash", str(_write(tmp_path, "send.sh", code))],
        "Python": [sys.executable, str(_write(tmp_path, "send.py", code))],
        "Node": [NODE or "node", str(_write(tmp_path, "send.js", code))],
    }[tool]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "primary_object",
    [
        pytest.param(ObjectType.CONTACT, id="contact"),
        pytest.param(ObjectType.COMPANY, id="company"),
    ],
)
@pytest.mark.parametrize(
    "tool",
    [
        pytest.param(
            "curl",
            marks=pytest.mark.skipif(
                BASH is None or shutil.which("curl") is None, reason="needs bash and curl"
            ),
        ),
        "Python",
        pytest.param("Node", marks=needs_node),
    ],
)
def test_example_stores_a_completion_on_cbe_serve(
    served: Server, tmp_path: Path, tool: str, primary_object: ObjectType
) -> None:
    name = f"viewed_car_{tool.lower()}_{primary_object.value.lower()}"
    definition = define_on(served, name, primary_object)
    output = run_for_real(tool, api_examples(definition, served.url)[tool], served, tmp_path)
    if tool != "Python":  # the SDK prints nothing and raises on errors
        assert output.split() == ["204"]
    with served.client() as client:
        page = client.get(
            "/events/v3/events",
            params={"objectType": primary_object.plural, "eventType": tracking_id(definition)},
        ).json()
    assert [(e["objectId"], e["properties"]) for e in page["results"]] == [("1", SERVED_STORED)]


# -- a snippet wired to a trigger (issue 19: nothing is sent on page load) -------------------

_PAGE = """
globalThis.window = globalThis;
var listeners = [];
globalThis.document = { addEventListener: function (type, fn) { listeners.push([type, fn]); } };
globalThis.location = { pathname: PATH };
function element(selector) {
  return { closest: function (wanted) { return wanted === selector ? this : null; } };
}
function click(selector) {
  listeners.forEach(function (l) { if (l[0] === "click") l[1]({ target: element(selector) }); });
}
var seen = [];
function sent() { return (window._hsq || []).length; }
"""


def run_page(tmp_path: Path, snippet: str, then: str, path: str = "/") -> list[int]:
    """Load ``snippet`` on a stub page, then run ``then``; how many pushes after each step."""
    assert NODE is not None
    script = (
        _PAGE.replace("PATH", json.dumps(path))
        + snippet
        + "\nseen.push(sent());\n"
        + then
        + "\nprocess.stdout.write(JSON.stringify(seen));\n"
    )
    result = subprocess.run(
        [NODE, str(_write(tmp_path, "page.js", script))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


class TestTriggeredSnippet:
    def test_a_new_snippet_starts_as_a_click_on_a_data_track_element(self) -> None:
        trigger = default_trigger(carspot())
        assert trigger == SnippetTrigger(SnippetTriggerKind.CLICK, '[data-track="viewed_car"]')
        snippet = triggered_snippet(carspot(), trigger)
        assert (
            "// Sends a completion when a visitor clicks an element matching "
            '[data-track="viewed_car"]; nothing on page load.'
        ) in snippet
        assert 'condition: "new", // Condition (Enumeration: "new", "used")' in snippet

    @needs_node
    def test_a_click_snippet_sends_nothing_on_load_and_one_completion_per_matching_click(
        self, tmp_path: Path
    ) -> None:
        snippet = triggered_snippet(carspot(), default_trigger(carspot()))
        then = (
            "click('#elsewhere'); seen.push(sent());\n"
            "click('[data-track=\"viewed_car\"]'); seen.push(sent());\n"
            "seen.push(window._hsq[0][1].name);"
        )
        assert run_page(tmp_path, snippet, then) == [0, 0, 1, "pe12345678_viewed_car"]

    @needs_node
    def test_a_function_snippet_sends_when_the_page_calls_it(self, tmp_path: Path) -> None:
        trigger = SnippetTrigger(SnippetTriggerKind.CALL, "carViewed")
        snippet = triggered_snippet(carspot(), trigger)
        then = "carViewed(); seen.push(sent()); carViewed(); seen.push(sent());"
        assert run_page(tmp_path, snippet, then) == [0, 1, 2]

    @needs_node
    @pytest.mark.parametrize(("path", "expected"), [("/cars/volvo", [1]), ("/about", [0])])
    def test_a_page_view_snippet_sends_only_under_its_path(
        self, tmp_path: Path, path: str, expected: list[int]
    ) -> None:
        snippet = triggered_snippet(
            carspot(), SnippetTrigger(SnippetTriggerKind.PAGE_VIEW, "/cars")
        )
        assert run_page(tmp_path, snippet, "", path=path) == expected

    @pytest.mark.parametrize("text", HOSTILE)
    def test_a_typed_selector_stays_in_its_string(self, text: str) -> None:
        for kind in SnippetTriggerKind:
            snippet = triggered_snippet(carspot(), SnippetTrigger(kind, text))
            assert "</script" not in snippet.lower()
            assert "<!--" not in snippet
            assert_one_line_per_line(snippet)

    def test_a_function_name_that_is_not_an_identifier_becomes_the_default(self) -> None:
        snippet = triggered_snippet(carspot(), SnippetTrigger(SnippetTriggerKind.CALL, "a b();x"))
        assert "window.trackViewedCar = function () {" in snippet
        assert function_name(carspot()) == "trackViewedCar"


class TestDescribeSnippet:
    def test_each_trigger_says_when_it_sends(self) -> None:
        said = {
            kind: describe_snippet(triggered_snippet(carspot(), default_trigger(carspot(), kind)))
            for kind in SnippetTriggerKind
        }
        assert not any(b.on_every_page_load for b in said.values())
        assert said[SnippetTriggerKind.CLICK].description == (
            'sends a completion when a visitor clicks an element matching [data-track="viewed_car"]'
        )
        assert said[SnippetTriggerKind.PAGE_VIEW].description == (
            "sends a completion when a page whose path starts with / is viewed"
        )
        assert said[SnippetTriggerKind.CALL].description == (
            "sends a completion each time the page calls trackViewedCar()"
        )

    def test_a_bare_call_sends_on_every_page_load(self) -> None:
        behaviour = describe_snippet(javascript_snippet(carspot()))
        assert behaviour.sends and behaviour.on_every_page_load
        assert behaviour.description.startswith("sends a completion on every page load")

    def test_braces_and_names_in_strings_and_comments_are_not_code(self) -> None:
        snippet = (
            "// function () { trackCustomBehavioralEvent\n"
            'var x = "{ {";\n'
            '_hsq.push(["trackCustomBehavioralEvent", {name: "pe1_x"}]);\n'
        )
        assert describe_snippet(snippet).on_every_page_load

    def test_a_snippet_without_the_call_sends_nothing(self) -> None:
        behaviour = describe_snippet("console.log('hello');\n")
        assert not behaviour.sends
        assert "never calls trackCustomBehavioralEvent" in behaviour.description


NOW_FOR_DEMO = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.mark.adapters("tiny")  # the demo's snippets in node, not storage: once is enough
class TestDemoSnippets:
    @pytest.fixture
    def demo_events(self, services: Any) -> list[EventDefinition]:
        from core.demo import DemoSpec, build_demo
        from core.models import TrackingMethod

        build_demo(services.db, DemoSpec(seed=7, contacts=6, completions=20), NOW_FOR_DEMO)
        return [
            d
            for d in services.definitions.search()
            if d.tracking_method is TrackingMethod.JAVASCRIPT
        ]

    def test_each_javascript_event_of_the_demo_has_a_real_trigger(
        self, demo_events: list[EventDefinition]
    ) -> None:
        said = {d.label: describe_snippet(d.snippet or "").description for d in demo_events}
        assert said == {
            "Viewed pricing page": (
                "sends a completion when a page whose path starts with /pricing is viewed"
            ),
            "Clicked buy button": (
                'sends a completion when a visitor clicks an element matching [data-track="buy"]'
            ),
            "Downloaded whitepaper": (
                'sends a completion when a visitor clicks an element matching a[href$=".pdf"]'
            ),
        }

    @needs_node
    def test_a_page_view_of_the_home_page_sends_none_of_them(
        self, tmp_path: Path, demo_events: list[EventDefinition]
    ) -> None:
        snippets = "\n".join(d.snippet or "" for d in demo_events)
        assert run_page(tmp_path, snippets, "", path="/") == [0]
        assert run_page(tmp_path, snippets, "", path="/pricing") == [1]
        then = "click('[data-track=\"buy\"]'); seen.push(sent());"
        assert run_page(tmp_path, snippets, then, path="/") == [0, 1]
