"""Text hygiene for inbound mail: charset decoding and removal of invisible characters.

Everything a human sends ends up in a model's context, so characters a reader cannot see (Unicode
tag characters, zero-width and bidirectional controls, variation selectors, Hangul fillers) are
removed: they are the usual carriers of hidden prompt injections. What counts as invisible is
`channels.invisible`'s definition, the one the renderers and the other channels use.
"""

from __future__ import annotations

import codecs

from channels.invisible import clean_inbound

# Labels that real mail mislabels: WHATWG maps them to windows-1252, which is a superset.
_CHARSET_ALIASES = {
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "iso-8859-1": "windows-1252",
    "iso8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "l1": "windows-1252",
    "iso-2022-jp": "iso2022_jp_ext",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-unknown": "utf-8",
    "unknown-8bit": "utf-8",
}


def remove_invisible(text: str) -> str:
    """Line ends as `\\n`, and no character a reader cannot see (`channels.invisible`)."""
    return clean_inbound(text)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode a body part, tolerating wrong, missing or unknown charset labels."""
    declared = (charset or "").strip().strip('"').lower() or "us-ascii"
    label = _CHARSET_ALIASES.get(declared, declared)
    try:
        codec = codecs.lookup(label).name
    except LookupError:
        codec = "utf-8"
    if declared in ("us-ascii", "ascii"):
        # 8-bit text labelled ASCII (or not labelled) is more often UTF-8 than anything else.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(codec, errors="replace")
    except (UnicodeError, LookupError, TypeError, ValueError):
        return data.decode("utf-8", errors="replace")
