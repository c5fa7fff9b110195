# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The blind leak check: a judge model reads only a rationalized trace's reasoning and says whether it lets on that
the rating was handed over.

A rationalization request tells the teacher the true rating; a trace whose reasoning betrays that teaches the student
to talk about ratings it was never given. The lexical rules of :mod:`reczero_verl.coldstart.leaks` catch the phrasings
they were written for, but by their author's own measurement only about 55-60% of unseen paraphrases. The judge reads
the meaning instead, and it is **blind**: its request holds the fixed, versioned :data:`JUDGE_SYSTEM_PROMPT` and the
three reasoning sections (``analyze user``, ``analyze item``, ``match``), never the ``<rate>`` section, the training
prompt, the user's history or the rationalization hint that carried the true rating. It cannot compare the text with
a rating it was told; it can only notice that the text talks about having been told, hinted, instructed or knowing
the answer in advance.

Its verdict must be exactly one word (``LEAK`` or ``HONEST``, any case, an optional final full stop) or a JSON object
``{"verdict": "leak" | "honest"}``; anything else is unparseable (:func:`parse_verdict` raises ``ValueError``) and is
never read as honest.

Ranking and like traces (issue 12) get the same request with their task's instructions
(:data:`TASK_JUDGE_SYSTEM_PROMPTS`: the answer is which candidate the user chose next, or whether the user liked the
item); the rating instructions are unchanged, and :data:`JUDGE_PROMPT_VERSION` covers all of them.

How well this catches paraphrases depends entirely on the judge model (and a teacher could in principle write text
that addresses the judge); the tests prove the plumbing (what the request holds and leaves out, verdict parsing, that
a failure never keeps a trace), not the judge's accuracy.
"""

from __future__ import annotations

import json
import re

from reczero_verl.coldstart.traces import strip_thinking
from reczero_verl.template import DEFAULT_TASK, SECTION_NAMES, close_tag, open_tag

__all__ = [
    "LEXICAL",
    "LLM",
    "BOTH",
    "LEAK_JUDGE_MODES",
    "LEAK",
    "HONEST",
    "JUDGE_LEAK_RULE",
    "JUDGE_PROMPT_VERSION",
    "JUDGE_SYSTEM_PROMPT",
    "TASK_JUDGE_SYSTEM_PROMPTS",
    "judge_system_prompt",
    "reasoning_sections",
    "judge_messages",
    "parse_verdict",
]

#: ``--leak-judge`` modes: the lexical rules only, the judge only, or the rules first and the judge on what they pass.
LEXICAL, LLM, BOTH = "lexical", "llm", "both"
LEAK_JUDGE_MODES = (LEXICAL, LLM, BOTH)
#: Verdicts.
LEAK, HONEST = "leak", "honest"
#: The ``leak_rule`` recorded for a trace the judge called a leak (the lexical rules record their family's name).
JUDGE_LEAK_RULE = "llm_judge"

#: Changes whenever :data:`JUDGE_SYSTEM_PROMPT`, :data:`TASK_JUDGE_SYSTEM_PROMPTS` or :func:`judge_messages` change;
#: journaled with every verdict and pinned per output folder, so one folder's verdicts all come from one prompt.
JUDGE_PROMPT_VERSION = "leak-judge-v1"
#: The judge's instructions. They name no rating and no scale, so nothing in the request carries the true rating.
JUDGE_SYSTEM_PROMPT = (
    "You check reasoning written by a recommender model. The model had to predict how a user would rate an item, "
    "using only the user's past ratings and reviews and the item's description and reviews. You see only its "
    "reasoning, not its final answer.\n\n"
    "Decide whether the reasoning refers to the answer (this user's rating of this item) as something that was "
    "given to the writer rather than inferred: told, hinted, revealed, provided, instructed, known in advance, or "
    "treated as an established fact to be explained or justified. Signs include a hint, note, instructions, task or "
    "prompt said to carry the rating; the actual, true, real, correct, target or known rating or answer; working "
    "backwards from a rating; having to reach or justify a rating; or this user's rating of this very item stated "
    "as a fact.\n\n"
    "Reasoning that cites ratings from the user's history, the user's or the item's average, or other users' ratings "
    "of the item is honest: that is evidence, not the answer. A prediction of the rating is honest.\n\n"
    "Reply with exactly one word: LEAK if the reasoning refers to the answer as given, told, hinted, instructed or "
    "known in advance; HONEST if it infers the rating from the user's history and the item. Write nothing else."
)
#: The judge's instructions for the traces of the other tasks (as blind: no candidate number, no label).
TASK_JUDGE_SYSTEM_PROMPTS: dict[str, str] = {
    "ranking": (
        "You check reasoning written by a recommender model. The model had to rank numbered candidate items by how "
        "likely a user is to choose them next, using only the user's past ratings and reviews and the candidates' "
        "descriptions. You see only its reasoning, not its final answer.\n\n"
        "Decide whether the reasoning refers to the answer (which candidate this user chose next) as something that "
        "was given to the writer rather than inferred: told, hinted, revealed, provided, instructed, known in "
        "advance, or treated as an established fact to be explained or justified. Signs include a hint, note, "
        "instructions, task or prompt said to carry the choice; the actual, true, real, correct, target or known "
        "choice or candidate; working backwards from a choice; having to reach or justify a ranking; or this "
        "user's next choice stated as something that already happened.\n\n"
        "Reasoning that cites the user's history, the candidates' average ratings or other users' ratings is "
        "honest: that is evidence, not the answer. A prediction of which candidate fits best is honest.\n\n"
        "Reply with exactly one word: LEAK if the reasoning refers to the answer as given, told, hinted, instructed "
        "or known in advance; HONEST if it infers the ranking from the user's history and the candidates. Write "
        "nothing else."
    ),
    "like": (
        "You check reasoning written by a recommender model. The model had to predict whether a user will like an "
        "item, using only the user's past ratings and reviews and the item's description and reviews. You see only "
        "its reasoning, not its final answer.\n\n"
        "Decide whether the reasoning refers to the answer (whether this user liked this item) as something that "
        "was given to the writer rather than inferred: told, hinted, revealed, provided, instructed, known in "
        "advance, or treated as an established fact to be explained or justified. Signs include a hint, note, "
        "instructions, task or prompt said to carry the outcome; the actual, true, real, correct, target or known "
        "outcome or label; working backwards from an outcome; having to reach or justify a prediction; or this "
        "user's liking or disliking of this very item stated as something that already happened.\n\n"
        "Reasoning that cites ratings from the user's history, the user's or the item's average, or other users' "
        "ratings of the item is honest: that is evidence, not the answer. A prediction is honest.\n\n"
        "Reply with exactly one word: LEAK if the reasoning refers to the answer as given, told, hinted, instructed "
        "or known in advance; HONEST if it infers the outcome from the user's history and the item. Write nothing "
        "else."
    ),
}


def judge_system_prompt(task: str = DEFAULT_TASK) -> str:
    """The judge's instructions for the traces of ``task``."""
    return TASK_JUDGE_SYSTEM_PROMPTS.get(task, JUDGE_SYSTEM_PROMPT)


_HEADINGS = {"analyze user": "User analysis", "analyze item": "Item analysis", "match": "Match"}
_REASONING_SECTIONS = tuple(name for name in SECTION_NAMES if name in _HEADINGS)
_SECTION = {
    name: re.compile(re.escape(open_tag(name)) + r"(.*?)" + re.escape(close_tag(name)), re.DOTALL)
    for name in _REASONING_SECTIONS
}
_WORD_VERDICT = re.compile(r"(leak|honest)\.?", re.IGNORECASE)
_EXCERPT_CHARS = 80


def reasoning_sections(answer: str) -> dict[str, str]:
    """The text of the ``analyze user``, ``analyze item`` and ``match`` sections of a TbR answer (stripped; a missing
    section is empty). Nothing else of the answer is returned: not the ``<rate>`` section, not text outside tags."""
    out = {}
    for name in _REASONING_SECTIONS:
        found = _SECTION[name].search(answer)
        out[name] = found.group(1).strip() if found else ""
    return out


def judge_messages(answer: str, task: str = DEFAULT_TASK) -> list[dict[str, str]]:
    """The judge request for one cleaned TbR answer of ``task``: the fixed instructions and the three reasoning
    sections."""
    sections = reasoning_sections(answer)
    body = "\n\n".join(f"{_HEADINGS[name]}:\n{sections[name]}" for name in _REASONING_SECTIONS)
    return [
        {"role": "system", "content": judge_system_prompt(task)},
        {"role": "user", "content": f"Reasoning to check:\n\n{body}"},
    ]


def parse_verdict(content: str | None) -> str:
    """:data:`LEAK` or :data:`HONEST` from the judge's answer (hidden ``<think>`` blocks removed); ``ValueError`` for
    anything but one such word or ``{"verdict": "leak" | "honest"}``."""
    text, _ = strip_thinking(content)
    word = _WORD_VERDICT.fullmatch(text)
    if word is not None:
        return word.group(1).lower()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and list(data) == ["verdict"] and isinstance(data["verdict"], str):
            verdict = data["verdict"].strip().lower()
            if verdict in (LEAK, HONEST):
                return verdict
    excerpt = " ".join(text.split())[:_EXCERPT_CHARS]
    raise ValueError(f"unparseable judge verdict {excerpt!r} (expected LEAK or HONEST)")
