"""BibTeX entries as ``bench cite`` reads and merges them: split by key, checked, emitted once each.

A citation string (``TaskSpec.citation``, ``Reference.citation``, ``MethodSpec.citation``) may hold
several entries. :func:`parse_entries` splits it into :class:`Entry` objects and checks each the way
a strict BibTeX reader does (pybtex in strict mode, bibtexparser 2): balanced braces, a key, ``name =
value`` fields with no field given twice, values in braces, quotes, digits or the month macros,
names with at most two commas. Anything else raises :class:`BibTeXError` with one line saying where.

:class:`Bibliography` collects the entries of many sources and keeps one per key (keys compare
case-insensitively, as BibTeX's do): the same key with the same content (up to white space) is
the same entry; the same key with other content keeps the first and records a conflict.

Standard library only: reading BibTeX must not need pybtex at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["BibTeXError", "Bibliography", "Conflict", "Entry", "parse_entries"]

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
"""The only macros a citation may use unquoted: every BibTeX style defines them."""

_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_KEY = re.compile(r"[^\s\"#%'(),={}@\\~]+")
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_.:+/-]*")
_NUMBER = re.compile(r"[0-9]+")
_PERSON_FIELDS = ("author", "editor")


class BibTeXError(ValueError):
    """A citation string that is not the BibTeX a strict reader accepts; the message is one line."""


@dataclass(frozen=True)
class Entry:
    """One BibTeX entry: its type and key, its fields as written, and its text."""

    type: str
    """Lower case, without the ``@``."""
    key: str
    fields: tuple[tuple[str, str], ...]
    """(lower-case field name, value as written, with its braces or quotes), in order."""
    text: str
    """The entry exactly as the source wrote it, from ``@`` to its closing delimiter."""

    @property
    def content(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """What two entries of one key must share to be the same: type and fields, white space collapsed."""
        return self.type, tuple(sorted((name, " ".join(value.split())) for name, value in self.fields))


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, pos: int | None = None) -> BibTeXError:
        at = self.pos if pos is None else pos
        line = self.text.count("\n", 0, at) + 1
        return BibTeXError(f"line {line}: {message}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, chars: str, what: str) -> str:
        self.skip_space()
        c = self.peek()
        if not c or c not in chars:
            found = repr(c) if c else "the end of the text"
            raise self.error(f"{what} expected, found {found}")
        self.pos += 1
        return c

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        self.skip_space()
        m = pattern.match(self.text, self.pos)
        if not m:
            c = self.peek()
            raise self.error(f"{what} expected, found {repr(c) if c else 'the end of the text'}")
        self.pos = m.end()
        return m.group()

    def braced(self) -> str:
        """From an opening brace to its matching closing one, both included."""
        start, depth = self.pos, 0
        while self.pos < len(self.text):
            c = self.text[self.pos]
            self.pos += 1
            if c == "\\" and self.peek() in ("{", "}"):
                raise self.escaped_brace()
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return self.text[start:self.pos]
        raise self.error("unbalanced braces: '}' missing", start)

    def escaped_brace(self) -> BibTeXError:
        return self.error("a backslash before a brace (\\{ or \\}): BibTeX readers disagree on it; "
                          "use \\textbraceleft or \\textbraceright", self.pos - 1)

    def quoted(self) -> str:
        """From an opening double quote to the closing one outside braces, both included."""
        start, depth = self.pos, 0
        self.pos += 1
        while self.pos < len(self.text):
            c = self.text[self.pos]
            self.pos += 1
            if c == "\\" and self.peek() in ("{", "}"):
                raise self.escaped_brace()
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth < 0:
                    raise self.error("unbalanced braces in a quoted value", self.pos - 1)
            elif c == '"' and depth == 0:
                return self.text[start:self.pos]
        raise self.error('unterminated quoted value: \'"\' missing', start)


def _value(s: _Scanner) -> str:
    """One field value, possibly concatenated with ``#``; returned as written."""
    s.skip_space()
    start = s.pos
    while True:
        s.skip_space()
        c = s.peek()
        if c == "{":
            s.braced()
        elif c == '"':
            s.quoted()
        elif c.isdigit():
            s.match(_NUMBER, "a number")
        elif c.isalpha():
            at = s.pos
            name = s.match(_FIELD, "a macro")
            if name.lower() not in MONTHS:
                raise s.error(f"undefined macro {name!r} (only the month abbreviations are defined; "
                              "put the value in braces)", at)
        else:
            raise s.error(f"a field value ({{...}}, \"...\" or a number) expected, found {repr(c) if c else 'the end'}")
        s.skip_space()
        if s.peek() != "#":
            return s.text[start:s.pos].strip()
        s.pos += 1


def _check_names(key: str, name: str, value: str) -> None:
    """Raise where a person field holds a name a strict reader rejects (over two commas, an empty name)."""
    inner = value[1:-1] if value[:1] in "{\"" and value[-1:] in "}\"" else value
    depth, top = 0, []
    for c in inner:  # only the top level splits names and counts commas
        depth += c == "{"
        depth -= c == "}"
        top.append(c if depth == 0 else "_")
    flat = "".join(top)
    for name_text in re.split(r"\s+and\s+", flat.strip(), flags=re.IGNORECASE):
        if not name_text.strip() or name_text.strip().lower() == "and":
            raise BibTeXError(f"entry {key!r}: field {name} has an empty name")
        if name_text.count(",") > 2:
            raise BibTeXError(f"entry {key!r}: field {name} has a name with more than two commas: "
                              f"{' '.join(inner.split())[:80]!r}")


def _entry(s: _Scanner) -> Entry | None:
    """The entry at ``@`` (None for an ``@comment``)."""
    start = s.pos
    s.pos += 1
    m = _TYPE.match(s.text, s.pos)  # readers differ on space after '@' or a line break before the brace
    if not m:
        raise s.error("an entry type right after '@' expected", start)
    kind = m.group().lower()
    if kind.startswith("comment") and kind != "comment":  # bibtexparser reads '@commentary{' as a comment
        raise s.error(f"entry type @{m.group()} starts with 'comment'", start)
    s.pos = m.end()
    while s.peek() in (" ", "\t"):
        s.pos += 1
    if kind != "comment" and s.peek() not in ("{", "("):
        raise s.error(f"'{{' or '(' expected on the line of @{kind}")
    if kind == "comment":
        s.skip_space()
        if s.peek() == "{":
            s.braced()
        return None
    if kind in ("string", "preamble"):
        raise s.error(f"@{kind} is not supported in a citation: write the entry out in full", start)
    close = "}" if s.expect("{(", "'{' or '('") == "{" else ")"
    key = s.match(_KEY, f"the key of the @{kind} entry")
    fields: list[tuple[str, str]] = []
    while True:
        if close == ")" and not fields:  # pybtex reads '@misc(key)' to the end of the text
            c = s.expect(",", "',' after the key")
        else:
            c = s.expect("," + close, f"',' or {close!r} after the key" if not fields else f"',' or {close!r}")
        if c == close:
            break
        s.skip_space()
        if s.peek() == close:  # a trailing comma
            s.pos += 1
            break
        name = s.match(_FIELD, f"a field name in entry {key!r}").lower()
        s.expect("=", f"'=' after field {name!r} of entry {key!r}")
        value = _value(s)
        if any(n == name for n, _ in fields):
            raise s.error(f"entry {key!r} gives field {name!r} twice")
        if name in _PERSON_FIELDS:
            _check_names(key, name, value)
        fields.append((name, value))
    return Entry(kind, key, tuple(fields), s.text[start:s.pos])


def parse_entries(text: str) -> list[Entry]:
    """The entries of a citation string, in order; :class:`BibTeXError` where it is not strict BibTeX.

    Between entries only white space, ``%`` comment lines and ``@comment`` are allowed: other text
    is what a reader would skip silently, and usually a broken entry (a missing ``@``). A string with
    no entry at all is an error too.
    """
    s = _Scanner(text)
    out: list[Entry] = []
    keys: dict[str, str] = {}
    while True:
        s.skip_space()
        c = s.peek()
        if not c:
            break
        if c == "%":
            end = text.find("\n", s.pos)
            s.pos = len(text) if end < 0 else end
            continue
        if c != "@":
            snippet = text[s.pos:].split("\n", 1)[0][:40]
            raise s.error(f"text outside any entry: {snippet!r}")
        entry = _entry(s)
        if entry is None:
            continue
        if entry.key.lower() in keys:
            raise BibTeXError(f"key {entry.key!r} appears twice in one citation")
        keys[entry.key.lower()] = entry.key
        out.append(entry)
    if not out:
        raise BibTeXError("no BibTeX entry in it")
    return out


@dataclass(frozen=True)
class Conflict:
    """A key given again by ``source`` with other content than ``first`` gave it; the first is kept."""

    key: str
    first: str
    source: str


@dataclass
class Bibliography:
    """Entries of many sources, one per key (compared case-insensitively), first come first kept."""

    entries: dict[str, Entry] = field(default_factory=dict)
    """By lower-case key, in the order they were first added."""
    sources: dict[str, str] = field(default_factory=dict)
    """By lower-case key: the source that gave the kept entry."""
    conflicts: list[Conflict] = field(default_factory=list)

    def add(self, entries: list[Entry], source: str) -> list[Entry]:
        """Add ``source``'s entries; returns those whose key was new (the ones to print)."""
        new = []
        for e in entries:
            k = e.key.lower()
            kept = self.entries.get(k)
            if kept is None:
                self.entries[k] = e
                self.sources[k] = source
                new.append(e)
            elif kept.content != e.content or kept.key != e.key:
                if not any(c.key == kept.key and c.source == source for c in self.conflicts):
                    self.conflicts.append(Conflict(kept.key, self.sources[k], source))
        return new

    def __contains__(self, key: str) -> bool:
        return key.lower() in self.entries
