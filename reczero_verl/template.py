# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Think-before-Recommendation (TbR) prompt template, for each task.

The paper's policy answers a rating-prediction prompt with four plain-text sections, in this order::

    <analyze user> ... </analyze user>
    <analyze item> ... </analyze item>
    <match> ... </match>
    <rate> ... </rate>

Beside ``rating`` (the paper's task), two tasks keep the three reasoning sections and end in their own answer tag:
``ranking`` (``<rank>3, 1, 7</rank>``: candidate numbers, best first) and ``like`` (``<like>0.8</like>``: the
probability that the user likes the item). This module owns the tag names (the reward imports them from here, so the
prompt and the checker can never disagree), each task's system prompts for the two template variants (``tbr`` and
the ablation ``plain``), the renderer that turns the structured columns of a prepared sample into chat messages, and
an optional ChatML Jinja template that pre-fills the opening ``<analyze user>`` tag. Everything here is pure and
cheap; nothing imports torch or verl.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reczero_verl.contract import DEFAULT_TASK, TASKS, flatten_text

__all__ = [
    "TASKS",
    "DEFAULT_TASK",
    "ANSWER_SECTIONS",
    "REASONING_SECTIONS",
    "TAG_NAMES",
    "QUESTIONS",
    "section_names",
    "SECTION_NAMES",
    "VARIANTS",
    "DEFAULT_VARIANT",
    "open_tag",
    "close_tag",
    "system_prompt",
    "render_user_prompt",
    "build_messages",
    "format_rating",
    "clip_text",
    "prefill_chat_template",
    "PREFILL_TEXT",
]

#: The three reasoning sections every task's answer starts with.
REASONING_SECTIONS: tuple[str, ...] = ("analyze user", "analyze item", "match")
#: The section that holds each task's answer.
ANSWER_SECTIONS: dict[str, str] = {"rating": "rate", "ranking": "rank", "like": "like"}
#: Every section name an answer of any task can use (what input text must never contain as a tag).
TAG_NAMES: tuple[str, ...] = REASONING_SECTIONS + tuple(ANSWER_SECTIONS.values())


def section_names(task: str = DEFAULT_TASK) -> tuple[str, ...]:
    """The four sections of ``task``'s answer, in the order the response must give them."""
    if task not in ANSWER_SECTIONS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    return (*REASONING_SECTIONS, ANSWER_SECTIONS[task])


#: Names of the four TbR sections of a rating answer, in the order the response must give them.
SECTION_NAMES: tuple[str, ...] = section_names("rating")

#: Template variants: ``tbr`` (the paper's structured reasoning) and ``plain`` (ablation "without structured
#: template": only the ``<rate>`` section is asked for).
VARIANTS: tuple[str, ...] = ("tbr", "plain")
DEFAULT_VARIANT = "tbr"


def open_tag(name: str) -> str:
    """Return the opening tag of section ``name`` (e.g. ``<analyze user>``)."""
    return f"<{name}>"


def close_tag(name: str) -> str:
    """Return the closing tag of section ``name`` (e.g. ``</analyze user>``)."""
    return f"</{name}>"


#: Text a pre-filling chat template appends to the generation prompt. verl's ``solution_str`` will not contain it,
#: so the reward must be told with ``prefilled_prefix``.
PREFILL_TEXT = open_tag(SECTION_NAMES[0])


def format_rating(value: float) -> str:
    """Render a rating compactly: ``4`` for 4.0, ``3.67`` for 3.6667 (two decimals at most)."""
    rounded = round(float(value), 2)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.2f}".rstrip("0").rstrip(".")


def _scale_text(rating_min: float, rating_max: float) -> str:
    return f"{format_rating(rating_min)} to {format_rating(rating_max)}"


def system_prompt(
    variant: str = DEFAULT_VARIANT,
    rating_min: float = 1.0,
    rating_max: float = 5.0,
    *,
    task: str = DEFAULT_TASK,
    like_threshold: float | None = None,
) -> str:
    """Return the system prompt of ``task`` and ``variant``.

    ``rating``: predict a rating on ``[rating_min, rating_max]``; ``ranking``: order numbered candidates, best
    first; ``like``: the probability that the user likes the item (for explicit ratings, a rating of
    ``like_threshold`` or more on the scale). The ``tbr`` prompt asks for the four sections in order; the ``plain``
    prompt asks only for the answer tag, so the two variants differ in the reasoning structure and nothing else.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown template variant {variant!r}; expected one of {VARIANTS}")
    if task == "rating":
        return _rating_prompt(variant, rating_min, rating_max)
    answer = section_names(task)[-1]
    if task == "ranking":
        goal = "rank candidate items by how likely a user is to choose them next"
        context = ""
        form = f"{open_tag(answer)}i, j, k, ...{close_tag(answer)}"
        spec = (
            "i, j, k, ... are candidate numbers, best first, separated by commas, each at most once (you may list "
            "only the best ones)"
        )
        item_line = "the candidates: what this user may like or dislike about each"
        match_line = "which candidates fit the user best, and why"
    else:
        goal = "predict whether a user will like an item"
        context = (
            f"Liking means a rating of {format_rating(like_threshold)} or more on a scale from "
            f"{_scale_text(rating_min, rating_max)}. "
            if like_threshold is not None
            else ""
        )
        form = f"{open_tag(answer)}p{close_tag(answer)}"
        spec = "p is the probability that the user likes the item: a single number between 0 and 1"
        item_line = "the target item's characteristics: what this user may like or dislike about it"
        match_line = "how well the user and the item fit, and why"
    if variant == "plain":
        subject = "the candidates' information" if task == "ranking" else "the item's information"
        return (
            f"You are a recommender system: you {goal}. {context}Read the user's history and {subject}, then answer "
            f"with {form} only, where {spec}. Write nothing else."
        )
    u, i, m = REASONING_SECTIONS
    return (
        f"You are a recommender system that thinks before it recommends: you {goal} by reasoning step by step. "
        f"{context}Answer with exactly these four sections, in this order, each tag exactly once and nothing outside "
        "them:\n"
        f"{open_tag(u)} the user's preferences, judged from their history and ratings {close_tag(u)}\n"
        f"{open_tag(i)} {item_line} {close_tag(i)}\n"
        f"{open_tag(m)} {match_line} {close_tag(m)}\n"
        f"{form}\n"
        f"{spec}, with no other text inside the {open_tag(answer)} tags."
    )


def _rating_prompt(variant: str, rating_min: float, rating_max: float) -> str:
    """The paper's task: a rating on ``[rating_min, rating_max]``."""
    if not rating_min < rating_max:
        raise ValueError(f"rating scale must have rating_min < rating_max, got [{rating_min}, {rating_max}]")
    scale = _scale_text(rating_min, rating_max)
    rate = f"{open_tag('rate')}X{close_tag('rate')}"
    if variant == "plain":
        return (
            "You are a recommender system that predicts how a user will rate an item. "
            f"Ratings range from {scale}. Read the user's history and the item's information, then answer with the "
            f"predicted rating only, in the form {rate}, where X is a single number between "
            f"{format_rating(rating_min)} and {format_rating(rating_max)} (decimals allowed). "
            "Write nothing else."
        )
    u, i, m = SECTION_NAMES[:3]
    return (
        "You are a recommender system that thinks before it recommends: you predict how a user will rate an item by "
        f"reasoning step by step. Ratings range from {scale}. Answer with exactly these four sections, in this order, "
        "each tag exactly once and nothing outside them:\n"
        f"{open_tag(u)} the user's preferences, judged from their history and ratings {close_tag(u)}\n"
        f"{open_tag(i)} the target item's characteristics: what this user may like or dislike about it "
        f"{close_tag(i)}\n"
        f"{open_tag(m)} how well the user and the item fit, and why {close_tag(m)}\n"
        f"{rate}\n"
        f"X is your predicted rating: a single number between {format_rating(rating_min)} and "
        f"{format_rating(rating_max)} (decimals allowed), with no other text inside the {open_tag('rate')} tags."
    )


def clip_text(text: Any, max_chars: int | None) -> str:
    """Return ``text`` as a single-spaced string of at most ``max_chars`` characters (``None``: no limit).

    Python strings are sequences of code points, so slicing never splits a multi-byte UTF-8 character. An ellipsis
    marks a cut.
    """
    if text is None:
        return ""
    s = " ".join(str(text).split())
    if max_chars is None or len(s) <= max_chars:
        return s
    if max_chars <= 1:
        return s[:max_chars]
    return s[: max_chars - 1].rstrip() + "…"


def _get(mapping: Mapping[str, Any] | None, key: str) -> Any:
    if mapping is None:
        return None
    value = mapping.get(key)
    # Parquet lists come back as numpy arrays and missing floats as NaN: treat NaN as missing.
    if isinstance(value, float) and value != value:
        return None
    return value


def _as_list(value: Any) -> list[Any]:
    """A history as a list: parquet gives numpy arrays (whose truth value is ambiguous), JSON gives lists."""
    return [] if value is None else list(value)


def _item_text(item: Mapping[str, Any] | None, max_field_chars: int | None) -> list[str]:
    """Lines describing an item from its text fields (``title`` first, then the others in a stable order)."""
    if not item:
        return []
    lines = []
    keys = ["title"] + sorted(k for k in item if k not in ("title", "item_id"))
    for key in keys:
        value = _get(item, key)
        if value is None:
            continue
        text = clip_text(flatten_text(value) or "", max_field_chars)
        if text:
            lines.append(f"{key.replace('_', ' ').capitalize()}: {text}")
    return lines


def _user_section(row: Mapping[str, Any], max_review_chars: int | None, max_field_chars: int | None) -> str:
    user_lines: list[str] = []
    profile = _get(row, "user_profile")
    if profile:
        user_lines.append(f"Profile: {clip_text(profile, max_field_chars)}")
    user_history = _as_list(_get(row, "user_history"))
    if user_history:
        user_lines.append(f"Past ratings (most recent first, {len(user_history)} shown):")
        for n, entry in enumerate(reversed(user_history), start=1):
            title = clip_text(_get(entry, "title") or _get(entry, "item_id"), max_field_chars)
            line = f"{n}. {title}: rated {format_rating(entry['rating'])}"
            review = clip_text(_get(entry, "review"), max_review_chars)
            if review:
                line += f". Review: {review}"
            user_lines.append(line)
    avg = _get(row, "user_avg_rating")
    if avg is not None:
        user_lines.append(f"Average rating given by this user: {format_rating(avg)}")
    return "## User\n" + ("\n".join(user_lines) if user_lines else "No information about this user.")


def _item_section(row: Mapping[str, Any], max_review_chars: int | None, max_field_chars: int | None) -> str:
    item_lines = _item_text(_get(row, "target_item"), max_field_chars)
    profile = _get(row, "item_profile")
    if profile:
        item_lines.append(f"Profile: {clip_text(profile, max_field_chars)}")
    item_history = _as_list(_get(row, "item_history"))
    if item_history:
        item_lines.append(f"Ratings by other users (most recent first, {len(item_history)} shown):")
        for n, entry in enumerate(reversed(item_history), start=1):
            line = f"{n}. rated {format_rating(entry['rating'])}"
            review = clip_text(_get(entry, "review"), max_review_chars)
            if review:
                line += f". Review: {review}"
            item_lines.append(line)
    avg = _get(row, "item_avg_rating")
    if avg is not None:
        item_lines.append(f"Average rating of this item: {format_rating(avg)}")
    return "## Target item\n" + ("\n".join(item_lines) if item_lines else "No information about this item.")


def _candidates_section(row: Mapping[str, Any], max_field_chars: int | None) -> str:
    """The ranking task's candidates, numbered ``[1]`` to ``[M]`` in the stored (shuffled) order."""
    lines = []
    for n, candidate in enumerate(_as_list(_get(row, "candidates")), start=1):
        fields = {k: v for k, v in candidate.items() if k != "avg_rating"} if isinstance(candidate, Mapping) else {}
        text = "; ".join(_item_text(fields, max_field_chars))
        text = text or f"Item {clip_text(_get(candidate, 'item_id'), max_field_chars)}"
        avg = _get(candidate, "avg_rating")
        if avg is not None:
            text += f"; average rating {format_rating(avg)}"
        lines.append(f"[{n}] {text}")
    return "## Candidates\n" + ("\n".join(lines) if lines else "No candidates.")


#: The question that ends each task's user turn.
QUESTIONS: dict[str, str] = {
    "rating": "How will this user rate the target item?",
    "ranking": "Which candidates will this user choose next? Rank them, best first.",
    "like": "Will this user like the target item?",
}


def render_user_prompt(
    row: Mapping[str, Any],
    *,
    rating_min: float = 1.0,
    rating_max: float = 5.0,
    max_review_chars: int | None = None,
    max_field_chars: int | None = None,
    task: str = DEFAULT_TASK,
) -> str:
    """Render the user turn of a sample from its structured fields.

    ``row`` carries the columns written by ``reczero-verl prepare``: ``user_history`` (list of dicts with
    ``item_id, rating, timestamp, title, review``, oldest first), ``item_history`` (list of dicts with
    ``user_id, rating, timestamp, review``), ``target_item`` (dict of the item's text fields), ``user_avg_rating``,
    ``item_avg_rating`` and, for datasets that ship profiles instead of histories (EXP3RT IMDb), ``user_profile`` and
    ``item_profile``; a ranking row has ``candidates`` (dicts of item fields and ``avg_rating``, in the order shown)
    instead of a target item. Any of them may be missing or empty: a sample may bring a profile, a history or both.
    Histories are listed most recent first, numbered, so the model reads the freshest evidence first.
    """
    if task not in QUESTIONS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    parts = [
        f"Rating scale: {_scale_text(rating_min, rating_max)}.",
        _user_section(row, max_review_chars, max_field_chars),
    ]
    if task == "ranking":
        parts.append(_candidates_section(row, max_field_chars))
    else:
        parts.append(_item_section(row, max_review_chars, max_field_chars))
    parts.append(QUESTIONS[task])
    return "\n\n".join(parts)


def build_messages(
    row: Mapping[str, Any],
    *,
    variant: str = DEFAULT_VARIANT,
    rating_min: float = 1.0,
    rating_max: float = 5.0,
    max_review_chars: int | None = None,
    max_field_chars: int | None = None,
    task: str = DEFAULT_TASK,
    like_threshold: float | None = None,
) -> list[dict[str, str]]:
    """Return the chat messages ``[system, user]`` of one sample (see :func:`render_user_prompt`)."""
    system = system_prompt(variant, rating_min, rating_max, task=task, like_threshold=like_threshold)
    user = render_user_prompt(
        row,
        rating_min=rating_min,
        rating_max=rating_max,
        max_review_chars=max_review_chars,
        max_field_chars=max_field_chars,
        task=task,
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def prefill_chat_template(prefill: str = PREFILL_TEXT) -> str:
    """Return a ChatML Jinja chat template whose generation prompt ends with ``prefill`` (R1-Zero style).

    Use it as ``actor_rollout_ref.model.custom_chat_template`` with Qwen-family models and pass the same text to the
    reward as ``reward.custom_reward_function.reward_kwargs.prefilled_prefix`` (verl's ``solution_str`` holds the
    response only, so the pre-filled tag is not in it). Each message renders on its own, with no state carried between
    messages, which verl's SFT dataset requires. ``prefill`` is plain text: the TbR tags are never special tokens.
    """
    if "{" in prefill or "}" in prefill or "'" in prefill:
        raise ValueError(f"prefill must not contain Jinja delimiters or quotes: {prefill!r}")
    return (
        "{%- for message in messages -%}"
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}"
        "{{ '<|im_start|>assistant\\n" + prefill + "' }}"
        "{%- endif -%}"
    )
