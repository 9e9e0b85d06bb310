"""Organiser-written and user-written text: placeholders, Markdown, sanitising, CSV cells.

Organiser-written text (alert bodies, letter templates) is *data*: it is never compiled as a
Jinja template. The only dynamic feature is ``{{ name }}`` placeholders from an allowlist,
replaced in one regular-expression pass; values are inserted literally and never re-scanned.
Anything that looks like template syntax but is not an allowed placeholder is an error the
organiser sees before saving, never something that is evaluated.

Pure module: no Flask imports.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

__all__ = [
    "ALLOWED_TAGS",
    "ALLOWED_URL_SCHEMES",
    "PlaceholderError",
    "check_placeholders",
    "escape_markdown",
    "find_placeholders",
    "markdown_to_text",
    "neutralise_csv_cell",
    "render_markdown",
    "sanitise_html",
    "strip_controls",
    "substitute",
]

# --------------------------------------------------------------------------- placeholders

_NAME: Final = re.compile(r"\s*([a-z][a-z0-9_]{0,40})\s*")

# One alternation scanned left to right. A token body may not run past its closing
# delimiter, may not contain another opening delimiter, and is at most 200 characters, so
# the work done from each opener is bounded by the distance to the next opener: a scan is
# linear in the text length even for "{{ {{ {{ ..." with nothing closed. Template
# delimiters that are not part of a complete token (an unclosed "{{", a lone "}}", "{%"
# ...) are caught by the last branch.
_MAX_BODY: Final = 200
_BOUND: Final = "{0," + str(_MAX_BODY) + "}"
_OPENERS: Final = r"\{\{|\{%|\{\#"
_TOKEN: Final = re.compile(
    r"\{\{(?P<expr>(?:(?!\}\}|" + _OPENERS + r").)" + _BOUND + r")\}\}"
    r"|\{%(?:(?!%\}|" + _OPENERS + r").)" + _BOUND + r"%\}"
    r"|\{\#(?:(?!\#\}|" + _OPENERS + r").)" + _BOUND + r"\#\}"
    r"|" + _OPENERS + r"|\}\}|%\}|\#\}",
    re.DOTALL,
)


class PlaceholderError(ValueError):
    """Organiser text uses placeholders that are unknown or malformed.

    ``names`` lists the offending tokens as written (e.g. ``"{{ config }}"``,
    ``"{% for i in x %}"``), each once, in order of first appearance.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names: list[str] = list(names)
        shown = ", ".join(self.names[:10])
        more = f" and {len(self.names) - 10} more" if len(self.names) > 10 else ""
        super().__init__(f"unknown or malformed placeholders: {shown}{more}")


def _placeholder_name(token: re.Match[str]) -> str | None:
    """The name of a well-formed ``{{ name }}`` token, else None."""
    expr = token.group("expr")
    if expr is None:
        return None
    named = _NAME.fullmatch(expr)
    return named.group(1) if named else None


def find_placeholders(text: str) -> list[str]:
    """Names used as well-formed ``{{ name }}`` placeholders, unique, in order of appearance.

    Says nothing about whether the names are allowed; see ``check_placeholders``.
    """
    seen: dict[str, None] = {}
    for token in _TOKEN.finditer(text):
        name = _placeholder_name(token)
        if name is not None:
            seen.setdefault(name, None)
    return list(seen)


def check_placeholders(text: str, allowed: Collection[str]) -> list[str]:
    """Problems in ``text``: unknown placeholders, malformed tokens (filters, expressions,
    attribute access, ``{% %}`` statements, ``{# #}`` comments) and stray template
    delimiters, each as the raw token text, once, in order of first appearance. Empty when
    the text is fine."""
    allowed_set = frozenset(allowed)
    problems: dict[str, None] = {}
    for token in _TOKEN.finditer(text):
        name = _placeholder_name(token)
        if name is None or name not in allowed_set:
            problems.setdefault(token.group(0), None)
    return list(problems)


def substitute(
    text: str,
    values: Mapping[str, str],
    allowed: Collection[str],
    *,
    escape: Callable[[str], str] | None = None,
) -> str:
    """Replace each allowed ``{{ name }}`` by ``values[name]``, in one pass.

    Values are inserted literally and never re-scanned, so a value containing ``{{ x }}``
    stays as that text. ``escape`` (e.g. ``escape_markdown`` when the result is Markdown
    source, ``html.escape`` for HTML) is applied to each value first.

    Raises ``PlaceholderError`` when the text has unknown or malformed tokens (nothing is
    substituted then), and ``KeyError`` when an allowed name that the text uses has no value
    (a bug in the caller, not in the organiser's text).
    """
    problems = check_placeholders(text, allowed)
    if problems:
        raise PlaceholderError(problems)

    def replace(token: re.Match[str]) -> str:
        name = _placeholder_name(token)
        if name is None:  # pragma: no cover - excluded by check_placeholders above
            raise PlaceholderError([token.group(0)])
        value = values[name]
        if not isinstance(value, str):
            raise TypeError(f"value for placeholder {name!r} must be a str")
        return escape(value) if escape is not None else value

    return _TOKEN.sub(replace, text)


_MD_PUNCTUATION: Final = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")


def escape_markdown(value: str) -> str:
    """Backslash-escape every ASCII punctuation character (CommonMark allows that for all of
    them), so a value inserted into Markdown source stays plain text: a supporter named
    ``[x](https://evil.example)`` does not become a link. Line breaks become spaces."""
    flat = " ".join(value.splitlines())
    return _MD_PUNCTUATION.sub(r"\\\1", flat)


# --------------------------------------------------------------------------- Markdown / HTML

ALLOWED_TAGS: Final = frozenset(
    {
        "p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote",
        "h2", "h3", "h4", "code", "pre", "hr",
    }
)  # fmt: skip
ALLOWED_URL_SCHEMES: Final = frozenset({"http", "https", "mailto"})

# No img (no remote images), no style, no svg, no event handlers: only the tags above, and
# only href on a. Relative URLs are dropped: mail has no base URL, and a page link must be
# absolute anyway. script/style contents are removed with the element (nh3's default).
_CLEANER: Final = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    # "*": no generic attributes (nh3 would otherwise keep lang and title everywhere).
    attributes={"a": {"href"}, "*": set()},
    generic_attribute_prefixes=set(),
    url_schemes=set(ALLOWED_URL_SCHEMES),
    link_rel="noopener noreferrer",
    url_relative="deny",
    strip_comments=True,
)


def sanitise_html(html: str) -> str:
    """Sanitise an HTML fragment with the same policy as ``render_markdown``."""
    return _CLEANER.clean(html)


def _render_image_as_alt(
    self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    """Images are never loaded from anywhere: an image renders as its (escaped) alt text."""
    token = tokens[idx]
    return escapeHtml(self.renderInlineAsText(token.children or [], options, env))


def _make_markdown() -> MarkdownIt:
    md = MarkdownIt(
        "commonmark",
        {"html": False, "linkify": False, "typographer": False, "breaks": False},
    )
    md.add_render_rule("image", _render_image_as_alt)
    return md


_MD: Final = _make_markdown()


def _clamp_headings(tokens: list[Token]) -> None:
    """Only h2-h4 are allowed (the page owns h1): map h1 to h2 and h5/h6 to h4."""
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            level = int(token.tag[1:])
            token.tag = f"h{min(max(level, 2), 4)}"


def render_markdown(source: str) -> str:
    """Markdown (CommonMark, raw HTML escaped, no linkify) to sanitised HTML."""
    env: dict[str, Any] = {}
    tokens = _MD.parse(source, env)
    _clamp_headings(tokens)
    html = _MD.renderer.render(tokens, _MD.options, env)
    return sanitise_html(html)


def _scheme_allowed(href: str) -> bool:
    scheme, colon, _ = href.partition(":")
    return bool(colon) and scheme.lower() in ALLOWED_URL_SCHEMES and "/" not in scheme


def _inline_text(nodes: Sequence[SyntaxTreeNode]) -> str:
    out: list[str] = []
    for node in nodes:
        kind = node.type
        if kind in ("text", "code_inline", "html_inline"):
            out.append(node.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "link":
            label = _inline_text(node.children)
            href = str(node.attrs.get("href", ""))
            shown = href.removeprefix("mailto:")
            if _scheme_allowed(href) and label.strip() not in (href, shown):
                out.append(f"{label} ({href})" if label.strip() else href)
            else:
                out.append(label)
        elif kind == "image":  # alt text only, never the address of a remote image
            out.append(_inline_text(node.children))
        else:  # em, strong, inline container
            out.append(_inline_text(node.children))
    return "".join(out)


def _prefix_lines(text: str, first: str, rest: str) -> str:
    lines = text.split("\n")
    head = first + lines[0]
    tail = [(rest + line) if line else rest.rstrip() for line in lines[1:]]
    return "\n".join([head, *tail])


def _list_text(node: SyntaxTreeNode) -> str:
    ordered = node.type == "ordered_list"
    start = int(node.attrs.get("start", 1)) if ordered else 1
    loose = any(
        child.type == "paragraph" and not child.hidden
        for item in node.children
        for child in item.children
    )
    sep = "\n\n" if loose else "\n"
    items: list[str] = []
    for i, item in enumerate(node.children):
        marker = f"{start + i}. " if ordered else "- "
        body = sep.join(_block_texts(item.children))
        items.append(_prefix_lines(body, marker, " " * len(marker)))
    return sep.join(items)


def _block_texts(nodes: Sequence[SyntaxTreeNode]) -> list[str]:
    blocks: list[str] = []
    for node in nodes:
        kind = node.type
        if kind in ("paragraph", "heading", "inline"):
            blocks.append(_inline_text(node.children))
        elif kind in ("bullet_list", "ordered_list"):
            blocks.append(_list_text(node))
        elif kind == "blockquote":
            inner = "\n\n".join(_block_texts(node.children))
            blocks.append(_prefix_lines(inner, "> ", "> "))
        elif kind in ("code_block", "fence"):
            code = node.content.rstrip("\n")
            blocks.append(_prefix_lines(code, "    ", "    "))
        elif kind == "hr":
            blocks.append("* * *")
        elif kind == "html_block":  # not produced with html disabled; kept as text
            blocks.append(node.content.rstrip("\n"))
        else:
            blocks.extend(_block_texts(node.children))
    return blocks


def markdown_to_text(source: str) -> str:
    """A readable plain-text version of Markdown for the text/plain part of a message.

    Paragraphs and headings separated by blank lines, links as ``text (url)`` (only for
    http, https and mailto), lists with ``- `` or ``1. ``, quotes with ``> ``, code indented,
    images as their alt text; no other markup.
    """
    tree = SyntaxTreeNode(_MD.parse(source))
    text = "\n\n".join(block for block in _block_texts(tree.children) if block.strip())
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


# --------------------------------------------------------------------------- cells and lines

# OWASP CSV injection: a cell a spreadsheet would read as a formula. Leading whitespace is
# skipped when looking (some spreadsheets trim it), and the full-width forms are included.
_FORMULA_STARTS: Final = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def neutralise_csv_cell(value: str) -> str:
    """Prefix a single quote to a cell a spreadsheet could run as a formula."""
    if not value:
        return value
    if value[0] in _FORMULA_STARTS:
        return "'" + value
    stripped = value.lstrip(" \n\u00a0\u3000")
    if stripped and stripped[0] in _FORMULA_STARTS:
        return "'" + value
    return value


_WHITESPACE: Final = re.compile(r"\s+")
# Bidi embeddings/overrides (U+202A-U+202E), isolates (U+2066-U+2069) and the implicit
# marks (LRM, RLM, ALM); zero-width space, word joiner and BOM; Unicode tag characters.
# ZWJ/ZWNJ are kept: Persian-script Tajik spelling needs ZWNJ.
_INVISIBLE: Final = re.compile(
    "[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\u2060\ufeff\U000e0000-\U000e007f]"
)
_CONTROLS: Final = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")


def strip_controls(value: str) -> str:
    """Clean single-line user text (names, cities): NFC, no C0/C1 controls, no bidi
    overrides/isolates/marks, no invisible characters, line and paragraph separators and
    every other run of whitespace collapsed to one space, trimmed."""
    text = unicodedata.normalize("NFC", value)
    text = _INVISIBLE.sub("", text)
    text = _CONTROLS.sub("", text)  # tab, LF, VT, FF, CR, NEL are whitespace: see below
    text = _WHITESPACE.sub(" ", text)  # includes U+2028/U+2029, NBSP, U+3000
    return unicodedata.normalize("NFC", text).strip()
