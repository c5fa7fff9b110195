# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Neutralise chat-template special tokens, TbR tags and control characters in raw text before it enters a prompt.

Why: review text, titles, metadata and profiles are user-written. Under a ChatML template a review containing
``<|im_start|>system ...<|im_end|>`` would be tokenized as real special tokens (a fake turn inside the user turn); a
review holding ``<rate>5</rate>`` (or ``<rank>``, ``<like>``: the answer tags of the other tasks) shows the policy our
own answer tags inside its input; NUL bytes and terminal escape
sequences corrupt logs and terminals. Every such string is rewritten here into a harmless lookalike that still reads
naturally: the delimiters become single angle quotation marks around the token's inner words
(``<|im_start|>`` -> ``‹im_start›``, ``[INST]`` -> ``‹INST›``, ``</rate>`` -> ``‹/rate›``). No tokenizer has those
strings as special tokens, and the reward only parses ``<rate>`` in the response, never in the prompt.

The rewrite runs to a fixpoint (stripping a control character or a token can join the pieces of another one), and
it counts what it changed so that ``stats.json`` can report it. Pure functions only; no state between calls.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from reczero_verl.template import TAG_NAMES

__all__ = ["KINDS", "neutralise", "collapse", "TextCleaner"]

#: What :func:`neutralise` counts, in ``stats.json`` order.
KINDS: tuple[str, ...] = ("chat_tokens", "tbr_tags", "control_chars")

LEFT, RIGHT = "\u2039", "\u203a"  # single angle quotation marks: the lookalike delimiters

#: Terminal escape sequences (removed whole, so no ``[31m`` residue is left) and single control characters.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # any other escape
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|[\x00-\x08\x0e-\x1f\x7f-\x9f]"  # other C0 (not tab, newline, VT, FF, CR), DEL, C1
    r"|[\ud800-\udfff]"  # lone surrogates (an unpaired JSON escape): not encodable as UTF-8
)
#: Controls that separate words (file/group/record/unit separators, next line): replaced by a space, not removed.
_SEPARATORS = frozenset("\x1c\x1d\x1e\x1f\x85")

#: ``<|...|>`` tokens (ChatML, Llama 3, Phi, GPT ``<|endoftext|>``) and DeepSeek's full-width ``<｜...｜>`` ones.
_PIPE_TOKEN = re.compile(r"<[|\uff5c]([^<>|\uff5c\n]{1,80}?)[|\uff5c]>")
#: Named angle-bracket special tokens: Llama 2 / Mistral ``<s>``, Gemma turns, Qwen / DeepSeek thinking and tools.
_ANGLE_NAMES = (
    "s|bos|eos|pad|unk|mask|start_of_turn|end_of_turn|start_of_image|end_of_image|think|tool_call|tool_response|tools"
)
_ANGLE_TOKEN = re.compile(rf"<(/?(?:{_ANGLE_NAMES}))>")
#: Llama 2 system markers ``<<SYS>>`` / ``<</SYS>>``.
_SYS_TOKEN = re.compile(r"<<(/?SYS)>>")
#: Mistral's bracketed control tokens.
_BRACKET_TOKEN = re.compile(
    r"\[(/?(?:INST|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS|TOOL_CONTENT|IMG|IMG_BREAK|IMG_END|THINK))\]"
)
#: The TbR tags of every task (:data:`reczero_verl.template.TAG_NAMES`: the reasoning sections and the answer tags
#: ``rate``, ``rank``, ``like``), open and close, in any case and spacing (``< /Rate >``, ``<LIKE>`` too).
_TBR_TAG = re.compile(
    r"<\s*(/?)\s*(" + "|".join(r"\s+".join(map(re.escape, n.split())) for n in TAG_NAMES) + r")\s*>",
    re.IGNORECASE,
)
#: Any character that can start something to rewrite: most text has none and is returned untouched at once.
_SUSPECT = re.compile(r"[<\[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _lookalike(inner: str) -> str:
    return f"{LEFT}{inner}{RIGHT}"


def _control(match: re.Match[str]) -> str:
    text = match.group(0)
    if text in _SEPARATORS:
        return " "
    if "\ud800" <= text <= "\udfff":
        return "\ufffd"
    return ""


def collapse(text: str) -> str:
    """Whitespace runs collapsed to one space, as :func:`reczero_verl.template.clip_text` does (so that a tag split
    over a line break, ``<analyze\\nuser>``, is seen the way the prompt will show it)."""
    return " ".join(text.split())


def neutralise(text: str) -> tuple[str, Counter[str]]:
    """``text`` without control characters and with every special-token string and TbR tag made a lookalike (its
    whitespace collapsed when anything was suspect); and the number of rewrites per kind (:data:`KINDS`)."""
    counts: Counter[str] = Counter()
    if not _SUSPECT.search(text):
        return text, counts  # nothing to rewrite (the caller's clip_text collapses whitespace anyway)
    for _ in range(64):  # each pass removes at least one ASCII delimiter, so this ends long before the bound
        text, n_ctrl = _CONTROL.subn(_control, text)
        text = collapse(text)
        n_chat = 0
        for pattern in (_PIPE_TOKEN, _ANGLE_TOKEN, _SYS_TOKEN, _BRACKET_TOKEN):
            text, n = pattern.subn(lambda m: _lookalike(m.group(1)), text)
            n_chat += n
        text, n_tbr = _TBR_TAG.subn(lambda m: _lookalike(m.group(1) + " ".join(m.group(2).split())), text)
        counts.update({"control_chars": n_ctrl, "chat_tokens": n_chat, "tbr_tags": n_tbr})
        if not (n_ctrl or n_chat or n_tbr):
            break
    return text, +counts


@dataclass
class TextCleaner:
    """Neutralises the texts of written rows and counts, per field kind (``review``, ``title``, ``profile``, ...),
    how many values changed and how many rewrites of each kind it made (reported as ``neutralised`` in stats.json).

    A text shown in several rows (a review in many histories) is counted each time it is written."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def clean(self, text: object, kind: str) -> str | None:
        """``text`` neutralised (``None`` stays ``None``; other values become strings first)."""
        if text is None:
            return None
        text = str(text)
        if not _SUSPECT.search(text):  # the common case, without building a counter
            return text
        out, changes = neutralise(text)
        if changes:
            per_kind = self.counts.setdefault(kind, Counter())
            per_kind.update(changes)
            per_kind["values"] += 1
        return out

    def clean_id(self, value: object) -> str:
        """An id as a string, unchanged unless it holds something to neutralise (then neutralised like a text, and
        counted under ``id``): ordinary ids keep their exact spelling, whitespace included."""
        raw = str(value)
        if not _SUSPECT.search(raw):
            return raw
        out, changes = neutralise(raw)
        if not changes:
            return raw
        per_kind = self.counts.setdefault("id", Counter())
        per_kind.update(changes)
        per_kind["values"] += 1
        return out

    def as_dict(self) -> dict[str, object]:
        """``{"values_changed": N, "by_field": {kind: {"values": .., "chat_tokens": .., ...}}}`` (sorted kinds)."""
        by_field: dict[str, Mapping[str, int]] = {
            kind: {k: int(c[k]) for k in ("values", *KINDS)} for kind, c in sorted(self.counts.items())
        }
        return {"values_changed": sum(c["values"] for c in by_field.values()), "by_field": by_field}
