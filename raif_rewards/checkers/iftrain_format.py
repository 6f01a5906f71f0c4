"""IFTrain layout constraints: two paragraphs (``***`` or a blank line), three paragraphs of N sentences
of M words, sentences joined by hyphens, words in square brackets or ``<<bigrams>>``, no dots, no
exclamation marks (IFBench's training set; ids as in open-instruct's IFEvalG)."""

from __future__ import annotations

from raif_rewards.checkers._common import int_schema
from raif_rewards.checkers.ifbench_shared import no_kwargs
from raif_rewards.checkers.iftrain_shared import REPEAT_PROMPT, SHAPE_AVOIDS, SOURCE, paragraphs, texts, words
from raif_rewards.registry import declare, register
from raif_rewards.text import Text, view
from raif_rewards.witness_spec import Need

# IFEval constraints that lay the response out in their own way (titles, sections, bullets, JSON,
# paragraphs, a closing phrase or P.S.): a response cannot also be one line of hyphen-joined sentences,
# or every word in brackets.
_LAYOUT = (
    "combination:repeat_prompt",
    "combination:two_responses",
    "detectable_content:number_placeholders",
    "detectable_content:postscript",
    "detectable_format:constrained_response",
    "detectable_format:json_format",
    "detectable_format:multiple_sections",
    "detectable_format:number_bullet_lists",
    "detectable_format:number_highlighted_sections",
    "detectable_format:title",
    "detectable_format:xml_format",
    "length_constraints:nth_paragraph_first_word",
    "length_constraints:number_paragraphs",
    "length_constraints:number_sentences",
    "startend:end_checker",
    "startend:quotation",
)
# IFTrain constraints on each word's first or last characters, or on exact word positions.
_WORD_SHAPES = (
    "first_word:first_word_answer",
    "first_word:first_word_sent",
    "last_word:last_word_answer",
    "last_word:last_word_sent",
    "keywords:start_end",
    "keywords:keyword_specific_position",
    "count:counting_composition",
    "paragraphs:paragraphs",
)


@register(
    "detectable_format:sentence_hyphens",
    group="format",
    sample=no_kwargs,
    **texts(
        (
            "All sentences must be connected using hyphens, with no spaces between them.",
            "Join your sentences with hyphens and no spaces (like: First sentence.-Second sentence.), and use no "
            "other hyphens.",
            "Write every sentence directly after the previous one, separated only by a hyphen (-) with no space on "
            "either side; do not use hyphens anywhere else.",
        ),
    ),
    conflicts=_LAYOUT
    + _WORD_SHAPES
    + (
        "paragraphs:paragraphs2",
        "detectable_format:square_brackets",
        "detectable_format:bigram_wrapping",
        "copy:repeat_phrase",
    ),
    source=SOURCE,
    witness=lambda kw, ctx: Need(shape="hyphen_joined"),
)
def sentence_hyphens(t: Text) -> bool:
    """Split at ``-``, the pieces are exactly the sentences of the response read with hyphens as spaces, each without outer whitespace."""
    pieces = t.raw.split("-")
    gold = view(t.raw.replace("-", " ")).sentences
    if len(pieces) != len(gold):
        return False
    return all(p == g and p.strip() == p for p, g in zip(pieces, gold, strict=True))


declare(
    "detectable_format:sentence_hyphens",
    avoids=SHAPE_AVOIDS,  # code and formulas need their hyphens and minus signs
    phrasings={
        "en": (
            "Run all your sentences together, joined by a single hyphen with no spaces around it (e.g. It "
            "rained.-We stayed in.), and use no hyphen anywhere else.",
            "Link each sentence to the next with '-' instead of a space, like this: I woke early.-The sun "
            "was out. Hyphenated words are not allowed.",
            "Put a hyphen, and nothing else, between every two neighbouring sentences (no spaces or line "
            "breaks around it); do not use hyphens inside sentences.",
        ),
    },
)


@register(
    "detectable_format:square_brackets",
    group="format",
    sample=no_kwargs,
    **texts(
        (
            "Enclose every word in your response within square brackets.",
            "Put each word of your answer inside its own square brackets, like [this] [example].",
            "Wrap every single word you write in square brackets, punctuation included, e.g. [Hello,] [world.]",
        ),
    ),
    conflicts=_LAYOUT
    + _WORD_SHAPES
    + ("detectable_format:bigram_wrapping", "paragraphs:paragraphs", "copy:repeat_phrase"),
    source=SOURCE,
    witness=lambda kw, ctx: Need(shape="square_brackets"),
)
def square_brackets(t: Text) -> bool:
    """Every whitespace-separated token starts with ``[`` and ends with ``]`` (and there is one)."""
    tokens = t.raw.split()
    return bool(tokens) and all(w.startswith("[") and w.endswith("]") for w in tokens)


declare(
    "detectable_format:square_brackets",
    avoids=SHAPE_AVOIDS,
    phrasings={
        "en": (
            "Bracket every word: each word, together with any punctuation attached to it, goes inside its "
            "own pair of square brackets, like [Good] [morning,] [everyone.]",
            "Write so that every space-separated token starts with '[' and ends with ']', e.g. [The] [plan] "
            "[works.]",
            "Surround each individual word with square brackets: [one] [bracket] [pair] [per] [word].",
        ),
    },
)


@register(
    "detectable_format:bigram_wrapping",
    group="format",
    sample=no_kwargs,
    **texts(
        (
            "Wrap every word bigram in double angular brackets, such as <<I am>> <<at home>> <<with my>> <<cute dog>>.",
            "Group your words in pairs and wrap each pair in double angle brackets, e.g. <<The sun>> <<rose slowly>>.",
            "Write your answer as consecutive two-word groups, each enclosed in << and >>, like <<Good morning>> "
            "<<to you>>.",
        ),
    ),
    conflicts=_LAYOUT + _WORD_SHAPES + ("copy:repeat_phrase",),
    source=SOURCE,
    witness=lambda kw, ctx: Need(shape="bigram_wrapped"),
)
def bigram_wrapping(t: Text) -> bool:
    """Whitespace tokens taken in pairs: each pair's first token starts with ``<<`` and its second ends with ``>>`` (an odd last token is not checked, as in IFEvalG); at least one pair."""
    tokens = t.raw.split()
    if len(tokens) < 2:
        return False
    return all(
        tokens[i].startswith("<<") and tokens[i + 1].endswith(">>") for i in range(0, len(tokens) - 1, 2)
    )


declare(
    "detectable_format:bigram_wrapping",
    avoids=SHAPE_AVOIDS,
    phrasings={
        "en": (
            "Enclose the words in pairs with double angle brackets, so the text reads like <<Once upon>> "
            "<<a time>>.",
            "Every two consecutive words go together inside << >>, for example <<We went>> <<to the>> "
            "<<market today>>.",
            "Format your response as word pairs, each pair wrapped as <<first second>>, from the first word "
            "to the last.",
        ),
    },
)


def _two(pieces: list[str] | None) -> bool:
    return pieces is not None and len(pieces) == 2


def _composition_witness(kw, ctx) -> Need:
    sents = 3 * kw["n_sent"]
    return Need(
        paragraphs=3,
        paragraph_sep="***",
        sentences=(sents, sents),
        words=(sents * kw["n_words"], sents * kw["n_words"]),
    )


_PARAGRAPH_LAYOUTS = (
    "length_constraints:number_paragraphs",
    "length_constraints:nth_paragraph_first_word",
    "count:counting_composition",
    "combination:two_responses",
    "detectable_format:json_format",
    "detectable_format:xml_format",
)


@register(
    "paragraphs:paragraphs",
    group="length",
    sample=no_kwargs,
    **texts(
        (
            "There should be 2 paragraphs. Paragraphs are separated with the markdown divider: ***",
            "Write exactly two paragraphs and put the markdown divider *** between them.",
            "Your answer must have two paragraphs, separated from each other by a line containing only ***.",
        ),
        (
            "回答应包含2个段落，段落之间用markdown分隔符***隔开。",
            "请写恰好两段，两段之间用***分隔。",
        ),
    ),
    conflicts=_PARAGRAPH_LAYOUTS + ("paragraphs:paragraphs2",),
    source=SOURCE,
    witness=lambda kw, ctx: Need(paragraphs=2, paragraph_sep="***"),
    # a copied request holding *** would bring dividers of its own
    request_conflicts=lambda req: (REPEAT_PROMPT,) if "***" in req.text else (),
)
def paragraphs_divider(t: Text) -> bool:
    """Exactly two non-blank pieces between ``***`` dividers (a divider at either end is allowed, an empty paragraph in between is not)."""
    return _two(paragraphs(t.raw))


declare(
    "paragraphs:paragraphs",
    avoids=("yes_no", "classification"),
    phrasings={
        "en": (
            "Split your response into two paragraphs with a *** divider between them.",
            "Two paragraphs, no more and no fewer, divided by the markdown separator ***.",
            "Write a first paragraph, then a line with ***, then a second paragraph, and nothing further.",
        ),
        "zh": (
            "回答分成两段，中间用***隔开。",
            "请只写两个段落，并在它们之间放一行***作为分隔线。",
            "先写第一段，接着单独一行***，再写第二段，不要有第三段。",
            "把回答切成上下两部分，中间单独一行写***，上下两部分都不能为空，也不要再出现别的***。",
            "段落数量：2；段间分隔：***（单独成行）。",
            "排版上只要两段文字，用三个星号***把它们隔开，不要第三段。",
            "请以***为界，前面一段、后面一段，总共两段。",
            "我们会在***处把回答拆开，拆开后必须正好得到两段非空的文字。",
            "写完第一段后插入一行***，再写第二段收尾——只此两段。",
            "内容请组织成两段，用***这一行来划分。",
        ),
    },
)


@register(
    "paragraphs:paragraphs2",
    group="length",
    sample=no_kwargs,
    **texts(
        (
            "There should be 2 paragraphs. Paragraphs and only paragraphs are separated with each other by two line "
            "breaks.",
            "Write exactly two paragraphs separated by one blank line, and use no other blank lines.",
            "Make your response two paragraphs: put a single empty line between them and nowhere else.",
        ),
        (
            "回答应包含2个段落，只有段落之间用两个换行符（一个空行）隔开。",
            "请写恰好两段，两段之间空一行，其他地方不要出现空行。",
        ),
    ),
    conflicts=_PARAGRAPH_LAYOUTS + ("detectable_format:sentence_hyphens",),
    source=SOURCE,
    witness=lambda kw, ctx: Need(paragraphs=2, paragraph_sep="\n\n"),
    # a copied request holding a blank line would bring a paragraph break of its own
    request_conflicts=lambda req: (REPEAT_PROMPT,) if "\n\n" in req.text.strip() else (),
)
def paragraphs_blank_line(t: Text) -> bool:
    """Exactly two non-blank pieces between ``\\n\\n`` separators (blank pieces allowed only at either end)."""
    return _two(paragraphs(t.raw, "\n\n"))


declare(
    "paragraphs:paragraphs2",
    avoids=("yes_no", "classification", "code"),  # code has blank lines of its own
    phrasings={
        "en": (
            "Use exactly two paragraphs with one empty line between them; do not leave blank lines anywhere "
            "else.",
            "Two paragraphs only, separated by a blank line (two line breaks), which must be the only blank "
            "line.",
            "Write one paragraph, leave a single blank line, write a second paragraph, and stop there.",
        ),
        "zh": (
            "回答只写两段，段与段之间空一行，别处不要空行。",
            "请写两个段落，两段之间用一个空行（连续两个换行）分开，其他位置不能有空行。",
            "第一段写完后空一行再写第二段，只有这两段，也只有这一个空行。",
            "请用一个空行把内容分成上下两段；段落内部可以换行，但不能出现第二个空行。",
            "段落数：2；两段之间留一个空行，其余位置不留空行。",
            "我们会按空行切分你的回答，切出来必须刚好是两段有内容的文字。",
            "只写两段。分段的方式是空一行，而且整个回答只允许有这一个空行。",
            "前一段与后一段之间敲两次回车（即留一个空行），除此之外不要再留空行，也不要写第三段。",
            "请把内容安排成恰好两个自然段，自然段之间以一个空行隔开，别的地方都不要空行。",
            "空行只能出现一次，就在两段中间；不要写成一段，也不要写成三段。",
        ),
    },
)


@register(
    "punctuation:punctuation_dot",
    group="punctuation",
    sample=no_kwargs,
    **texts(
        (
            "In your entire response, refrain from the use of . (i.e. dots) as punctuation and in general.",
            "Do not use a single dot (.) anywhere in your answer: not to end sentences, not in numbers or abbreviations.",
            "Write your whole response without the period character '.'; end sentences with other marks or none.",
        ),
    ),
    conflicts=(
        "detectable_content:postscript",
        "detectable_format:constrained_response",
        "startend:end_checker",
    ),
    source=SOURCE,
    witness=lambda kw, ctx: Need(sentence_marks=("?",)),
    request_conflicts=lambda req: (REPEAT_PROMPT,) if "." in req.text else (),  # a copied request keeps its dots
)
def punctuation_dot(t: Text) -> bool:
    """No ``.`` in the response."""
    return "." not in t.raw


declare(
    "punctuation:punctuation_dot",
    avoids=("code", "math"),  # method calls, file names and decimals need dots
    phrasings={
        "en": (
            "Avoid the dot character '.' entirely: no full stops, decimal points, ellipses or abbreviations "
            "with dots.",
            "Your response must contain zero periods (.), so finish sentences with other punctuation, or "
            "with none.",
            "Leave out every '.' in what you write, including in numbers and abbreviations.",
        ),
    },
)


@register(
    "punctuation:punctuation_exclamation",
    group="punctuation",
    sample=no_kwargs,
    **texts(
        (
            "In your entire response, refrain from the use of ! (i.e. exclamation marks) as punctuation and in general.",
            "Do not use any exclamation mark (!) in your answer.",
            "Keep your reply free of the character '!', however enthusiastic you feel.",
        ),
    ),
    conflicts=("startend:end_checker",),
    source=SOURCE,
    witness=lambda kw, ctx: Need(forbid=("!",)),
    request_conflicts=lambda req: (REPEAT_PROMPT,) if "!" in req.text else (),  # a copied request keeps its "!"
)
def punctuation_exclamation(t: Text) -> bool:
    """No ``!`` in the response."""
    return "!" not in t.raw


declare(
    "punctuation:punctuation_exclamation",
    avoids=("code",),  # "!=" and "!" operators
    phrasings={
        "en": (
            "Exclamation marks (!) are not allowed anywhere in your response.",
            "Write calmly: your response should not contain a single '!'.",
            "No '!' characters, please, not even one.",
        ),
    },
)


@register(
    "count:counting_composition",
    group="counting",
    schema={
        "properties": {"n_sent": int_schema(1, 10), "n_words": int_schema(1, 40)},
        "required": ["n_sent", "n_words"],
    },
    sample=lambda rng, lang: {"n_sent": rng.randint(2, 3), "n_words": rng.randint(4, 9)},
    **texts(
        (
            "Write 3 paragraphs, delimited by the markdown divider ***, with exactly {n_sent} sentences each, with "
            "exactly {n_words} words in each sentence.",
            "Lay your response out as three paragraphs separated by ***; each paragraph has exactly {n_sent} "
            "sentences and every sentence has exactly {n_words} words.",
            "Use exactly 3 paragraphs (put *** between them). Every paragraph: {n_sent} sentences. Every sentence: "
            "{n_words} words, no more and no fewer.",
        ),
    ),
    conflicts=_LAYOUT
    + (
        "paragraphs:paragraphs",
        "paragraphs:paragraphs2",
        "length_constraints:number_words",
        "keywords:keyword_specific_position",
        "detectable_format:sentence_hyphens",
    ),
    source=SOURCE,
    witness=_composition_witness,
)
def counting_composition(t: Text, n_sent: int, n_words: int) -> bool:
    """Exactly three ``***``-separated paragraphs, each of ``n_sent`` Punkt sentences of ``n_words`` words (``\\w+`` runs).

    IFEvalG counts ``nltk.word_tokenize`` tokens, punctuation included, though its text says words, and its
    text names the divider ``* * *`` while it splits at ``***``: here the text and the check agree.
    """
    pieces = paragraphs(t.raw)
    if pieces is None or len(pieces) != 3:
        return False
    for piece in pieces:
        sents = view(piece).sentences
        if len(sents) != n_sent or any(len(words(s)) != n_words for s in sents):
            return False
    return True


declare(
    "count:counting_composition",
    avoids=SHAPE_AVOIDS,
    phrasings={
        "en": (
            "Structure: three paragraphs with *** between them; in each paragraph exactly {n_sent} "
            "sentences; in each sentence exactly {n_words} words.",
            "Give three paragraphs separated by the divider ***. Each paragraph must contain {n_sent} "
            "sentences, and each of those sentences must be exactly {n_words} words long.",
            "Keep a strict shape: 3 paragraphs (divided by ***), {n_sent} sentences per paragraph, "
            "{n_words} words per sentence, exactly.",
        ),
    },
)
