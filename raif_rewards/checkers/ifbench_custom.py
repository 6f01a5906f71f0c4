"""IFBench ``custom:*`` constraints: eleven fixed tasks (multiples of 7, MCQs, reversed lists, CSV
tables, dates...) whose checker verifies the answer's form (IFBench's exact semantics).

None is sampled for data generation (``sample=None``): each instruction IS a complete task with
one fixed subject, not a constraint that can be attached to another prompt.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from itertools import pairwise

from raif_rewards.checkers.ifbench_shared import (
    DELETE_PUNCT,
    STRIP,
    _punkt_sentences,
    phrasings,
    punkt_sentences,
)
from raif_rewards.registry import register
from raif_rewards.text import Text

_SRC = "ifbench"
_DIGITS = re.compile(r"\d+")
_MULTIPLES = [str(i) for i in range(14, 51, 7)]


@register(
    "custom:multiples",
    group="custom",
    **phrasings(
        (
            "Count from 10 to 50 but only print multiples of 7.",
            "Count from 10 up to 50, writing down only the multiples of 7.",
        )
    ),
    source=_SRC,
)
def multiples(t: Text) -> bool:
    """The digit runs of the response are exactly 14, 21, 28, 35, 42, 49."""
    return _DIGITS.findall(t.raw.replace(",", ", ")) == _MULTIPLES


_QUESTION = re.compile(r"Question \d+[\.|\):;]?\s*")
_OPTION = re.compile(r"^[A-Ea-e][\.|\)]\s*\w+")


def _split_questions(value: str) -> list[str]:
    """``re.split(r'\\n*(?:Question \\d+[\\.|\\):;]?\\s*)', value)`` in linear time: the leading newline run of each match is found by walking back from "Question" (the regex's ``\\n*`` retries every start inside a long newline run: quadratic)."""
    pieces, last = [], 0
    for m in _QUESTION.finditer(value):
        start = m.start()
        while start > last and value[start - 1] == "\n":
            start -= 1
        pieces.append(value[last:start])
        last = m.end()
    pieces.append(value[last:])
    return pieces


@register(
    "custom:mcq_count_length",
    group="custom",
    **phrasings(
        (
            "Generate 4 multiple choice questions with 5 options each about '20th century art history'. Each question "
            'should start with the label "Question". The questions should get progressively longer. Do not provide an explanation.',
            'Write four multiple-choice questions about 20th century art history, each labelled "Question N" and with '
            "five options A-E; make each question longer than the one before, and add no explanation.",
        )
    ),
    source=_SRC,
)
def mcq_count_length(t: Text) -> bool:
    """The response starts with "Question", has 4 questions of 5 options (lines "A." / "b)" ...) each, and the question texts get strictly longer."""
    value = t.raw
    if value[value.find("Question") :] != value:
        return False
    questions = _split_questions(value)
    if questions[0] == "":
        questions = questions[1:]
    questions = [q.strip() for q in questions if q.strip()]
    if len(questions) != 4:
        return False
    lengths = []
    for q in questions:
        text, n_options, in_options = "", 0, False
        for line in q.split("\n"):
            if _OPTION.match(line.strip()):
                n_options += 1
                in_options = True
            elif not in_options:
                text += " " + line.strip()
        if n_options != 5:
            return False
        lengths.append(len(text.strip()))
    return all(a < b for a, b in pairwise(lengths))


def _ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@register(
    "custom:reverse_newline",
    group="custom",
    **phrasings(
        (
            "List the countries of Africa in reverse alphabetical order, each on a new line.",
            "Write every African country on its own line, in reverse alphabetical order.",
        )
    ),
    source=_SRC,
)
def reverse_newline(t: Text) -> bool:
    """From the first line containing "Zimbabwe", at least 52 non-empty lines (edge punctuation stripped) in reverse alphabetical order of their ASCII-folded text."""
    lines = [s for s in (line.strip(STRIP) for line in t.raw.split("\n")) if s]
    start = next((i for i, line in enumerate(lines) if "Zimbabwe" in line), None)
    if start is None or len(lines) - start < 52:
        return False
    folded = [_ascii_fold(line) for line in lines[start:]]
    return folded == sorted(folded, reverse=True)


@register(
    "custom:word_reverse",
    group="custom",
    **phrasings(
        (
            "What animal is the national symbol of the US? Respond to this query, but make your sentence in reverse order of what it should be, per word.",
            "Which animal is the national symbol of the US? Answer in one sentence written with its words in reverse order.",
        )
    ),
    source=_SRC,
)
def word_reverse(t: Text) -> bool:
    """Lower-cased, punctuation deleted and its words reversed, the response mentions "bald eagle" and Punkt reads it as a single sentence."""
    words = t.raw.lower().strip().translate(DELETE_PUNCT).split()
    forward = " ".join(reversed(words))
    return "bald eagle" in forward and forward in _punkt_sentences(forward)


@register(
    "custom:character_reverse",
    group="custom",
    **phrasings(
        (
            "What animal is the national symbol of the US? Respond to this query, but make your sentence in reverse order of what it should be, per letter.",
            "Which animal is the national symbol of the US? Answer with your sentence spelled backwards, letter by letter.",
        )
    ),
    source=_SRC,
)
def character_reverse(t: Text) -> bool:
    """The response contains "elgae dlab" (case-insensitive)."""
    return "elgae dlab" in t.lower


@register(
    "custom:sentence_alphabet",
    group="custom",
    **phrasings(
        (
            "Tell me a 26-sentence story where each sentence's first word starts with the letters of the alphabet in order.",
            "Write a story of exactly 26 sentences whose first words begin with A, B, C, ... Z in order.",
        )
    ),
    source=_SRC,
)
def sentence_alphabet(t: Text) -> bool:
    """Exactly 26 Punkt sentences whose first words start with a, b, ..., z (case-insensitive)."""
    parts = punkt_sentences(t)
    if len(parts) != 26:
        return False
    for i, sentence in enumerate(parts):
        words = sentence.lstrip().split()
        if not words or words[0].lower()[0] != chr(97 + i):
            return False
    return True


_CAPITALS = (
    "Reykjavik Helsinki Oslo Tallinn Stockholm Riga Moscow Copenhagen Vilnius Minsk Dublin Berlin "
    "Amsterdam Warsaw London Brussels Prague Luxembourg Paris Vienna Bratislava Budapest Vaduz "
    "Chisinau Bern Ljubljana Zagreb"
).split()


@register(
    "custom:european_capitals_sort",
    group="custom",
    **phrasings(
        (
            "Give me the names of all capital cities of european countries whose latitude is higher than than 45 degrees? "
            "List the capital cities without country names, separated by commas, sorted by latitude, from highest to lowest.",
            "Name every European capital north of 45 degrees latitude, without country names, comma-separated and "
            "sorted from the northernmost to the southernmost.",
        )
    ),
    source=_SRC,
)
def european_capitals_sort(t: Text) -> bool:
    """The comma-separated items (ASCII-folded, blank items dropped) are exactly IFBench's 27 capitals in its latitude order."""
    items = [c.strip() for c in _ascii_fold(t.raw).split(",") if c.strip()]
    return items == _CAPITALS


def _csv_rows(value: str, delimiter: str = ",") -> list[list[str]] | None:
    try:
        return list(csv.reader(io.StringIO(value), delimiter=delimiter))
    except csv.Error:
        # IFBench's scorer would crash here (e.g. a field over csv's size limit): not followed.
        return None


@register(
    "custom:csv_city",
    group="custom",
    **phrasings(
        (
            'Generate CSV data: The column names are ["ID", "Country", "City", "Year", "Count"], the data should be comma delimited. Please generate 7 rows.',
            "Write comma-separated CSV with the header ID,Country,City,Year,Count and exactly 7 data rows.",
        )
    ),
    source=_SRC,
)
def csv_city(t: Text) -> bool:
    """Python's csv reader sees the header ID,Country,City,Year,Count and 7 rows of 5 fields."""
    rows = _csv_rows(t.raw)
    return (
        rows is not None
        and len(rows) == 8
        and rows[0] == ["ID", "Country", "City", "Year", "Count"]
        and all(len(r) == 5 for r in rows[1:])
    )


_PRODUCT_HEADER = re.compile(
    r'^(ProductID|"ProductID"),[ \t]*(Category|"Category"),[ \t]*(Brand|"Brand"),[ \t]*(Price|"Price"),[ \t]*(Stock|"Stock")$'
)
_SPECIAL = re.compile(r"[^\d\w\s]")


def _quoted_special(field: str) -> bool:
    """``re.match(r'".*[^\\d\\w\\s].*"', field)`` in linear time: a leading quote, then (before any newline) a special character followed later by another quote."""
    if not field.startswith('"'):
        return False
    line_end = field.find("\n")
    if line_end == -1:
        line_end = len(field)
    close = field.rfind('"', 2, line_end)
    return close != -1 and _SPECIAL.search(field, 1, close) is not None


@register(
    "custom:csv_special_character",
    group="custom",
    **phrasings(
        (
            'Generate CSV data: The column names are ["ProductID", "Category", "Brand", "Price", "Stock"], the data should be '
            "comma delimited. Please generate 14 rows. Add one field which contains a special character and enclose it in double quotes.",
            "Write comma-separated CSV with the header ProductID,Category,Brand,Price,Stock and 14 data rows; one field "
            "must contain a special character and be enclosed in double quotes.",
        )
    ),
    source=_SRC,
)
def csv_special_character(t: Text) -> bool:
    """The first line is the ProductID,... header; with every ``"`` tripled (IFBench's step) the csv reader sees 15 rows, and a data row of 5 fields holds a quoted field with a special character before any row of the wrong width."""
    if not _PRODUCT_HEADER.match(t.raw.split("\n")[0].strip()):
        return False
    rows = _csv_rows(t.raw.replace('"', '"""'))
    if rows is None or len(rows) != 15:
        return False
    for row in rows[1:]:
        if len(row) != 5:
            return False
        if any(_quoted_special(f) for f in row):
            return True
    return False


_STUDENT_HEADER = re.compile(
    r'^(StudentID|"StudentID")\t *(Subject|"Subject")\t *(Grade|"Grade")\t *(Semester|"Semester")\t *(Score|"Score")$'
)


@register(
    "custom:csv_quotes",
    group="custom",
    **phrasings(
        (
            'Generate CSV data: The column names are ["StudentID", "Subject", "Grade", "Semester", "Score"], the data should '
            "be tab delimited. Please generate 3 rows and enclose each single field in double quotes.",
            "Write tab-separated data with the header StudentID, Subject, Grade, Semester, Score and 3 data rows, every "
            "field enclosed in double quotes.",
        )
    ),
    source=_SRC,
)
def csv_quotes(t: Text) -> bool:
    """The first line is the tab-separated StudentID,... header; with every ``"`` tripled the tab-delimited reader sees 4 rows of 5 fields, each field starting and ending with a quote.

    An empty field fails here; IFBench's scorer crashes on it (``IndexError``).
    """
    if not _STUDENT_HEADER.match(t.raw.split("\n")[0].strip()):
        return False
    rows = _csv_rows(t.raw.replace('"', '"""'), "\t")
    if rows is None or len(rows) != 4:
        return False
    for row in rows:
        if len(row) != 5:
            return False
        for f in row:
            f = f.strip()
            if not f or f[0] != '"' or f[-1] != '"':
                return False
    return True


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LONG_MONTHS = (1, 3, 5, 7, 8, 10, 12)
_SHORT_MONTHS = (4, 6, 9, 11)


def _napoleonic(date: str) -> bool:
    if not _DATE.match(date):
        return False
    year, month, day = (int(p) for p in date.split("-"))
    if not 1769 <= year <= 1821 or month > 12:
        return False
    if month in _LONG_MONTHS:
        return day <= 31
    if month in _SHORT_MONTHS:
        return day <= 30
    return month != 2 or day <= 29


@register(
    "custom:date_format_list",
    group="custom",
    **phrasings(
        (
            "List the start dates of all the battles Napoleon fought separated by commas, use the following date format: "
            "YYYY-MM-DD. Do not provide an explanation.",
            "Give the start date of every battle Napoleon fought, comma-separated, each as YYYY-MM-DD, with no explanation.",
        )
    ),
    source=_SRC,
)
def date_format_list(t: Text) -> bool:
    """Every comma-separated item is a YYYY-MM-DD date in 1769-1821 with a plausible month and day (IFBench's checks: month 00 and day 00 pass)."""
    return all(_napoleonic(d.strip()) for d in t.raw.strip().split(","))
