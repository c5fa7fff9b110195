# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Does a rationalized trace let on that its rating was handed over? A lexical model of the give-away.

A rationalization request tells the teacher the true rating and asks for reasoning that reaches it as if it were
unknown. A trace that betrays the hint teaches the student to talk about ratings it was never given, so such traces
are dropped (reason ``leak``). A list of give-away phrases always misses the next paraphrase ("the actual score is
4", "as the hint says", "per the instructions, the rating is 4", "since we already know the answer is 4", ...), so the
rules work on what every paraphrase must contain instead. They are still lexical: measured by the engineer who wrote
them, they catch only about 55-60% of paraphrases written after them. They are the cheap first pass; the blind judge
model of :mod:`reczero_verl.coldstart.leak_judge` reads what they let through (``--leak-judge both``, the default).

* Only the reasoning is judged: the three analysis sections, without the ``<rate>`` section (the rating itself is
  expected there). The text is normalised (case, Unicode forms, curly quotes, contractions such as "we've", hyphens)
  to a sequence of words and numbers, one sentence at a time.
* A give-away is a statement about **where the rating came from** or **that it is known**, not about the user or the
  item. :data:`LEAK_RULES` names its families: the vocabulary of the ground truth ("ground truth", "answer key"),
  rationalizing itself ("work backwards", "reverse-engineer"), the writer being told / informed / instructed / handed
  something, a hint, note, memo or prompt as a source, a truth qualifier on the rating ("the actual / true / real /
  correct / target / known / given / provided ... rating, score, answer"), the rating said to be given / known /
  fixed / revealed, having to reach or justify a rating, and the target user's rating of this very item stated as a
  past fact ("the user rated this item 4"). Families whose words also have innocent senses (instructions, task,
  "already", "we know", "we are given") count only when a rating word stands within a few words of them.
* Citing ratings from the history stays honest: "gave a similar item 4 stars", "their past ratings average 4.2",
  "other reviewers rated this item 4 and 5", "given the user's high ratings" (a preposition, not a hand-over).

Ranking and like traces (issue 12) are judged by these rules plus those of their task (:data:`TASK_LEAK_RULES`): the
user's next choice or liking stated as a past fact ("the user chose candidate 3", "they actually liked this book"),
and a truth qualifier on the choice ("the actual / target / correct candidate"). Their answer sections (``<rank>``,
``<like>``) are left out like ``<rate>``.

The model errs on the side of dropping: a dropped trace costs one sample, a leaked one teaches a false habit. The
tests hold a table of leaky paraphrases and of honest traces (``tests/test_coldstart_leaks.py``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from reczero_verl.template import ANSWER_SECTIONS, DEFAULT_TASK, TAG_NAMES, close_tag, open_tag

__all__ = ["Leak", "LeakRule", "LEAK_RULES", "TASK_LEAK_RULES", "find_leak", "reasoning_text", "normalize"]


class Leak(NamedTuple):
    """A give-away found in a trace: the rule that fired and the normalised words around it."""

    rule: str
    excerpt: str


class LeakRule(NamedTuple):
    """One family of give-aways: ``pattern`` on the normalised sentence; with ``window``, it counts only when a word
    of ``near`` (a rating word) lies within ``window`` words of the match; never when ``veto`` (a negation) matches
    the three words before it, nor when ``unless`` matches anywhere in the sentence."""

    name: str
    pattern: re.Pattern[str]
    window: int | None = None
    near: re.Pattern[str] | None = None
    veto: re.Pattern[str] | None = None
    unless: re.Pattern[str] | None = None


_NUMBER = r"(?:\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten)"
# A rating word that names the answer: singular, and not the user's rating history / habits / average.
_NOT_HISTORY = (
    r"(?! (?:history|histories|habits?|patterns?|trends?|distribution|scale|range|records?|tendenc(?:y|ies)|"
    r"behaviou?r|profile|average|avg|mean|style|bias|criteria|system|counts?|breakdown|spread|data|of other|"
    r"from other|by other)\b)"
)
_ANSWER = (
    rf"(?:rating|score|answer|grade|verdict|label|outcome|result|star count|number of stars)(?!s\b){_NOT_HISTORY}\b"
)
_ANSWER_WORD = re.compile(rf"\b{_ANSWER}")
# What the user thought of the item, in any words.
_OPINION = (
    rf"(?:{_ANSWER}|response|opinion|reaction|evaluation|assessment|judgment|judgement|view|take|feeling|review)"
    rf"(?!s\b){_NOT_HISTORY}"
)
# Any rating word, or a number: for families whose cue is itself strong enough (instructions, "must reach").
_RATING_WORD = re.compile(
    rf"\b(?:ratings?|scores?|answer|grade|verdict|rated|rate|rates|gave|give|gives|stars?|{_NUMBER})\b"
)

# Qualifiers that say a rating is the real one or came from somewhere; the second set only when not "my expected".
_TRUTH = (
    r"(?:true|actual|real|correct|target|known|given|provided|stated|specified|assigned|designated|predetermined|"
    r"pre determined|preset|recorded|revealed|disclosed|supplied|hinted|reference|genuine|secret|hidden|fixed|"
    r"mandated|prescribed|announced|confirmed|required|ground truth|gold|underlying)"
)
_MINE = r"(?<!\bmy )(?<!\bour )(?<!\ba )(?<!\ban )"
_TRUTH_UNLESS_MINE = r"(?:expected|intended|desired)"
_MODIFIERS = r"(?: (?:final|overall|star|numeric|numerical|user s|user|customer s|eventual|real|true|actual))*"
_HANDED = (
    r"(?:given|provided|known|stated|specified|fixed|set (?:at|to|as)|predetermined|pre determined|revealed|"
    r"disclosed|confirmed|supplied|told|hinted|locked|mandated|dictated|handed|shared|communicated|announced|"
    r"preset|settled|decided in advance)(?! by\b)"
)
_ITEM = r"(?:item|product|book|movie|film|one|title|novel|album|game|purchase|target|show|restaurant|place|business)"
_NOT_OTHER = r"(?! s\b| category| categories| type| kind| genre| series| brand| author| line| sequel| prequel)"
_SOURCE = r"(?:hint|hints|note|memo|system message)"
_NEGATION = re.compile(r"\b(?:not|no|nothing|never|hardly|without|nor)\b")
# A sentence about the user's history or about items in general: ratings stated in it are evidence, not the answer.
_HISTORY = re.compile(
    r"\b(?:similar|previous|previously|prior|past|earlier|last|recent|other|another|others|before|prequel|sequel|series|"
    r"returned|bought|purchased|owned|owns|history|reviews|reviewers?|average|averages|averaging|avg|typically|"
    r"usually|often|always|generally|each|every|all|most|both|these|those|such|brand|author|category|genre|kind|"
    r"type|ratings|scores|mean|median|tends?|habit|items|products|books|movies|films)\b"
)
# A prediction or a conclusion: a rating stated in it is the trace's own answer.
_HEDGE = re.compile(
    r"\b(?:therefore|thus|so|hence|overall|conclusion|consequently|sum|predict|predicted|prediction|estimate|"
    r"estimated|likely|probably|probable|should|would|could|might|may|expect|expected|seems?|suggests?|around|"
    r"about|roughly|approximately|lean|leaning|guess|will|final|reasonable|fair|appropriate|deserves?|"
    r"think|believe|feel)\b"
)


def _rule(
    name: str,
    pattern: str,
    window: int | None = None,
    near: re.Pattern[str] | None = None,
    veto: re.Pattern[str] | None = None,
    unless: re.Pattern[str] | None = None,
) -> LeakRule:
    return LeakRule(name, re.compile(pattern), window, near, veto, unless)


#: The families of give-aways (see the module docstring). Patterns apply to :func:`normalize`'d sentences.
LEAK_RULES: tuple[LeakRule, ...] = (
    _rule("ground_truth", r"\bground truth\b|\bgroundtruth\b|\bgold (?:label|rating|answer|standard)\b|\banswer key\b"),
    _rule(
        "rationalizing",
        r"\brationali[sz]\w*|\b(?:work|works|worked|working|reason|reasoned|reasoning) (?:it )?backwards?\b|"
        r"\breverse engineer\w*|\bbackwards? from (?:the|a|this|that)\b",
    ),
    _rule(
        "told",
        r"\b(?:i|we)(?: am| are| was| were| have been| had been| have| had| been| got| get| just got| ve been)? "
        r"(?:told|informed|instructed|notified|tipped off|handed)\b|\btold (?:me|us)\b|"
        r"\bhaving been (?:told|informed|instructed|handed|given|provided|shown)\b",
    ),
    _rule(
        "hint_as_source",
        rf"\b(?:per|according to|as|from|following|based on|going by|in|by|with) "
        rf"(?:the |this |that |your |my |our |given |provided |attached |appended |above |extra |additional )?"
        rf"{_SOURCE}\b(?! of\b)|\b(?:this|the|that) (?:hint|memo)\b(?! of\b)|\bthis note\b(?! of\b)|"
        rf"\b(?:the|this|that|your|my|our|given|provided|attached|appended)"
        rf"(?: teacher| extra| added| hidden| system| additional| special| instruction| task)? {_SOURCE} "
        r"(?:says?|said|states?|stated|indicates?|indicated|tells?|told|gives?|gave|mentions?|mentioned|reveals?|"
        r"revealed|specifies|specified|shows?|showed|suggests?|suggested|confirms?|confirmed|reads?|points?|wants?|"
        r"asks?|asked|requires?|required|makes? (?:it )?clear)\b",
    ),
    _rule("as_instructed", r"\bas (?:instructed|directed|hinted|told|prescribed|dictated|mandated)\b"),
    _rule(
        "qualified_rating",
        rf"\b{_TRUTH}{_MODIFIERS} {_ANSWER}|{_MINE}\b{_TRUTH_UNLESS_MINE}{_MODIFIERS} {_ANSWER}|"
        r"\b(?:right|correct) answer\b",
    ),
    _rule(
        "qualified_opinion",
        rf"\b{_TRUTH} (?:{_OPINION}|feelings|opinions|views)(?: \w+){{0,3}}? (?:a |an |of |was |is |being )?"
        rf"{_NUMBER}\b",
    ),
    _rule(
        "qualified_number",
        rf"\b(?:the|this|that|a|an) (?:{_TRUTH}|{_TRUTH_UNLESS_MINE}) {_NUMBER}(?: star)?\b|"
        rf"\b{_NUMBER} (?:that |which )?(?:i|we) (?:was|were|have been|had been|got) "
        r"(?:given|provided|handed|supplied|told)\b|"
        rf"\b{_NUMBER} (?:that|which) (?:was|were|has been|had been|is) "
        r"(?:given|provided|handed|supplied|stated|revealed|disclosed|specified)\b(?! by\b)|"
        rf"\b{_NUMBER} (?:that |which )?(?:i|we) (?:know|knew)\b|"
        rf"\b(?:the|this|that|a) {_NUMBER}(?: star)? as (?:fixed|given|known|true|correct|settled|the answer|"
        r"a given|certain)\b",
    ),
    _rule(
        "working_toward",
        r"\b(?:working|work|reasoning|heading|building|build|steering|steer) (?:towards?|up to|back to)\b|"
        r"\b(?:aiming|aim|shooting|going|gunning) (?:for|at)\b|\b(?:i|we) (?:can |could )?confirm\b|"
        r"\bconfirm(?:s|ed)? that\b",
        6,
        _RATING_WORD,
    ),
    _rule(
        "rating_handed_over",
        rf"\b{_ANSWER}(?: here| itself| in question| for (?:this|the) {_ITEM})?(?: that| which)?(?: i| we)? "
        rf"(?:is|was|are|were|has been|had been|have been|s|being|will be|got|gets) "
        rf"(?:already |clearly |explicitly |directly |simply |actually |effectively )?{_HANDED}",
    ),
    _rule(
        "rating_must_be",
        rf"\b(?:rating|score|answer) (?:must|has to|needs to|is supposed to|is meant to|is required to) be"
        rf"(?: a| an| exactly)? {_NUMBER}\b",
    ),
    _rule(
        "target_rating_as_fact",
        rf"\b(?:the|this|our) (?:user|customer|reader|viewer|buyer|person|shopper|consumer)(?: in question| here)?"
        rf"(?: \w+){{0,4}} (?:rated|gave|given|scored|awarded|assigned|graded|did rate|did give|ended up rating|"
        rf"ended up giving|went with|settled on) (?:this|the target|the current|the present) {_ITEM}\b{_NOT_OTHER}|"
        rf"\b(?:actually|in fact|indeed|in reality|ultimately|in the end|truly) (?:rated|gave|scored|awarded|assigned) "
        rf"(?:it|this|the target)\b{_NOT_OTHER}|"
        rf"\b(?:user s|their|his|her|the user s) (?:rating|score) (?:of|for) (?:this|the target|the current) "
        rf"{_ITEM}{_NOT_OTHER} (?:is|was) (?:a |an )?{_NUMBER}\b",
    ),
    _rule(
        "target_rating_as_premise",
        rf"\b(?:the user|this user|the customer|the reader|the viewer|they|he|she)(?: \w+){{0,3}} "
        rf"(?:rated|gave|scored|awarded|graded) (?:it|this)(?: \w+){{0,2}} (?:a |an )?{_NUMBER}\b|"
        rf"\b(?:the user|this user|the customer|the reader|the viewer|they|he|she)(?: \w+){{0,3}} "
        rf"(?:gave|awarded|assigned) (?:a |an )?{_NUMBER}(?: stars?| out of \w+)? to (?:it|this|the target)\b|"
        rf"\b(?:the|their|this|user s|the user s|this user s) {_OPINION}"
        rf"(?: here| (?:on|for|of|to) (?:this|the target|the current) \w+)? "
        rf"(?:(?:is|was|s|being|equals|of) (?:a |an |exactly |indeed )?{_NUMBER}\b|(?:a |an )?{_NUMBER} out of\b)|"
        rf"\b(?:the user|this user|the customer|the reader|the viewer|they|he|she)(?: \w+){{0,3}} "
        rf"(?:went with|settled on|chose|picked|opted for) (?:a |an )?{_NUMBER}(?: stars?)? "
        rf"for (?:it|this|the target)\b|"
        rf"\b(?:rating|score|answer|verdict) to (?:explain|justify|reach|support|rationali[sz]e|arrive at|match|"
        r"produce|hit|land on)\b|"
        rf"\b(?:user|customer|reader|viewer|they|he|she)(?: \w+){{0,2}} (?:arrived at|came to|settled on|landed on)"
        rf"(?: \w+){{0,3}} (?:{_NUMBER}|rating|score|stars?)\b|"
        rf"\b(?:it|this)(?: is| s| was| being) (?:a|an) {_NUMBER}\b|"
        r"\b(?:show|explain|justify|understand|see|account for) (?:why|how) (?:the user|this user|they|he|she)"
        r"(?: \w+){0,2} (?:rated|gave|scored|chose|arrived|came|landed|settled)\b",
        unless=re.compile(f"{_HISTORY.pattern}|{_HEDGE.pattern}"),
    ),
    _rule(
        "the_answer_is",
        rf"\b(?:the|this|that) answer (?:is|was|of|being|s|here is|equals) (?:a |an |exactly )?{_NUMBER}\b",
        veto=re.compile(r"\b(?:so|therefore|thus|hence|overall|conclusion|final|my|our)\b"),
    ),
    _rule(
        "as_stated",
        r"\bas (?:stated|given|specified|provided|revealed|indicated)\b(?! (?:in|by|on|for|above|below|earlier)\b)",
        10,
        _RATING_WORD,
    ),
    _rule(
        "must_reach",
        r"\b(?:must|need to|needs to|have to|has to|had to|supposed to|required to|meant to|asked to|expected to|"
        r"in order to|so as to|trying to|try to|aim to|aiming to|goal is to)(?: \w+){0,3}? (?:arrive at|reach|"
        r"land on|land at|end up (?:at|with|on)|get to|hit|produce|output|justify|support|explain|lead to|"
        r"conclude with|settle on|account for|back up)\b",
        4,
        _RATING_WORD,
        _NEGATION,
    ),
    _rule(
        "instructions",
        r"\b(?:instructions?|instructed|guidance|guidelines?|requested|requirement|clue|assignment)\b",
        5,
        re.compile(rf"\b{_ANSWER}|\b{_NUMBER}\b"),
    ),
    _rule("task_or_prompt", r"\b(?:task(?! is to (?:predict|estimate|guess|infer))|prompt)\b", 6, _RATING_WORD),
    _rule(
        "stated_that",
        r"\bit (?:is|was|has been|had been) (?:stated|given|specified|indicated|revealed|disclosed|told|hinted|"
        r"confirmed)\b",
        8,
        _RATING_WORD,
    ),
    _rule(
        "given_to_me",
        r"\b(?:i|we)(?: am| are| was| were| have been| had been| have| had| got| get)? "
        r"(?:given|provided|shown|supplied|sent|presented with)\b",
        3,
        _ANSWER_WORD,
    ),
    _rule(
        "known_answer",
        r"\b(?:i|we)(?: already| now| clearly| do| all)? (?:know|knew)\b|\bknowing\b|\bit is known\b|"
        r"\b(?:i|we)(?: am| are| was| were)? (?:aware|certain|sure)\b|\b(?:is|s) a given\b|"
        r"\bon good authority\b|\b(?:already|in advance|beforehand|ahead of time|up front|upfront|a priori)\b",
        7,
        _ANSWER_WORD,
    ),
    _rule(
        "known_rating",
        r"\bknown to (?:have|be)\b|\b(?:i|we) (?:have|has|had) (?:received|obtained|been sent)\b|"
        r"\b(?:i|we) (?:received|obtained)\b|\binfo(?:rmation)? (?:i|we) (?:got|received|have)\b",
        6,
        _RATING_WORD,
    ),
    _rule(
        "holding_the_answer",
        rf"\b(?:i|we) (?:already |now )?(?:have|had|possess|hold) (?:the|this) (?:rating|score|answer|outcome)\b"
        rf"{_NOT_HISTORY}(?! (?:of|for) (?:the|a|their|his|her) (?:previous|prior|last|earlier|other|similar|first))|"
        r"^note (?:the )?(?:rating|score|answer) (?:is|was|s)\b|"
        rf"^(?:hint|reminder|spoiler|fyi)\b(?: \w+){{0,4}} (?:rating|score|answer|{_NUMBER})\b",
    ),
)
_WHO = r"(?:the user|this user|the customer|the reader|the viewer|the buyer|the shopper|they|he|she)"
_FACT = r"(?: actually| really| in fact| indeed| ultimately| eventually| in the end| in reality| truly)"
_CHOOSE = (
    r"(?:chose|picked|selected|bought|purchased|went with|opted for|settled on|clicked|watched|read|reviewed|"
    r"interacted with|ended up (?:with|choosing|picking|buying|selecting))"
)
_LIKED = (
    r"(?:liked|loved|enjoyed|disliked|hated|did not like|did not enjoy|did like|did enjoy|was happy with|"
    r"was unhappy with|was disappointed (?:by|with)|was satisfied with|was dissatisfied with)"
)
#: The give-aways of the other tasks, added to :data:`LEAK_RULES` for their traces.
TASK_LEAK_RULES: dict[str, tuple[LeakRule, ...]] = {
    "ranking": (
        _rule(
            "chosen_candidate_as_fact",
            rf"\b{_WHO}(?: \w+){{0,2}}?{_FACT}? {_CHOOSE} (?:candidate|option|number|item) {_NUMBER}\b|"
            rf"\bcandidate {_NUMBER} (?:is|was) (?:the )?(?:one|item|candidate|choice|pick) "
            rf"(?:that |which )?{_WHO}{_FACT}? {_CHOOSE}\b|"
            rf"\b(?:item|one|candidate)(?: that| which)? {_WHO}{_FACT}? {_CHOOSE}(?: next)? (?:is|was) "
            rf"(?:candidate |option |number )?{_NUMBER}\b",
            unless=_HEDGE,
        ),
        _rule(
            "qualified_choice",
            r"\b(?:true|actual|real|correct|target|known|revealed|chosen|hidden|secret|designated|confirmed|"
            r"ground truth|gold|right) (?:next )?(?:choice|pick|selection|candidate|purchase)(?!s\b)",
        ),
        _rule("choice_handed_over", rf"\b(?:choice|pick|selection|next item|next purchase) (?:is|was|s) {_HANDED}"),
    ),
    "like": (
        _rule(
            "liking_as_fact",
            rf"\b{_WHO}{_FACT}? {_LIKED} (?:this|the target|the current|the present|the given|the) {_ITEM}\b"
            rf"{_NOT_OTHER}|\b{_FACT} {_LIKED} (?:it|this)\b{_NOT_OTHER}",
            unless=re.compile(f"{_HISTORY.pattern}|{_HEDGE.pattern}"),
        ),
        _rule(
            "qualified_liking",
            r"\b(?:true|actual|real|correct|target|known|revealed|hidden|secret|confirmed|right) "
            r"(?:label|outcome|liking|verdict|answer|reaction)(?!s\b)",
        ),
    ),
}

_CONTRACTIONS = (
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'m\b"), " am"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'d\b"), " would"),
    (re.compile(r"'s\b"), " s"),
)
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u2032": "'", "`": "'"})
_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
# Sentence ends: . ! ? ; and line breaks, but not the point of a decimal number.
_SENTENCE_END = re.compile(r"(?<!\d)[.!?;](?!\d)|[.!?;](?=\s|$)|\n+")
_TAGS = tuple(open_tag(n) for n in TAG_NAMES) + tuple(close_tag(n) for n in TAG_NAMES)
_ANSWER_SECTION = re.compile(
    "|".join(
        re.escape(open_tag(name)) + r".*?(?:" + re.escape(close_tag(name)) + r"|$)"
        for name in dict.fromkeys(ANSWER_SECTIONS.values())
    ),
    re.DOTALL,
)


def normalize(sentence: str) -> str:
    """Lower-case words and numbers of ``sentence`` joined by single spaces (contractions expanded)."""
    text = unicodedata.normalize("NFKC", sentence).translate(_QUOTES).lower()
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return " ".join(_WORD.findall(text))


def reasoning_text(answer: str) -> str:
    """The reasoning of a TbR answer: everything but the answer section (``<rate>``, ``<rank>`` or ``<like>``), one
    line per section."""
    text = _ANSWER_SECTION.sub("\n", answer)
    for tag in _TAGS:
        text = text.replace(tag, "\n")
    return text


def _near(words: str, start: int, end: int, near: re.Pattern[str], window: int) -> bool:
    """True when a match of ``near`` lies within ``window`` words of ``words[start:end]``."""
    left = words[:start].split()[-window:] if start else []
    right = words[end:].split()[:window]
    context = " ".join([*left, "|", *right])
    return near.search(context) is not None


def _excerpt(words: str, start: int, end: int, width: int = 6) -> str:
    left = words[:start].split()[-width:]
    right = words[end:].split()[:width]
    return " ".join([*left, words[start:end].strip(), *right])


def _vetoed(words: str, start: int, veto: re.Pattern[str] | None) -> bool:
    return veto is not None and veto.search(" ".join(words[:start].split()[-3:])) is not None


def _sentence_leak(words: str, rules: tuple[LeakRule, ...]) -> Leak | None:
    for rule in rules:
        if rule.unless is not None and rule.unless.search(words):
            continue
        for match in rule.pattern.finditer(words):
            if _vetoed(words, match.start(), rule.veto):
                continue
            if rule.near is None or _near(words, match.start(), match.end(), rule.near, rule.window or 0):
                return Leak(rule.name, _excerpt(words, match.start(), match.end()))
    return None


def find_leak(text: str, task: str = DEFAULT_TASK) -> Leak | None:
    """The first give-away in ``text`` (the reasoning of a trace of ``task``, see :func:`reasoning_text`), or None.

    ``text`` is judged sentence by sentence with :data:`LEAK_RULES` and the task's :data:`TASK_LEAK_RULES`; a rule
    with a window needs a rating word near its cue in the same sentence.
    """
    rules = LEAK_RULES + TASK_LEAK_RULES.get(task, ())
    for sentence in _SENTENCE_END.split(text):
        words = normalize(sentence)
        if words:
            leak = _sentence_leak(words, rules)
            if leak is not None:
                return leak
    return None
