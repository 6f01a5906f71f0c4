"""Response-language constraint (langdetect, seeded; Chinese accepted as zh-cn or zh-tw)."""

from __future__ import annotations

from raif_rewards.registry import declare, register
from raif_rewards.text import Text
from raif_rewards.witness_spec import Need

#: ISO 639-1 code -> (English name, Chinese name). IFEval's 30 languages plus Chinese.
LANGUAGES = {
    "en": ("English", "英语"),
    "es": ("Spanish", "西班牙语"),
    "pt": ("Portuguese", "葡萄牙语"),
    "ar": ("Arabic", "阿拉伯语"),
    "hi": ("Hindi", "印地语"),
    "fr": ("French", "法语"),
    "ru": ("Russian", "俄语"),
    "de": ("German", "德语"),
    "ja": ("Japanese", "日语"),
    "it": ("Italian", "意大利语"),
    "bn": ("Bengali", "孟加拉语"),
    "uk": ("Ukrainian", "乌克兰语"),
    "th": ("Thai", "泰语"),
    "ur": ("Urdu", "乌尔都语"),
    "ta": ("Tamil", "泰米尔语"),
    "te": ("Telugu", "泰卢固语"),
    "bg": ("Bulgarian", "保加利亚语"),
    "ko": ("Korean", "韩语"),
    "pl": ("Polish", "波兰语"),
    "he": ("Hebrew", "希伯来语"),
    "fa": ("Persian", "波斯语"),
    "vi": ("Vietnamese", "越南语"),
    "ne": ("Nepali", "尼泊尔语"),
    "sw": ("Swahili", "斯瓦希里语"),
    "kn": ("Kannada", "卡纳达语"),
    "mr": ("Marathi", "马拉地语"),
    "gu": ("Gujarati", "古吉拉特语"),
    "pa": ("Punjabi", "旁遮普语"),
    "ml": ("Malayalam", "马拉雅拉姆语"),
    "fi": ("Finnish", "芬兰语"),
    "zh": ("Chinese", "中文"),
}
# langdetect has no plain "zh".
_ALIASES = {"zh": ("zh-cn", "zh-tw")}
# Data generation asks for languages a generator model writes well.
_SAMPLED = ("en", "es", "fr", "de", "it", "pt", "ru", "ja", "ko", "zh")


@register(
    "language:response_language",
    group="language",
    schema={"properties": {"language": {"type": "string", "enum": sorted(LANGUAGES)}}, "required": ["language"]},
    sample=lambda rng, lang: {"language": rng.choice(_SAMPLED)},
    render=lambda kw, lang, v: (
        (f"你的整个回答都必须使用{LANGUAGES[kw['language']][1]}，不允许使用其他语言。",)
        if lang == "zh"
        else (
            f"Your ENTIRE response should be in {LANGUAGES[kw['language']][0]} language, no other language is allowed.",
            f"Write your whole answer in {LANGUAGES[kw['language']][0]} only.",
        )
    )[v % (1 if lang == "zh" else 2)],
    conflicts=(
        "language:response_language",
        "detectable_format:multiple_sections",
        "keywords:existence",
        "keywords:frequency",
        "keywords:forbidden_words",
        "startend:end_checker",
        "change_case:english_capital",
        "change_case:english_lowercase",
    ),
    uses_language_detection=True,
    render_languages=("en", "zh"),
    witness=lambda kw, ctx: Need(language=kw["language"]),
)
def response_language(t: Text, language: str) -> bool:
    """langdetect identifies the response's language as the requested one (undetectable: followed)."""
    detected = t.language
    return detected is None or detected == language or detected in _ALIASES.get(language, ())


declare(
    "language:response_language",
    avoids=("rewriting", "extraction"),
    phrasings={
        "en": (
            "Respond only in {language_name}; no other language may appear in your response.",
            "Your entire answer must be written in {language_name}.",
            "Please reply in {language_name} and nothing else.",
            "Use {language_name} for the whole of your response, without mixing in other languages.",
        ),
        "zh": (
            "请只用{language_name}回答，回答中不要出现其他语言。",
            "你的回答必须完全使用{language_name}。",
            "请用{language_name}作答，不要夹杂别的语言。",
            "整个回答都请用{language_name}写成。",
            "回答请全部使用{language_name}，不得使用其他语言。",
        ),
    },
    phrasing_fields=lambda kw, lang: {"language_name": LANGUAGES[kw["language"]][1 if lang == "zh" else 0]},
)
