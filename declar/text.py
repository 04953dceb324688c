"""Text from a spec or an archive, made safe to print to a terminal or into Markdown.

A spec or an archive may come from an attacker, and every string in it (names, descriptions,
paths, quoted expressions) can end up in declar's output. Printed raw, an ESC starts a terminal
control sequence (retitle the window, move the cursor, hide lines), a carriage return lets later
text overwrite earlier text, and a bidi override reorders what a reviewer reads. `escape` shows
each such character as a Python-style escape instead (``\\x1b``, ``\\r``, ``\\u202e``); ordinary
text, including any printable Unicode, is left alone. `md_code` and `md_text` do the same for
Markdown, where backticks, pipes and ``<!--`` would also change how the text renders.
`json_text` keeps JSON output valid JSON while escaping the characters `json.dumps` leaves raw.

Every renderer of spec or archive text calls these; nothing else decides what is safe.

Example:
    >>> escape("name\\x1b]0;pwned\\x07")
    'name\\\\x1b]0;pwned\\\\x07'
    >>> md_code("a|b")
    '`a\\\\|b`'
"""

from __future__ import annotations

import json
import re
from typing import Any

# Controls except tab (harmless, common in quoted YAML), DEL, C1 controls (U+0080-U+009F: the
# 8-bit CSI and OSC among them), bidi marks, embeddings, overrides and isolates, and the line and
# paragraph separators some terminals and editors break lines on.
_OTHERS = "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_UNSAFE_LINE = re.compile(f"[\x00-\x08\x0a-\x1f{_OTHERS}]")
_UNSAFE_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHERS}]")  # keeps newlines
_UNSAFE_JSON = re.compile(f"[{_OTHERS}]")  # what json.dumps(ensure_ascii=False) leaves raw
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _show(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: Any, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, C1 and bidi character shown as an escape.

    One-line output (messages, names, table cells) escapes newlines too, so a value cannot forge
    another line of output; ``keep_newlines`` keeps them for multi-line text (a spec's source).

    Example:
        >>> escape("a\\rb")
        'a\\\\rb'
        >>> escape("a\\nb", keep_newlines=True)
        'a\\nb'
    """
    text = str(text)
    return (_UNSAFE_BLOCK if keep_newlines else _UNSAFE_LINE).sub(_show, text)


def md_code(text: Any) -> str:
    """``text`` as one Markdown inline code span that is safe inside a table cell.

    The fence is longer than any run of backticks in the text, so the text cannot close it; pipes
    are escaped (GitHub splits table cells on them even inside code); control characters are
    escaped, so a carriage return cannot end the row and start raw HTML such as ``<!--``.

    Example:
        >>> md_code("a`b")
        '``a`b``'
    """
    body = escape(text).replace("|", "\\|")
    runs = [len(r) for r in re.findall(r"`+", body)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or not body.strip(" ") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~&])")


def md_text(text: Any) -> str:
    """``text`` as plain Markdown text: control characters escaped, Markdown and HTML syntax quoted.

    Example:
        >>> md_text("<!-- x -->")
        '\\\\<\\\\!-- x --\\\\>'
    """
    return _MD_SPECIAL.sub(r"\\\1", escape(text))


def json_text(value: Any, *, indent: int | None = 1) -> str:
    """``json.dumps`` that also escapes what it leaves raw with ``ensure_ascii=False``.

    `json.dumps` escapes C0 controls but keeps DEL, C1 controls and bidi characters as they are;
    these can only occur inside JSON strings, where ``\\uXXXX`` means the same character, so the
    result is the same JSON value and safe on a terminal.

    Example:
        >>> json_text({"name": "a\\u202eb"}, indent=None)
        '{"name": "a\\\\u202eb"}'
    """
    return _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, indent=indent,
                                                                              ensure_ascii=False))


def first_line(text: str, limit: int = 300) -> str:
    """The first line of an engine's (possibly empty, possibly multi-line) message, cut to ``limit``.

    Example:
        >>> first_line("ValueError: bad shape\\n  traceback...")
        'ValueError: bad shape'
        >>> first_line("")
        ''
    """
    return (text.splitlines() or [""])[0][:limit]


__all__ = ["escape", "first_line", "json_text", "md_code", "md_text"]
