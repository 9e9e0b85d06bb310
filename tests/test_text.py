"""Tests for campaign.text: placeholders (never Jinja), Markdown, sanitising, CSV, controls."""

from __future__ import annotations

import html
from html.parser import HTMLParser

import pytest

from campaign.text import (
    ALLOWED_TAGS,
    PlaceholderError,
    check_placeholders,
    escape_markdown,
    find_placeholders,
    markdown_to_text,
    neutralise_csv_cell,
    render_markdown,
    sanitise_html,
    strip_controls,
    substitute,
)

ALLOWED = {"name", "city", "case_name", "unsubscribe_url"}

# --------------------------------------------------------------------------- placeholders


def test_find_placeholders() -> None:
    text = "{{ name }} {{name}} {{  city\t}} {{config}} {{ 7*7 }} {{ Name }} {% if %}"
    assert find_placeholders(text) == ["name", "city", "config"]


def test_find_placeholders_none() -> None:
    assert find_placeholders("Привет, мир! { single } braces") == []


@pytest.mark.parametrize(
    "text",
    [
        "Dear {{ name }}",
        "{{name}}{{name}}",
        "{{ name }}, {{ city }}: {{ case_name }}",
        "{{\nname\n}}",
        "No placeholders at all, {single} braces and } { are fine",
        "Ҷамшед {{ name }} аз Хоруғ",
    ],
)
def test_check_placeholders_ok(text: str) -> None:
    assert check_placeholders(text, ALLOWED) == []


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("{{ config }}", ["{{ config }}"]),
        ("{{ request }}", ["{{ request }}"]),
        ("{{ Name }}", ["{{ Name }}"]),
        ("{{ 7*7 }}", ["{{ 7*7 }}"]),
        ("{{ name|safe }}", ["{{ name|safe }}"]),
        ("{{ name.upper() }}", ["{{ name.upper() }}"]),
        ("{{ name[0] }}", ["{{ name[0] }}"]),
        ("{{ '' }}", ["{{ '' }}"]),
        ("{{}}", ["{{}}"]),
        ("{{ n" + "a" * 41 + " }}", ["{{ n" + "a" * 41 + " }}"]),
        (
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            ["{{ ''.__class__.__mro__[1].__subclasses__() }}"],
        ),
        (
            "{% for i in range(10**9) %}x{% endfor %}",
            ["{% for i in range(10**9) %}", "{% endfor %}"],
        ),
        ("{% for %}", ["{% for %}"]),
        ("{# comment #}", ["{# comment #}"]),
        ("Dear {{ name }", ["{{"]),
        ("Dear { name }}", ["}}"]),
        ("50%} off", ["%}"]),
        ("{{ name }} and {{ config }} and {{ config }}", ["{{ config }}"]),  # once each
        ("{{ a {{ name }}", ["{{"]),  # the inner placeholder is fine, the outer opener not
        ("{% if {{ name }} %}", ["{%", "%}"]),
    ],
)
def test_check_placeholders_problems(text: str, problems: list[str]) -> None:
    assert check_placeholders(text, ALLOWED) == problems


def test_check_placeholders_overlong_token_is_reported_as_delimiters() -> None:
    text = "{{ " + "x" * 300 + " }}"
    assert check_placeholders(text, ALLOWED) == ["{{", "}}"]


def test_substitute_basic() -> None:
    out = substitute(
        "Dear {{ name }} from {{city}}. Dear {{name}}!",
        {"name": "Ҷамшед", "city": "Хоруғ"},
        ALLOWED,
    )
    assert out == "Dear Ҷамшед from Хоруғ. Dear Ҷамшед!"


def test_substitute_only_needs_values_it_uses() -> None:
    assert substitute("Hi {{ name }}", {"name": "A"}, ALLOWED) == "Hi A"


def test_substitute_missing_value_is_a_caller_bug() -> None:
    with pytest.raises(KeyError):
        substitute("Hi {{ city }}", {"name": "A"}, ALLOWED)


def test_substitute_does_not_rescan_values() -> None:
    values = {
        "name": "{{ city }}",
        "city": "{{ config }} {% for x in y %} \\1 \\g<0> $name",
    }
    out = substitute("{{ name }} / {{ city }}", values, ALLOWED)
    assert out == "{{ city }} / {{ config }} {% for x in y %} \\1 \\g<0> $name"


@pytest.mark.parametrize(
    "payload",
    [
        "{{ config }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{% for i in range(10**9) %}x{% endfor %}",
        "{{ name|safe }}",
        "{{ 7*7 }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% include '/etc/passwd' %}",
        "{{ name }",
    ],
)
def test_substitute_refuses_template_injection(payload: str) -> None:
    with pytest.raises(PlaceholderError) as info:
        substitute(f"Hello {{{{ name }}}}. {payload}", {"name": "A"}, ALLOWED)
    assert info.value.names
    assert all(problem in payload for problem in info.value.names)
    assert "49" not in str(info.value)  # nothing was evaluated
    assert isinstance(info.value, ValueError)


def test_placeholder_error_lists_names() -> None:
    with pytest.raises(PlaceholderError) as info:
        substitute("{{ config }} {{ request }} {{ name }}", {"name": "A"}, ALLOWED)
    assert info.value.names == ["{{ config }}", "{{ request }}"]
    assert "{{ config }}" in str(info.value)


def test_substitute_with_escape() -> None:
    out = substitute(
        "Hi {{ name }}", {"name": "<b>[x](https://evil.example)</b>"}, ALLOWED, escape=html.escape
    )
    assert out == "Hi &lt;b&gt;[x](https://evil.example)&lt;/b&gt;"


def test_escape_markdown_keeps_values_plain() -> None:
    name = "[click](https://evil.example) **bold** <b>x</b> # h\n\n- item"
    source = substitute("Signed, {{ name }}", {"name": name}, ALLOWED, escape=escape_markdown)
    rendered = render_markdown(source)
    assert "<a" not in rendered
    assert "<strong>" not in rendered
    assert "<li>" not in rendered
    assert "[click](https://evil.example)" in html.unescape(rendered)
    assert markdown_to_text(source).startswith("Signed, [click](https://evil.example) **bold**")


def test_substitute_large_text() -> None:
    chunk = "Уважаемый {{ name }}, текст письма из Хоруғ. " + "x" * 60
    text = chunk * 10_000
    assert len(text) > 1_000_000
    out = substitute(text, {"name": "Ҷамшед"}, ALLOWED)
    assert out.count("Ҷамшед") == 10_000
    assert "{{" not in out


def test_check_placeholders_pathological_input_is_linear() -> None:
    # Many unclosed openers: each match attempt is bounded, so this returns promptly.
    text = "{{ " * 200_000 + "{% " * 200_000
    assert check_placeholders(text, ALLOWED) == ["{{", "{%"]


# --------------------------------------------------------------------------- Markdown / HTML


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((tag, name, value) for name, value in attrs)


def _parse(fragment: str) -> _Collector:
    collector = _Collector()
    collector.feed(fragment)
    collector.close()
    return collector


def _assert_safe(fragment: str) -> None:
    parsed = _parse(fragment)
    assert set(parsed.tags) <= ALLOWED_TAGS, parsed.tags
    for tag, name, value in parsed.attrs:
        assert (tag, name) in {("a", "href"), ("a", "rel")}, (tag, name)
        if name == "href":
            assert value is not None
            assert value.split(":", 1)[0].lower() in {"http", "https", "mailto"}, value
        if name == "rel":
            assert value == "noopener noreferrer"
    # Whatever survives as text is escaped: no raw tag opens anywhere.
    lowered = fragment.lower()
    for needle in ("<script", "<img", "<svg", "<style", "<iframe"):
        assert needle not in lowered, needle


XSS = [
    "<script>alert(1)</script>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "![i](https://evil.example/p.png)",
    "![i](data:image/png;base64,iVBORw0KGgo=)",
    "<img src=x onerror=alert(1)>",
    '<svg onload="alert(1)"><circle r="1"/></svg>',
    "<style>@import url(https://evil.example/x.css)</style>",
    '<a href="data:text/html,<script>alert(1)</script>">d</a>',
    "[d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<iframe src=https://evil.example></iframe>",
    "[v](vbscript:msgbox(1))",
    '<a href="https://ok.example" onclick="alert(1)" style="color:red">x</a>',
    "<p style='background:url(https://evil.example/t.gif)'>x</p>",
    "<!-- comment --><b>b</b>",
    "[rel](/relative/path)",
]


@pytest.mark.parametrize("payload", XSS)
def test_render_markdown_xss(payload: str) -> None:
    _assert_safe(render_markdown(payload))
    _assert_safe(render_markdown(f"Text before.\n\n{payload}\n\n- item {payload}"))


@pytest.mark.parametrize("payload", XSS)
def test_sanitise_html_xss(payload: str) -> None:
    _assert_safe(sanitise_html(payload))


def test_sanitise_html_drops_script_and_style_content() -> None:
    out = sanitise_html("<p>a</p><script>alert(1)</script><style>p{}</style><p>b</p>")
    assert out == "<p>a</p><p>b</p>"


def test_sanitise_html_keeps_allowed_markup() -> None:
    out = sanitise_html(
        '<h2 class="x" id="y" lang="ru" title="t">Т</h2><p><a href="https://www.osce.org/odihr"'
        ' target="_blank">ODIHR</a></p>'
    )
    assert out == (
        '<h2>Т</h2><p><a href="https://www.osce.org/odihr" rel="noopener noreferrer">ODIHR</a></p>'
    )


def test_sanitise_html_drops_svg_and_img() -> None:
    out = sanitise_html('<p>x<img src="https://evil.example/p.png">y<svg><a>z</a></svg></p>')
    parsed = _parse(out)
    assert "img" not in parsed.tags
    assert "svg" not in parsed.tags


def test_raw_html_is_escaped_not_interpreted() -> None:
    out = render_markdown("<b>bold?</b> <script>alert(1)</script>")
    assert out == "<p>&lt;b&gt;bold?&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;</p>\n"


def test_image_renders_as_alt_text_only() -> None:
    out = render_markdown("Look: ![Photo of Ҷамшед](https://evil.example/p.png)")
    assert "evil.example" not in out
    assert "Photo of Ҷамшед" in out
    assert "<img" not in out


def test_link_policy() -> None:
    out = render_markdown(
        "[ODIHR](https://www.osce.org/odihr) [mail](mailto:info@example.org) "
        "[ftp](ftp://x.example/f) [rel](/cases/1) [frag](#x)"
    )
    parsed = _parse(out)
    hrefs = [value for tag, name, value in parsed.attrs if name == "href"]
    assert hrefs == ["https://www.osce.org/odihr", "mailto:info@example.org"]
    assert out.count('rel="noopener noreferrer"') == out.count("<a ")


def test_markdown_structure() -> None:
    # Headings are clamped to h2-h4: h1 (owned by the page) becomes h2, h6 becomes h4.
    source = (
        "# Заголовок\n\n## Раздел\n\n###### Мелко\n\n"
        "Текст **жирный** и *курсив*, `код`.\n\n"
        "- один\n- два\n\n1. раз\n2. два\n\n> цитата\n\n```\nprint(1)\n```\n\n---\n"
    )
    out = render_markdown(source)
    parsed = _parse(out)
    assert parsed.tags == [
        "h2", "h2", "h4", "p", "strong", "em", "code", "ul", "li", "li", "ol", "li", "li",
        "blockquote", "p", "pre", "code", "hr",
    ]  # fmt: skip
    assert "Заголовок" in out


def test_tajik_and_russian_text_survives() -> None:
    text = "Озодии фаъолони помирӣ! Ғ ӣ қ ӯ ҳ ҷ — Свободу заключённым «Хорог»."
    assert text in render_markdown(text)
    assert markdown_to_text(text) == text
    assert sanitise_html(f"<p>{text}</p>") == f"<p>{text}</p>"


def test_markdown_to_text() -> None:
    source = (
        "# Заголовок\n\n"
        "Привет [ODIHR](https://www.osce.org/odihr), <https://example.org/a> и "
        "[почта](mailto:info@example.org).\n\n"
        "- один\n- два\n  - вложенный\n\n"
        "3. три\n4. четыре\n\n"
        "> цитата\n> ещё\n\n"
        "```\ncode line\n```\n\n"
        "---\n\n"
        "![фото](https://evil.example/p.png) *курсив* **жирный** `код` "
        "[плохо](javascript:alert(1)) [отн](/x)"
    )
    assert markdown_to_text(source) == (
        "Заголовок\n\n"
        "Привет ODIHR (https://www.osce.org/odihr), https://example.org/a и "
        "почта (mailto:info@example.org).\n\n"
        "- один\n- два\n  - вложенный\n\n"
        "3. три\n4. четыре\n\n"
        "> цитата\n> ещё\n\n"
        "    code line\n\n"
        "* * *\n\n"
        "фото курсив жирный код [плохо](javascript:alert(1)) отн"
    )


def test_markdown_to_text_loose_list_and_breaks() -> None:
    source = "- first para\n\n  second para\n\n- next\n\nline one  \nline two\nline three"
    assert markdown_to_text(source) == (
        "- first para\n\n  second para\n\n- next\n\nline one\nline two\nline three"
    )


def test_markdown_to_text_has_no_markup_or_entities() -> None:
    out = markdown_to_text("Tom &amp; Jerry <b>x</b> \\*not em\\*")
    assert out == "Tom & Jerry <b>x</b> *not em*"


def test_empty_markdown() -> None:
    assert render_markdown("") == ""
    assert markdown_to_text("") == ""


# --------------------------------------------------------------------------- CSV cells


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+7 900 000 00 00", "'+7 900 000 00 00"),
        ("-2", "'-2"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=cmd", "'\t=cmd"),
        ("\r=cmd", "'\r=cmd"),
        ('=HYPERLINK("https://evil.example","x")', '\'=HYPERLINK("https://evil.example","x")'),
        ("  =1+1", "'  =1+1"),
        ("＝1+1", "'＝1+1"),
        ("", ""),
        ("Ҷамшед", "Ҷамшед"),
        ("ivan@example.org", "ivan@example.org"),
        ("a=b", "a=b"),
        ("1-2", "1-2"),
        ("'quoted", "'quoted"),
    ],
)
def test_neutralise_csv_cell(value: str, expected: str) -> None:
    assert neutralise_csv_cell(value) == expected


# --------------------------------------------------------------------------- single-line text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Ҷамшед   Шоҳзода  ", "Ҷамшед Шоҳзода"),
        ("Пулод\u0438\u0304", "Пулодӣ"),  # и + combining macron -> ӣ (NFC)
        ("\u0443\u0304", "ӯ"),
        ("Ivan\r\nBcc: x@y.org", "Ivan Bcc: x@y.org"),
        ("a\x00b\x07c\x1bd", "abcd"),
        ("a\x85b", "a b"),  # NEL is whitespace
        ("a\x9bb", "ab"),  # C1 CSI
        ("abc\u202edcba", "abcdcba"),
        ("\u2066x\u2069\u202a\u202b\u202c\u202d", "x"),
        ("line\u2028next\u2029para", "line next para"),
        ("a\u200bb\ufeff", "ab"),
        ("x\u00a0\u3000y\t\tz", "x y z"),
        ("Хоруғ", "Хоруғ"),
        ("", ""),
        ("\r\n\t ", ""),
    ],
)
def test_strip_controls(value: str, expected: str) -> None:
    assert strip_controls(value) == expected


def test_strip_controls_keeps_zwnj() -> None:
    assert strip_controls("می\u200cخواهم") == "می\u200cخواهم"
