# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""verl dataset that re-renders each prompt from the structured columns and fits it into ``data.max_prompt_length``.

verl 0.9.1 never shortens a prompt sensibly: with ``data.filter_overlong_prompts=True`` it drops the sample, otherwise
the agent loop LEFT-truncates the token ids to ``rollout.prompt_length``, which cuts the system prompt (the very
instructions the format reward checks). :class:`RecZeroDataset` prevents both. Load it with::

    data.custom_cls.path=pkg://reczero_verl.dataset data.custom_cls.name=RecZeroDataset

For every row it renders ``prompt`` again from the structured columns of the prepared-sample parquet
(``user_history``, ``item_history``, ``target_item``, averages, profiles) with the chosen template variant, counts
its tokens exactly as verl's rollout will (``tokenizer.apply_chat_template(..., add_generation_prompt=True,
tokenize=True, **data.apply_chat_template_kwargs)`` with the tokenizer verl hands over, whose chat template
``actor_rollout_ref.model.custom_chat_template`` has already replaced), and, while it is too long, shortens it in this
order (each stage starts from where the previous one ended):

A. drop the oldest history entries, one at a time from the longer history (the item history on ties), down to
   ``min_history`` entries per history;
B. halve the per-review character budget, down to 16 characters, then drop reviews altogether;
C. halve the budget of the other text fields (item description and features, titles, profiles), down to 32 characters;
D. drop the remaining history entries, the oldest first, down to none.

Each stage is a list of ever shorter renderings. The first one that fits is found from a guess (the row's own
measured tokens per character applied to the candidates' text lengths; rendering is cheap next to tokenizing), then
by galloping and bisection, so a shortened row typically costs two or three tokenizations besides the first. A prompt
that does not fit even at the end of stage D keeps that shortest rendering and is counted as overlong; verl's
``filter_overlong_prompts`` then drops it (the exact counts made here are reused, so nothing is tokenized twice) or
the rollout left-truncates it.

The work is done once, when the dataset is built, over the whole table (``datasets.Dataset.map``, batched, so the
fast tokenizer encodes a batch on all cores; ``data.filter_overlong_prompts_workers`` processes if set), not lazily in
``__getitem__``: verl's overlong filter needs the final prompts at build time, the counts must be reported once for the
whole file (DataLoader workers are separate processes), and ``datasets`` caches the result on disk, so a resumed or
repeated run reuses it. The cost is one tokenization per row that fits as rendered (what verl's own overlong filter
pays) plus two or three per row that has to be shortened; the candidate renderings are tokenized in batches.

Our options live under ``data.reczero`` (see :class:`BudgetOptions`). Files without the structured columns (e.g. a
public RecZero parquet that only has ``prompt``) are used as stored, with one warning.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

from verl.utils.dataset.rl_dataset import RLHFDataset

from reczero_verl.contract import PromptSpec, flatten_text, prompt_spec
from reczero_verl.template import DEFAULT_VARIANT, VARIANTS, build_messages

__all__ = [
    "RecZeroDataset",
    "BudgetOptions",
    "BudgetReport",
    "Rendering",
    "RowShape",
    "PromptBudgeter",
    "STRUCTURED_COLUMNS",
    "FitStatus",
    "keep_counts",
    "halving_ladder",
    "candidate_stages",
]

logger = logging.getLogger(__name__)
# ``import verl`` sets the root logger to WARNING; like verl's own modules, take the level from VERL_LOGGING_LEVEL, so
# the one-line INFO summary reaches a training log by default.
logger.setLevel(os.getenv("VERL_LOGGING_LEVEL", "INFO"))

#: Columns of the prepared-sample contract a prompt is rendered from; a file with none of them is used as stored.
STRUCTURED_COLUMNS: tuple[str, ...] = (
    "user_history",
    "item_history",
    "target_item",
    "user_avg_rating",
    "item_avg_rating",
    "user_profile",
    "item_profile",
)


class FitStatus(enum.IntEnum):
    """Outcome of one row (an int, so that it travels in a ``datasets`` column)."""

    FIT = 0  #: fits as rendered
    SHORTENED = 1  #: shortened to fit
    OVERLONG = 2  #: still too long at its shortest
    MALFORMED = 3  #: cannot be rendered


#: Floors of the halving ladders: below these a review or a field says nothing useful.
MIN_REVIEW_CHARS = 16
MIN_FIELD_CHARS = 32

#: Rows per ``datasets.map`` batch: large enough for the fast tokenizer's parallel batch encoding, small in memory.
MAP_BATCH_SIZE = 256

# Temporary columns written by the map and removed before verl sees the table.
_STATUS_COL = "_reczero_budget_status"
_TOKENS_COL = "_reczero_prompt_tokens"
_ERROR_COL = "_reczero_budget_error"


@dataclass(frozen=True)
class BudgetOptions:
    """Our options, read from ``data.reczero`` (all optional).

    Attributes:
        variant: template variant, ``tbr`` (the paper's four sections) or ``plain`` (the no-template ablation).
        max_review_chars: review clipping of the first rendering (``None``: no clipping); the budget halves it further.
        max_field_chars: clipping of the other text fields (titles, item description, profiles) in the first
            rendering (``None``: no clipping).
        min_history: entries kept per history while reviews and fields are clipped; dropped last.
        strict: raise on the first row that cannot be rendered instead of keeping its stored prompt and counting it.
    """

    variant: str = DEFAULT_VARIANT
    max_review_chars: int | None = 400
    max_field_chars: int | None = 1500
    min_history: int = 3
    strict: bool = False

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"data.reczero.variant={self.variant!r}: expected one of {VARIANTS}")
        for name in ("max_review_chars", "max_field_chars"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"data.reczero.{name}={value!r}: expected a non-negative integer or null")
        if not isinstance(self.min_history, int) or isinstance(self.min_history, bool) or self.min_history < 0:
            raise ValueError(f"data.reczero.min_history={self.min_history!r}: expected a non-negative integer")

    @classmethod
    def from_data_config(cls, data_config: Mapping[str, Any] | None) -> BudgetOptions:
        """Read ``data_config["reczero"]``; unknown keys raise (a typo must not silently fall back to a default)."""
        section = (data_config or {}).get("reczero") or {}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"unknown option(s) data.reczero.{unknown}; known: {sorted(known)}")
        return cls(**{key: section[key] for key in section})


@dataclass(frozen=True)
class Rendering:
    """One rendering of a row: how many of the most recent history entries it keeps and how hard it clips text."""

    keep_user: int
    keep_item: int
    review_chars: int | None
    field_chars: int | None


@dataclass(frozen=True)
class RowShape:
    """What the candidate renderings of a row depend on."""

    n_user: int
    n_item: int
    longest_review: int
    longest_field: int


@dataclass(frozen=True)
class Outcome:
    """Result of fitting one row: the chosen rendering, its exact token count and its status code."""

    messages: list[dict[str, str]]
    n_tokens: int
    status: FitStatus
    error: str = ""


@dataclass(frozen=True)
class BudgetReport:
    """Counts over the whole dataset, logged once at build time and kept as ``RecZeroDataset.budget_report``."""

    rows: int
    fit: int
    shortened: int
    overlong: int
    malformed: int
    dropped_overlong: int
    max_prompt_length: int
    longest_prompt: int


def keep_counts(n_user: int, n_item: int, n_drop: int, floor: int = 0) -> tuple[int, int]:
    """Entries left in each history after dropping ``n_drop`` of the oldest, never below ``floor`` per history.

    Entries are dropped one at a time from the history that has more (the item history on ties), so the two stay
    balanced and the user's own history, the main evidence of their taste, is the last to go. A history already at
    or below ``floor`` is never shortened.
    """
    user, item = n_user, n_item
    for _ in range(n_drop):
        if item >= user and item > floor:
            item -= 1
        elif user > floor:
            user -= 1
        elif item > floor:
            item -= 1
        else:
            break
    return user, item


def halving_ladder(start: int, floor: int) -> list[int]:
    """``start // 2, start // 4, ...`` while at least ``floor`` (empty when ``start // 2 < floor``)."""
    ladder = []
    value = start // 2
    while value >= floor and value > 0:
        ladder.append(value)
        value //= 2
    return ladder


def _cap(limit: int | None, longest: int) -> int:
    """The clipping that actually matters: ``limit`` when set, but never above the longest text."""
    return longest if limit is None else min(limit, longest)


def candidate_stages(shape: RowShape, options: BudgetOptions) -> list[list[Rendering]]:
    """The shortening stages A-D of a row (see the module docstring), each a list of ever shorter plans.

    Stage A starts from the full rendering with the configured clipping, and each later stage from the last plan of
    the stage before. Steps that could not change the text (halving a budget that is already above the longest
    review) are left out, so each plan is shorter in characters than the one before.
    """
    review = options.max_review_chars
    field = options.max_field_chars
    floor = options.min_history
    droppable = max(shape.n_user - floor, 0) + max(shape.n_item - floor, 0)
    stage_a = [
        Rendering(*keep_counts(shape.n_user, shape.n_item, k, floor), review, field) for k in range(1, droppable + 1)
    ]
    user, item = keep_counts(shape.n_user, shape.n_item, droppable, floor)

    reviews = halving_ladder(_cap(review, shape.longest_review), MIN_REVIEW_CHARS)
    if (user or item) and shape.longest_review > 0:
        reviews.append(0)
    else:
        reviews = []
    stage_b = [Rendering(user, item, r, field) for r in reviews]
    review = reviews[-1] if reviews else review

    fields_ = halving_ladder(_cap(field, shape.longest_field), MIN_FIELD_CHARS)
    stage_c = [Rendering(user, item, review, f) for f in fields_]
    field = fields_[-1] if fields_ else field

    stage_d = [Rendering(*keep_counts(user, item, k, 0), review, field) for k in range(1, user + item + 1)]
    return [stage_a, stage_b, stage_c, stage_d]


def _first_fit_in_stage(
    stage: Sequence[Rendering], budget: int, guess: int
) -> Generator[Rendering, int, tuple[int, int] | tuple[None, int]]:
    """Find the first plan of ``stage`` that fits, starting at ``guess``; the caller sends back token counts.

    Plans are assumed to fit from some index on (they get shorter in tokens as they get shorter in text, true up to
    rare tokenizer merges; the returned plan was measured, so a wrong assumption costs a little text, never an
    overflow). From the guess it gallops (steps 1, 2, 4, ...) towards the boundary, then bisects the bracket, so a
    good guess costs two measurements. Returns ``(index, n_tokens)`` of the first fitting plan, or
    ``(None, n_tokens of the last plan)`` when even the last plan does not fit.
    """
    last = len(stage) - 1
    lo, hi, n_hi = -1, None, 0  # stage[lo] known too long (-1: the plan before the stage); stage[hi] known to fit
    n = yield stage[guess]
    if n <= budget:
        hi, n_hi = guess, n
        step = 1
        while hi - step > lo:  # gallop back towards less shortened plans
            probe = hi - step
            n = yield stage[probe]
            if n > budget:
                lo = probe
                break
            hi, n_hi, step = probe, n, step * 2
    else:
        lo, step = guess, 1
        while hi is None:  # gallop forward towards more shortened plans, ending on the last one
            if lo == last:
                return None, n
            probe = min(lo + step, last)
            n = yield stage[probe]
            if n <= budget:
                hi, n_hi = probe, n
            else:
                lo, step = probe, step * 2
    while hi - lo > 1:  # bisect (lo, hi)
        mid = (lo + hi) // 2
        n = yield stage[mid]
        if n <= budget:
            hi, n_hi = mid, n
        else:
            lo = mid
    return hi, n_hi


def _guess(stage: Sequence[Rendering], budget: int, tokens_per_char: float, chars: Callable[[Rendering], int]) -> int:
    """Index of the first plan whose text length, times the row's measured tokens per character, fits the budget.

    Bisects on the text lengths (renderings are cheap next to tokenizations and are cached by the caller).
    """
    lo, hi = 0, len(stage) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if chars(stage[mid]) * tokens_per_char <= budget:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _search(
    shape: RowShape, options: BudgetOptions, budget: int, chars: Callable[[Rendering], int]
) -> Generator[Rendering, int, tuple[Rendering, int, int]]:
    """Yield the plans of one row to measure (the caller sends back token counts); return the chosen one.

    The full rendering comes first: most rows fit as they are, at the cost of one tokenization. Otherwise stages A-D
    are searched in turn (see :func:`candidate_stages`), each from a guess derived from the tokens per character
    measured on this very row. Returns ``(plan, n_tokens, status)``; an overlong row returns its shortest plan.
    """
    plan = Rendering(shape.n_user, shape.n_item, options.max_review_chars, options.max_field_chars)
    n = yield plan
    if n <= budget:
        return plan, n, FitStatus.FIT
    for stage in candidate_stages(shape, options):
        if not stage:
            continue
        guess = _guess(stage, budget, n / max(chars(plan), 1), chars)
        index, n_index = yield from _first_fit_in_stage(stage, budget, guess)
        if index is not None:
            return stage[index], n_index, FitStatus.SHORTENED
        plan, n = stage[-1], n_index
    return plan, n, FitStatus.OVERLONG


def _history(row: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = row.get(key)
    return [] if value is None else list(value)


def _text_len(value: Any) -> int:
    """Length of a text field as rendered (:func:`reczero_verl.contract.flatten_text`); sets where the ladders start."""
    return len(flatten_text(value) or "")


def row_shape(row: Mapping[str, Any]) -> RowShape:
    """Measure what the candidate renderings of ``row`` depend on."""
    user = _history(row, "user_history")
    item = _history(row, "item_history")
    reviews = [_text_len(entry.get("review")) for entry in user + item]
    texts = [_text_len(entry.get("title")) for entry in user]
    target = row.get("target_item") or {}
    texts += [_text_len(value) for key, value in target.items() if key != "item_id"]
    texts += [_text_len(row.get("user_profile")), _text_len(row.get("item_profile"))]
    for candidate in _history(row, "candidates"):
        texts += [_text_len(value) for key, value in candidate.items() if key not in ("item_id", "avg_rating")]
    return RowShape(len(user), len(item), max(reviews, default=0), max(texts, default=0))


def render_plan(row: Mapping[str, Any], plan: Rendering, variant: str, spec: PromptSpec) -> list[dict[str, str]]:
    """Render ``row`` as chat messages keeping the ``plan``'s most recent history entries and clipping."""
    user = _history(row, "user_history")
    item = _history(row, "item_history")
    view = dict(row)
    view["user_history"] = user[len(user) - plan.keep_user :]
    view["item_history"] = item[len(item) - plan.keep_item :]
    return build_messages(
        view,
        variant=variant,
        rating_min=spec.rating_min,
        rating_max=spec.rating_max,
        max_review_chars=plan.review_chars,
        max_field_chars=plan.field_chars,
        task=spec.task,
        like_threshold=spec.like_threshold,
    )


def _rendered_chars(render: Callable[[Rendering], list[dict[str, str]]], plan: Rendering) -> int:
    """Characters of a plan's rendering (what the token-count guesses scale with)."""
    return sum(len(message["content"]) for message in render(plan))


def _token_ids(tokenized: Any) -> list[list[int]]:
    """Token ids of a batched ``apply_chat_template(tokenize=True)``: a BatchEncoding (transformers 5) or lists."""
    ids = tokenized["input_ids"] if isinstance(tokenized, Mapping) or hasattr(tokenized, "keys") else tokenized
    return [list(x) for x in ids]


class PromptBudgeter:
    """Renders rows and fits them into a token budget; picklable, so ``datasets.map`` can ship it to workers."""

    def __init__(
        self,
        tokenizer: Any,
        options: BudgetOptions,
        max_prompt_length: int,
        chat_template_kwargs: Mapping[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.options = options
        self.max_prompt_length = int(max_prompt_length)
        kwargs = dict(chat_template_kwargs or {})
        # We always ask for token ids, as verl does; these would only change the return type.
        for key in ("tokenize", "return_dict", "return_tensors", "add_generation_prompt"):
            kwargs.pop(key, None)
        self.chat_template_kwargs = kwargs
        self.tools = tools

    def count_tokens(self, conversations: Sequence[list[dict[str, str]]]) -> list[int]:
        """Exact prompt token counts, as verl's rollout tokenizes them (one batched call: Rust encodes in parallel)."""
        if not conversations:
            return []
        try:
            out = self.tokenizer.apply_chat_template(
                list(conversations),
                add_generation_prompt=True,
                tokenize=True,
                tools=self.tools,
                **self.chat_template_kwargs,
            )
            return [len(ids) for ids in _token_ids(out)]
        except Exception:  # some templates need verl's per-conversation fallback (a user turn first); retry with it
            from verl.utils.tokenizer import normalize_token_ids
            from verl.utils.tokenizer.chat_template import apply_chat_template

            return [
                len(
                    normalize_token_ids(
                        apply_chat_template(
                            self.tokenizer,
                            messages,
                            tokenize=True,
                            add_generation_prompt=True,
                            tools=self.tools,
                            **self.chat_template_kwargs,
                        )
                    )
                )
                for messages in conversations
            ]

    def fit_rows(
        self,
        rows: Sequence[Mapping[str, Any]],
        prompt_key: str = "prompt",
        row_ids: Sequence[int] | None = None,
    ) -> list[Outcome]:
        """Fit every row, measuring the candidate renderings of all rows in lockstep batches.

        A row that cannot be rendered (missing rating, invalid scale, ...) keeps its stored ``prompt_key`` messages
        and is reported as ``MALFORMED`` with the error (naming ``row_ids[i]`` and its ``extra_info.index``); under
        ``strict`` it raises instead.
        """
        ids = list(row_ids) if row_ids is not None else list(range(len(rows)))

        def describe(i: int, err: Exception) -> str:
            extra = rows[i].get("extra_info") or {}
            index = extra.get("index") if isinstance(extra, Mapping) else None
            return f"row {ids[i]} (extra_info.index={index}): {type(err).__name__}: {err}"

        outcomes: list[Outcome | None] = [None] * len(rows)
        active: dict[
            int,
            tuple[Generator[Rendering, int, tuple[Rendering, int, int]], dict[Rendering, list], Rendering, PromptSpec],
        ] = {}
        failed: dict[int, str] = {}

        def render(i: int, plan: Rendering, cache: dict[Rendering, list], spec: PromptSpec) -> list[dict[str, str]]:
            if plan not in cache:
                cache[plan] = render_plan(rows[i], plan, self.options.variant, spec)
            return cache[plan]

        for i, row in enumerate(rows):
            try:
                spec = prompt_spec(row.get("extra_info"))
                cache: dict[Rendering, list] = {}
                chars = partial(_rendered_chars, partial(render, i, cache=cache, spec=spec))
                search = _search(row_shape(row), self.options, self.max_prompt_length, chars)
                plan = next(search)
                render(i, plan, cache, spec)
                active[i] = (search, cache, plan, spec)
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                failed[i] = describe(i, err)

        while active:
            order = list(active)
            counts = self.count_tokens([active[i][1][active[i][2]] for i in order])
            for i, n_tokens in zip(order, counts, strict=True):
                search, cache, plan, spec = active[i]
                try:
                    nxt = search.send(n_tokens)
                    render(i, nxt, cache, spec)
                    active[i] = (search, cache, nxt, spec)
                except StopIteration as stop:
                    chosen, n_chosen, status = stop.value
                    outcomes[i] = Outcome(cache[chosen], n_chosen, status)
                    del active[i]
                except (KeyError, TypeError, ValueError, AttributeError) as err:
                    failed[i] = describe(i, err)
                    del active[i]

        if failed:
            if self.options.strict:
                raise ValueError(f"cannot render {next(iter(failed.values()))} (data.reczero.strict=true)")
            stored = [[dict(m) for m in (rows[i].get(prompt_key) or [])] for i in failed]
            for (i, error), messages, n_tokens in zip(failed.items(), stored, self.count_tokens(stored), strict=True):
                outcomes[i] = Outcome(messages, n_tokens, FitStatus.MALFORMED, error)
        return [outcome for outcome in outcomes if outcome is not None]


def _map_fingerprint(previous: str, budgeter: PromptBudgeter, prompt_key: str) -> str:
    """Cache key of the re-rendering ``map``: everything its result depends on, our source code included.

    ``datasets`` would hash the mapped function by reference only, so an upgraded template or search would silently
    reuse prompts cached by an older version; hashing the source of the modules involved rules that out.
    """
    from datasets.fingerprint import Hasher

    from reczero_verl import reward, template

    sources = [Path(module.__file__).read_bytes() for module in (sys.modules[__name__], template, reward)]
    return Hasher.hash(
        [
            previous,
            sources,
            budgeter.options,
            budgeter.max_prompt_length,
            budgeter.chat_template_kwargs,
            budgeter.tools,
            prompt_key,
            getattr(budgeter.tokenizer, "chat_template", None),
            budgeter.tokenizer,
        ]
    )


def _budget_batch(
    batch: Mapping[str, list], indices: list[int], *, budgeter: PromptBudgeter, prompt_key: str
) -> dict[str, list]:
    """``datasets.map`` function (batched): new prompts plus the temporary status, token-count and error columns."""
    n_rows = len(indices)
    rows = [{key: batch[key][j] for key in batch} for j in range(n_rows)]
    outcomes = budgeter.fit_rows(rows, prompt_key=prompt_key, row_ids=indices)
    return {
        prompt_key: [o.messages for o in outcomes],
        _STATUS_COL: [o.status for o in outcomes],
        _TOKENS_COL: [o.n_tokens for o in outcomes],
        _ERROR_COL: [o.error for o in outcomes],
    }


class RecZeroDataset(RLHFDataset):
    """verl's ``RLHFDataset`` with prompts re-rendered from the structured columns and fitted to the token budget.

    Built by verl as ``RecZeroDataset(data_files=, tokenizer=, config=, processor=, max_samples=)``; options come from
    ``config.reczero`` (:class:`BudgetOptions`). After construction ``budget_report`` holds the counts (``None`` when
    the files have no structured columns and prompts were used as stored).
    """

    def __init__(
        self,
        data_files: str | list[str],
        tokenizer: Any,
        config: Any,
        processor: Any = None,
        max_samples: int = -1,
    ) -> None:
        self.budget_options = BudgetOptions.from_data_config(config)
        self.budget_report: BudgetReport | None = None
        super().__init__(
            data_files=data_files, tokenizer=tokenizer, config=config, processor=processor, max_samples=max_samples
        )

    def maybe_filter_out_long_prompts(self, dataframe: Any = None) -> Any:
        """Re-render and fit every prompt (then apply verl's overlong filter with the exact counts made here).

        verl calls this from ``_read_files_and_tokenize`` after loading the files and selecting ``max_samples``.
        """
        structured = [c for c in STRUCTURED_COLUMNS if c in dataframe.column_names]
        if not structured:
            logger.warning(
                "%s: none of the structured columns %s; prompts are used as stored (no re-rendering, no token "
                "budget; verl's filter_overlong_prompts=%s applies)",
                self.data_files,
                list(STRUCTURED_COLUMNS),
                self.filter_overlong_prompts,
            )
            return super().maybe_filter_out_long_prompts(dataframe)
        if len(dataframe) == 0:  # nothing to render; ``map`` would not even add the status columns
            self.budget_report = BudgetReport(0, 0, 0, 0, 0, 0, self.max_prompt_length, 0)
            logger.warning("%s: no rows to render", self.data_files)
            return dataframe

        budgeter = PromptBudgeter(
            self.tokenizer,
            self.budget_options,
            self.max_prompt_length,
            self.apply_chat_template_kwargs,
            tools=self.tool_schemas,
        )
        num_proc = self.num_workers if self.num_workers and self.num_workers > 1 else None
        dataframe = dataframe.map(
            partial(_budget_batch, budgeter=budgeter, prompt_key=self.prompt_key),
            batched=True,
            batch_size=MAP_BATCH_SIZE,
            with_indices=True,
            num_proc=num_proc,
            new_fingerprint=_map_fingerprint(dataframe._fingerprint, budgeter, self.prompt_key),
            desc=f"Fitting prompts into {self.max_prompt_length} tokens",
        )
        dataframe, self.budget_report = self._report(dataframe)
        return dataframe.remove_columns([_STATUS_COL, _TOKENS_COL, _ERROR_COL])

    def _report(self, dataframe: Any) -> tuple[Any, BudgetReport]:
        """Count the outcomes, log them, and drop overlong rows when ``data.filter_overlong_prompts`` asks for it."""
        statuses = dataframe[_STATUS_COL]
        tokens = dataframe[_TOKENS_COL]
        counts = dict.fromkeys(FitStatus, 0)
        for code in statuses:
            counts[code] += 1
        too_long = sum(1 for n in tokens if n > self.max_prompt_length)
        if counts[FitStatus.MALFORMED]:
            errors = [e for s, e in zip(statuses, dataframe[_ERROR_COL], strict=True) if s == FitStatus.MALFORMED]
            logger.warning(
                "%s: %d row(s) could not be rendered from their structured columns and keep their stored prompt "
                "(set data.reczero.strict=true to stop instead); first: %s",
                self.data_files,
                len(errors),
                "; ".join(errors[:5]),
            )
        dropped = 0
        if self.filter_overlong_prompts and too_long:
            before = len(dataframe)
            limit = self.max_prompt_length
            dataframe = dataframe.filter(
                lambda n: n <= limit, input_columns=_TOKENS_COL, desc=f"Dropping prompts over {limit} tokens"
            )
            dropped = before - len(dataframe)
        report = BudgetReport(
            rows=len(statuses),
            fit=counts[FitStatus.FIT],
            shortened=counts[FitStatus.SHORTENED],
            overlong=counts[FitStatus.OVERLONG],
            malformed=counts[FitStatus.MALFORMED],
            dropped_overlong=dropped,
            max_prompt_length=self.max_prompt_length,
            longest_prompt=max(tokens, default=0),
        )
        logger.info(
            "reczero prompts (variant=%s, max_prompt_length=%d): %d rows, %d fit as rendered, %d shortened to fit, "
            "%d still overlong, %d malformed; longest prompt %d tokens; %d overlong row(s) dropped",
            self.budget_options.variant,
            self.max_prompt_length,
            report.rows,
            report.fit,
            report.shortened,
            report.overlong,
            report.malformed,
            report.longest_prompt,
            report.dropped_overlong,
        )
        if too_long and not self.filter_overlong_prompts:
            logger.warning(
                "%d prompt(s) exceed max_prompt_length=%d even at their shortest; with filter_overlong_prompts=False "
                "verl's rollout will left-truncate them (cutting the system prompt). Raise data.max_prompt_length or "
                "set data.filter_overlong_prompts=True to drop them.",
                too_long,
                self.max_prompt_length,
            )
        elif dropped:
            logger.warning(
                "%d prompt(s) exceed max_prompt_length=%d even at their shortest and were dropped "
                "(data.filter_overlong_prompts=True)",
                dropped,
                self.max_prompt_length,
            )
        return dataframe, report
