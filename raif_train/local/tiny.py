"""The embedded `--model tiny`: a word-level tokenizer and a small Llama built in code.

Nothing is downloaded; the same seed gives the same weights. Tags like <think> are ordinary words.
The vocabulary is TINY_VOCAB plus every word of the texts a run gives (its expert responses),
so the expert rows that `raif-data evolve` writes are cloned word for word, without <unk>.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

__all__ = ["TINY_VOCAB", "build_tiny_tokenizer", "tiny_words", "build_tiny_model", "TINY_CHAT_TEMPLATE"]

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
_SPECIAL = [PAD, EOS, UNK]
# Role markers and reasoning tags are plain vocabulary words (never special), so decode() keeps them.
_MARKUP = ["<|system|>", "<|user|>", "<|assistant|>", "<think>", "</think>", "<answer>", "</answer>"]
_PUNCT = list(".,!?:;\"'-()*#[]{}<>/_")
_DIGITS = list("0123456789")
# Lowercase content words: most of the vocabulary, so a random model writes mostly lowercase text and
# the lowercase / no-comma constraints have reward variance from the first step.
_WORDS = """
a about after all also an and answer any are as at be because been before being below between both but by
can could day did do does done each end even every few first for from get give good great had has have he
her here him his how i if in into is it its just know last less let like little long look made make many
may me more most much must my never new no not now of off old on once one only or other our out over own
part people place point put read right said same say see she should show so some step still such take tell
than that the their them then there these they thing think this those three through time to too two under
up us use very want was way we well were what when where which while who why will with word words work
would write year yes yet you your
lowercase comma commas capital letters response entire english sentences paragraphs title json format
highlight bullet quotation marks phrase language include keywords section
""".split()
# A few capitalised and upper-case words: the tokens that break the lowercase constraint.
_CAPS = ["The", "A", "I", "It", "This", "We", "Yes", "No", "OK", "YES", "NO", "AND"]
# Words glued to a comma (generated whole, never produced by encoding): with the bare "," they make a
# comma likely enough in a random 16-token answer that the no-comma check varies within a group.
_COMMA_WORDS = ["and,", "so,", "yes,", "no,", "well,", "then,", "now,", "but,", "or,", "too,"]
TINY_VOCAB: list[str] = _SPECIAL + _MARKUP + _PUNCT + _DIGITS + _WORDS + _CAPS + _COMMA_WORDS

# A pre-tokenizer that keeps tags whole and splits words from punctuation; whitespace is dropped.
_PIECES = r"<\|?/?[a-z]+\|?>|[A-Za-z]+|[0-9]|[^\sA-Za-z0-9]"

TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def tiny_words(texts: Iterable[str]) -> list[str]:
    """The pieces of `texts` missing from TINY_VOCAB, sorted: what a run adds to the vocabulary."""
    found = {piece for text in texts for piece in re.findall(_PIECES, text)}
    return sorted(found - set(TINY_VOCAB))


def build_tiny_tokenizer(texts: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """Word-level tokenizer over TINY_VOCAB and the words of `texts` (appended after it, so the ids
    of TINY_VOCAB never move); other words map to <unk>; decode joins with spaces.

    The same texts give the same vocabulary (a resumed run rebuilds it from the same data)."""
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys([*TINY_VOCAB, *tiny_words(texts)]))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(_PIECES), behavior="removed", invert=True)
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK, padding_side="left"
    )
    tok.chat_template = TINY_CHAT_TEMPLATE
    return tok


def build_tiny_model(
    tokenizer: PreTrainedTokenizerFast,
    seed: int = 0,
    hidden_size: int = 64,
    num_layers: int = 2,
    max_positions: int = 1024,
) -> LlamaForCausalLM:
    """A random-init Llama (tied embeddings) sized for CPU tests; deterministic in `seed`.

    Llama rather than Qwen2: transformers 5 forces its Qwen2 tokenizer class on any folder whose
    config says qwen2, which would replace this word-level tokenizer when an exported run is reloaded.
    """
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        use_cache=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
