"""Phrases of editing requests: numbers, times, amounts, spans and clauses (word and stem targets
are in :mod:`agent.targets`).

The offline planner (:mod:`agent.planner`) reads a request in three steps, all defined here:

1. :func:`normalize`: lower case, one kind of quote and dash, number words as digits
   ("half a second" -> "0.5 second", "two hundred" -> "200");
2. :func:`tokenize`: every quantity becomes a placeholder with its value in a table: ``<t0>`` a time
   (seconds), ``<n1>`` a bare number, ``<db2>`` decibels, ``<tp3>`` dBTP, ``<lufs4>``, ``<hz5>``,
   ``<pct6>`` and ``<q7>`` a quoted word. The planner's rules are then short regexes over words and
   placeholders ("cut from <t0> to <t1>");
3. :func:`split_clauses`: on "and", "then", commas and full stops (not inside "between A and B").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# ----------------------------------------------------------------------------- numbers as words

_SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_WORD_NUMBER = re.compile(
    rf"\b(?:({'|'.join(_TENS)})(?:[ -]({'|'.join(_SMALL[1:10])}))?|({'|'.join(_SMALL)}))\b"
)
_DETERMINER_ONE = re.compile(r"\b(?:the|this|that|last|every|each|which|any|no|first|next) $")


def _number_words(text: str) -> str:
    def replace(m: re.Match) -> str:
        if m.group(3) == "one" and _DETERMINER_ONE.search(text[:m.start()]):
            return m.group(0)  # "the last one", "this one"
        if m.group(3):
            return str(_SMALL.index(m.group(3)))
        return str(_TENS[m.group(1)] + (_SMALL.index(m.group(2)) if m.group(2) else 0))

    text = _WORD_NUMBER.sub(replace, text)
    text = re.sub(r"\b(\d+) hundred\b", lambda m: str(int(m.group(1)) * 100), text)
    return re.sub(r"\ba hundred\b", "100", text)


_UNIT_WORD = r"(second|sec|minute|min|hour|millisecond)s?"
_CHARACTERS = (
    (r"[\u2018\u2019`]", "'"), (r"[\u201c\u201d]", '"'), (r"[\u2013\u2014\u2212]", "-"),
    (r"(?<=[a-z])-(?=[a-z])", " "),                      # fade-in, half-second, true-peak
    (r"(\d),(\d{3})\b", r"\1\2"),                          # 1,500 ms
    (r"(?<![\d,])(\d+),(\d{1,2})(?![\d,])", r"\1.\2"),       # 1,5 s (a decimal comma)
)
_REWRITES = (
    (r"\bminus\s+(?=\d)|\bnegative\s+(?=\d)", "-"), (r"\bplus\s+(?=\d)", "+"),
    (r"\b(\d+) and a half\b", lambda m: f"{int(m.group(1)) + 0.5:g}"),
    (rf"\b(?:a )?half (?:a |an )?{_UNIT_WORD}\b", r"0.5 \1"),
    (rf"\b(?:a )?quarter (?:of )?(?:a |an )?{_UNIT_WORD}\b", r"0.25 \1"),
    (r"\ba couple(?: of)?\b", "2"),
    (rf"(?<!\bthe )\b(?:a|an)\s+{_UNIT_WORD}\b", r"1 \1"),  # "a second of silence", not "the second um"
    (rf"\b(first|last|final|opening|closing)\s+{_UNIT_WORD}\b", r"\1 1 \2"),
    (r"\b(twice|double)\b(?! as loud| the (?:volume|loudness|level|gain))", "2 times"),
    (r"\bthrice\b", "3 times"),
    # "the ums and uhs" names the fillers as a whole (one request, one detection), not two asks
    (r"\b(?:ums?|uhs?|ers?|ahs?|erms?|hmms?)(?:,? (?:and |or |or the |and the )?"
     r"(?:ums?|uhs?|ers?|ahs?|erms?|hmms?))+\b", "fillers"),
)


def normalize(text: str) -> str:
    """Lower case, plain quotes and dashes, number words as digits, single spaces."""
    text = " ".join(text.lower().split())
    for pattern, repl in _CHARACTERS:
        text = re.sub(pattern, repl, text)
    text = _number_words(text)
    for pattern, repl in _REWRITES:
        text = re.sub(pattern, repl, text)
    return text


# ----------------------------------------------------------------------------- quantities



class Refusal(Exception):
    """This clause is for this rule, but cannot be planned; the text says why."""


def fmt_s(seconds: float) -> str:
    """Seconds as the planner writes them in messages: ``2.5 s``."""
    return f"{seconds:g} s"

@dataclass(frozen=True)
class Quantity:
    """One quantity of a request. ``value``: seconds (``t``), dB (``db``, ``tp``), LUFS, Hz, percent,
    or the number as written (``n``). ``scale``: seconds per unit of a time's last unit (60 for
    "2 minutes"), which a bare partner borrows ("between 5 and 7 seconds")."""

    kind: str
    value: float
    text: str
    scale: float | None = None

    def seconds(self, partner: Quantity | None = None) -> float:
        if self.kind == "n" and partner is not None and partner.kind == "t" and partner.scale:
            return self.value * partner.scale
        return self.value


_NUM = r"(\d+(?:\.\d+)?|\.\d+)"
_END = r"(?![\w:]|\.\d)"
_SIGNED = rf"(?<![\w.])([-+]?){_NUM}"
_TIME_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PAIR = re.compile(  # a number and a time unit; "20s" of "1m20s" follows a letter
    rf"(?<![\d.]){_NUM}\s*(milliseconds?|millisecs?|msecs?|ms|hours?|hrs?|h|minutes?|mins?|m|"
    r"seconds?|secs?|s)(?![a-z])"
)
_CLOCK = re.compile(r"(?<![\w.:])(\d+):(\d{1,2})(?::(\d{1,2}))?(\.\d+)?(?![\w:])")
_QUOTED = re.compile(r"\"([^\"]+)\"|(?<![a-z])'([^']+)'(?![a-z])")
_TOKEN = re.compile(r"<([a-z]+)(\d+)>")


def _unit_seconds(unit: str) -> float:
    return _TIME_UNITS["ms" if unit.startswith(("ms", "milli", "msec")) else unit[0]]


def _clock_seconds(m: re.Match) -> float:
    parts = [int(p) for p in m.group(1, 2, 3) if p is not None]
    seconds = parts[0] * 60 + parts[1] if len(parts) == 2 else parts[0] * 3600 + parts[1] * 60 + parts[2]
    return seconds + float(m.group(4) or 0)


def _time_groups(text: str) -> list[tuple[int, int, float, float]]:
    """(start, end, seconds, scale) of each time: '90 s', '1m20s', '1 minute and 20 seconds'."""
    groups: list[list] = []
    for m in _PAIR.finditer(text):
        scale = _unit_seconds(m.group(2))
        if groups:
            last = groups[-1]
            between = text[last[1]:m.start()]
            if re.fullmatch(r"\s*(?:,|and)?\s*", between) and scale < last[3]:
                last[1], last[2], last[3] = m.end(), last[2] + float(m.group(1)) * scale, scale
                continue
        groups.append([m.start(), m.end(), float(m.group(1)) * scale, scale])
    return [tuple(g) for g in groups]


@dataclass(frozen=True)
class Phrase:
    """Normalized text with quantities replaced by placeholders, and the table of quantities."""

    text: str
    quantities: tuple[Quantity, ...]

    def detokenize(self, text: str | None = None) -> str:
        return _TOKEN.sub(lambda m: self.quantities[int(m.group(2))].text,
                          self.text if text is None else text)


def tokenize(text: str) -> Phrase:
    """Replace every quantity of normalized ``text`` by a placeholder (see the module docstring)."""
    table: list[Quantity] = []

    def put(kind: str, value: float, original: str, scale: float | None = None) -> str:
        table.append(Quantity(kind, value, original, scale))
        return f"<{kind}{len(table) - 1}>"

    def signed(m: re.Match) -> float:
        return float(m.group(1) + m.group(2))

    text = _QUOTED.sub(lambda m: put("q", 0.0, (m.group(1) or m.group(2)).strip()), text)
    amounts = (
        ("lufs", rf"{_SIGNED}\s*(?:lufs|lkfs|lu)(?![a-z])", signed),
        ("tp", rf"{_SIGNED}\s*(?:dbtp|db tp|db true peak)(?![a-z])", signed),
        ("db", rf"{_SIGNED}\s*(?:decibels?|dbfs|dbs|db)(?![a-z])", signed),
        ("hz", rf"(?<![\w.]){_NUM}\s*(khz|kilohertz|k|hz|hertz)(?![a-z])",
         lambda m: float(m.group(1)) * (1 if m.group(2) in ("hz", "hertz") else 1000)),
        ("pct", rf"(?<![\w.]){_NUM}\s*(?:%|percent|per cent)", lambda m: float(m.group(1))),
    )
    for kind, pattern, value in amounts:
        text = re.sub(pattern, lambda m, k=kind, v=value: put(k, v(m), m.group(0)), text)
    text = _CLOCK.sub(lambda m: put("t", _clock_seconds(m), m.group(0)), text)
    for start, end, seconds, scale in reversed(_time_groups(text)):
        original = text[start:end]
        text = text[:start] + put("t", seconds, original, scale) + text[end:]
    text = re.sub(rf"{_SIGNED}{_END}", lambda m: put("n", signed(m), m.group(0)), text)
    return Phrase(" ".join(text.split()), tuple(table))


def parse_time_s(text: str) -> float:
    """Seconds of one time expression: '1:23', '01:02:03', '1m20s', '2 min', '1500 ms', '90 s'."""
    phrase = tokenize(normalize(text))
    m = _TOKEN.fullmatch(phrase.text)
    if not m or m.group(1) not in ("t", "n"):
        raise ValueError(f"{text!r} is not a time (expected e.g. 1:23, 90 s, 1m20s, 1500 ms)")
    return phrase.quantities[int(m.group(2))].value


def parse_amount(text: str) -> tuple[str, float]:
    """(kind, value) of one amount: '3 dB' -> ('db', 3.0), '-16 LUFS' -> ('lufs', -16.0),
    '48 kHz' -> ('hz', 48000.0), '50%' -> ('pct', 50.0), '-1 dBTP' -> ('tp', -1.0)."""
    phrase = tokenize(normalize(text))
    m = _TOKEN.fullmatch(phrase.text)
    if not m:
        raise ValueError(f"{text!r} is not one amount (expected e.g. 3 dB, -16 LUFS, 48 kHz)")
    quantity = phrase.quantities[int(m.group(2))]
    return quantity.kind, quantity.value


# ----------------------------------------------------------------------------- clauses

_PROTECT = (
    (r"\bbetween (<[tn]\d+>) and (<[tn]\d+>)", r"between \1 & \2"),
    (r"\b(in|out) and (in|out)\b", r"\1 & \2"),
    (r"\b(start|beginning) and (?:the )?end\b", r"\1 & end"),
    (r"\s*(?:,|\band)\s+(?=(?:a |an |with |with a |the )?(?:true peak|peaks?|ceiling|max\w* (?:true )?peak)\b"
     r"|<tp\d+>)", " & "),
    (r"\bfirst and (?:the )?last (<[tn]\d+>)", r"first \1 and the last \1"),
)
_SEPARATOR = re.compile(
    r"\s*(?:[,;!]|\.(?=\s|$)|\?(?=\s|$)|"
    r"\b(?:and then|then|and|after that|afterwards|also|plus|finally|lastly)\b)\s*"
)
_POLITE_START = re.compile(
    r"^(?:(?:please|hey|ok|okay|so|now|first|next|can you|could you|would you|will you|"
    r"i want you to|i'd like you to|i would like you to|i need you to|i want to|i'd like to|"
    r"i would like to|i need to|let's|let us|go ahead and|just)\s+)+(?=[a-z])"
)
_POLITE_END = re.compile(r"\s*(?:please|for me|thanks|thank you)$")


@dataclass
class Clause:
    """One clause of a request: tokenized text plus the request's table of quantities.

    Rules mark the quantities they read as ``used``; a quantity left unread means the clause said
    more than the planner understood, and the planner refuses it."""

    text: str
    phrase: Phrase
    used: set[int] = field(default_factory=set)

    @property
    def source(self) -> str:
        return self.phrase.detokenize(self.text)

    def search(self, pattern: str) -> re.Match | None:
        return re.search(pattern, self.text)

    def token_ids(self, kinds: str = "") -> list[int]:
        return [int(m.group(2)) for m in _TOKEN.finditer(self.text)
                if not kinds or m.group(1) in kinds.split()]

    def take(self, index: int | str) -> Quantity:
        self.used.add(int(index))
        return self.phrase.quantities[int(index)]

    def unused(self) -> list[Quantity]:
        return [self.phrase.quantities[i] for i in self.token_ids() if i not in self.used]

    def sign(self, index: int | str) -> int:
        """-1 or +1 when the quantity was written with a sign ("-3 dB", "+2", "-10%"), else 0."""
        written = self.phrase.quantities[int(index)].text.strip()
        minus = written.startswith("-") or re.search(rf"-\s*<[a-z]+{int(index)}>", self.text)
        return -1 if minus else 1 if written.startswith("+") else 0

    def against(self, *, up: bool, kinds: str = "") -> str | None:
        """The first quantity signed opposite to the clause's words ("-3 dB louder", "speed it up
        -10%"), as written, or None."""
        wrong = [i for i in self.token_ids(kinds) if self.sign(i) == (-1 if up else 1)]
        text = self.phrase.quantities[wrong[0]].text.strip() if wrong else None
        return text if not text or text[:1] in "+-" else f"-{text}"


def split_clauses(phrase: Phrase) -> list[Clause]:
    text = phrase.text
    for pattern, repl in _PROTECT:
        text = re.sub(pattern, repl, text)
    clauses = []
    for piece in _SEPARATOR.split(text):
        piece = _POLITE_END.sub("", _POLITE_START.sub("", piece.strip(" .?!"))).strip()
        if piece and not re.fullmatch(r"(?:first|next|then|so|ok|okay|please|now|and)", piece):
            clauses.append(Clause(piece, phrase))
    return clauses


# ----------------------------------------------------------------------------- spans

T = r"<[tn](\d+)>"
_TO = r"\s*(?:to|until|till|through|thru|-|&)\s*"
_START = r"(?:very )?(?:start|beginning|front|top|head)\b"
_END_WORD = r"(?:very )?(?:end|back|tail)\b"
_SPAN_RULES = (
    ("range", rf"(?:\bfrom |\bbetween )?{T}{_TO}{T}"),
    ("length_from", rf"\b(?:from|starting at|beginning at) {T} for {T}"),
    ("length_at", rf"{T} (?:starting|beginning) (?:at|from) {T}"),
    ("to_end", rf"(?:\bfrom |\bafter |\bstarting at )?{T}{_TO}the {_END_WORD}"),
    ("after", rf"\b(?:after|from|past|beyond|following) the (?:first|opening) {T}"),
    ("before", rf"\b(?:before|until|up to|prior to) the (?:last|final) {T}"),
    ("first", rf"\b(?:first|opening|initial) {T}|{T} (?:from|off|of|at) the {_START}|"
              rf"the {_START} by {T}"),
    ("last", rf"\b(?:last|final|closing|ending) {T}|{T} (?:from|off|of|at) the {_END_WORD}|"
             rf"the {_END_WORD} by {T}"),
    ("after", rf"\b(?:after|from|past|beyond|following|starting at) {T}(?: on(?:wards?)?)?|{T} onwards?"),
    ("before", rf"\b(?:before|until|till|up to|up until|prior to|"
               rf"from the {_START} (?:to|until|till|through)) {T}"),
)


@dataclass(frozen=True)
class Span:
    """A span named in a request. ``anchor``: 'absolute' (times in the track as the person heard it,
    ``end_s`` None = to the end), 'first' or 'last' (``length_s`` at the start or end of the track
    as it is at that point of the request), 'before_last' (all but the last ``length_s``)."""

    anchor: str
    start_s: float = 0.0
    end_s: float | None = None
    length_s: float | None = None


def find_span(clause: Clause) -> Span | None:
    """The first span ``clause`` names, marking its quantities used; None when it names none."""
    for kind, pattern in _SPAN_RULES:
        m = clause.search(pattern)
        if not m:
            continue
        ids = [i for i in m.groups() if i is not None]
        first = clause.take(ids[0])
        if kind == "range":
            second = clause.take(ids[1])
            return Span("absolute", first.seconds(second), second.seconds(first))
        if kind.startswith("length"):  # "from 0:05 for 2 s", "2 s starting at 0:05"
            second = clause.take(ids[1])
            start, length = (first, second) if kind == "length_from" else (second, first)
            return Span("absolute", start.seconds(), start.seconds() + length.seconds())
        seconds = first.seconds()
        if kind in ("to_end", "after"):
            return Span("absolute", seconds, None) if "first" not in m.group(0) else \
                Span("first_after", length_s=seconds)
        if kind == "before":
            return Span("absolute", 0.0, seconds) if "last" not in m.group(0) else \
                Span("before_last", length_s=seconds)
        return Span(kind, length_s=seconds)
    return None
