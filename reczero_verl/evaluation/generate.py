# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl generate``: responses of a model for every row of a prepared parquet, as resumable JSON lines.

One JSON object per line and per sample: ``index`` (the row's ``extra_info.index``), ``user_id`` and ``item_id`` (the
row's, so ``evaluate`` can tell generations made for another data file), ``sample`` (0..K-1), ``response`` (the
generated text, special tokens removed, as verl's reward sees it), ``prefix`` (text the chat template pre-filled in
the prompt, e.g. ``<analyze user>``; ``evaluate`` prepends it, like the reward's ``prefilled_prefix``),
``prompt_tokens``, ``finish_reason`` (``stop`` or ``length``) and ``n_tokens`` (generated tokens). The file is
append-only and flushed after every record; a rerun with the same ``--output`` skips the ``(index, sample)`` pairs
already written (a partial last line left by a kill is cut first), and refuses to mix settings or data: the settings
and a fingerprint of the data file's content are kept beside the output in ``<output>.settings.json``, and every
written line's ``user_id`` / ``item_id`` must match its row. An output of an older ``generate`` (lines without the two
ids) is not resumed: write to a new ``--output`` (the old file still evaluates with ``evaluate --index-only``).

Exit codes: 0 done; 2 bad input (a missing model folder, a data file that is not parquet, a resumed output made with
other settings or for other data), with one message naming the file and the fix.

Prompts: the stored ``prompt`` column rendered with the model's chat template (or ``--chat-template FILE``, or
``--prefill`` for :func:`reczero_verl.template.prefill_chat_template`). With ``--max-prompt-tokens N`` each prompt is
re-rendered from the structured columns and fitted into N tokens by the training dataset's own budgeter
(:class:`reczero_verl.dataset.PromptBudgeter`), so the model is evaluated on prompts shaped like its training prompts.

Backends: vLLM when importable (the ``gpu`` extra), else transformers (batched, left padding; CPU or one GPU).
Temperature 0 is greedy decoding. With temperature > 0, sampling is seeded: vLLM gets one seed per ``(index, sample)``
(reproducible whatever the batching); transformers seeds torch once per batch from the batch's pairs (reproducible for
the same batches, so a resumed run may draw different samples than an uninterrupted one).

``--rating-logits`` adds the paper's "logit-weighted" comparison point to each record (transformers only: vLLM returns
only the top-k log-probabilities, which need not include every rating value). The response is cut after its last
``<rate>`` (or ``<rate>`` is appended when it has none, ``rating_logits_forced``), one forward pass reads the next-token
distribution, and each integer rating value ``v`` of the row's scale gets ``P(v)``: the probability of the tokens of
``str(v)`` (a product of conditionals when ``v`` is several tokens, e.g. ``10`` for digit-split tokenizers), minus the
probability of every longer rating value that starts with the same tokens (so ``1`` does not also count ``10``). These
are normalised over the values (``rating_logits_probs``; ``rating_logits_mass`` is their total before normalising) and
``rating_logits_expected = sum_v v * P(v)``. It reads a rating, so it is refused for a ``--data`` file (or ``--limit``
selection) with ranking or like rows (``generate`` itself is the same for every task: each row's stored prompt).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from reczero_verl.contract import prompt_messages
from reczero_verl.durable import DurableAppender, exclusive_lock, write_json_atomic
from reczero_verl.errors import EXIT_OK
from reczero_verl.evaluation.data import (
    EvaluationInputError,
    check_record,
    file_fingerprint,
    first_few,
    read_parquet,
    targets_from_frame,
)
from reczero_verl.options import (
    add_option,
    as_paths,
    check_options,
    from_args,
    non_negative_float,
    non_negative_int,
    option,
    positive_float,
    positive_int,
)
from reczero_verl.template import DEFAULT_VARIANT, VARIANTS

logger = logging.getLogger(__name__)

__all__ = [
    "GenerateConfig",
    "GenerateResult",
    "generate",
    "configure_parser",
    "config_from_args",
    "main",
    "read_done",
    "read_done_pairs",
    "check_model",
    "check_rating_logits",
    "rating_values",
    "value_probabilities",
    "response_context",
]

BACKENDS: tuple[str, ...] = ("auto", "vllm", "transformers")

RATE_OPEN = "<rate>"
#: Settings that must not change between a run and its resumption (they change what a record means).
RESUME_KEYS: tuple[str, ...] = (
    "model",
    "data_fingerprint",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "prefix",
    "chat_template",
    "rating_logits",
    "max_prompt_tokens",
    "variant",
)


@dataclass(frozen=True)
class GenerateConfig:
    """What ``reczero-verl generate`` takes (see :func:`configure_parser` for each option); a value out of range
    raises :class:`~reczero_verl.errors.BadInputError` naming the option."""

    model: str
    data: Path
    output: Path
    n: int = option("--n", positive_int, default=1)
    temperature: float = option(rule=non_negative_float, default=0.0)
    top_p: float = option(rule=positive_float, default=1.0)
    max_tokens: int = option(rule=positive_int, default=1024)
    seed: int = option(rule=non_negative_int, default=0)
    limit: int | None = option(rule=positive_int, default=None)
    backend: str = option(choices=BACKENDS, default="auto")
    batch_size: int = option(rule=positive_int, default=8)
    dtype: str = "auto"
    prefill: bool = False
    chat_template: Path | None = None
    prefix: str = ""
    rating_logits: bool = False
    max_prompt_tokens: int | None = option(rule=positive_int, default=None)
    variant: str = option(choices=VARIANTS, default=DEFAULT_VARIANT)
    tensor_parallel_size: int = option(rule=positive_int, default=1)
    gpu_memory_utilization: float = option(rule=positive_float, default=0.9)
    max_model_len: int | None = option(rule=positive_int, default=None)

    def __post_init__(self) -> None:
        as_paths(self, "data", "output", "chat_template")
        object.__setattr__(self, "model", str(self.model))
        check_options(self)
        if self.prefill and self.chat_template is not None:
            raise EvaluationInputError("--prefill and --chat-template exclude each other; pass one of them")
        if self.prefix and not self.prefill and self.chat_template is None:
            raise EvaluationInputError("--prefix is only meaningful with --chat-template")


@dataclass(frozen=True)
class GenerateResult:
    """What a :func:`generate` run did."""

    output: Path
    already_done: int  #: ``(index, sample)`` pairs the output held before this run
    written: int  #: records this run appended


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``reczero-verl generate``."""
    add = partial(add_option, parser, GenerateConfig)
    add("model", "model folder (save_pretrained layout, with its tokenizer)")
    add("data", "prepared parquet (e.g. test.parquet)")
    add("output", "JSON-lines file to write or resume")
    add("n", "samples per prompt, K")
    add("temperature", "sampling temperature; 0: greedy decoding")
    add("top_p", "nucleus sampling threshold")
    add("max_tokens", "maximum new tokens per response")
    add("seed", "sampling seed")
    add("limit", "only the first N rows by extra_info.index; unset: every row")
    add("backend", "generation engine")
    add("batch_size", "transformers: prompts per batch")
    add("dtype", "model dtype: auto, bfloat16, float16 or float32")
    template = parser.add_mutually_exclusive_group()
    add_option(
        template,
        GenerateConfig,
        "prefill",
        "use the ChatML template that pre-fills '<analyze user>' (template.prefill_chat_template) and record it "
        "as the prefix",
        action="store_true",
    )
    add_option(template, GenerateConfig, "chat_template", "Jinja chat template file replacing the tokenizer's")
    add("prefix", "with --chat-template: the text it pre-fills after the prompt")
    add("rating_logits", "also the expected rating from <rate> logits", action="store_true")
    add(
        "max_prompt_tokens",
        "re-render each prompt from the structured columns and fit it into N tokens exactly as the training dataset "
        "does (reczero_verl.dataset, data.max_prompt_length); unset: the stored prompt as is",
    )
    add("variant", "with --max-prompt-tokens: template variant of the re-rendered prompts")
    add("tensor_parallel_size", "vLLM: GPUs per model")
    add("gpu_memory_utilization", "vLLM: share of GPU memory")
    add("max_model_len", "vLLM: context length; unset: the model's")


def config_from_args(args: argparse.Namespace) -> GenerateConfig:
    """The typed config of a parsed ``reczero-verl generate`` command line."""
    return from_args(GenerateConfig, args)


# ----------------------------------------------------------------------------------------------- resumable output


#: The written ``(user_id, item_id)`` of a done ``(index, sample)`` pair; None for a line of an older generate.
DoneIds = tuple[str | None, str | None] | None


def read_done(path: Path) -> dict[tuple[int, int], DoneIds]:
    """``(index, sample)`` pairs already in ``path`` with their ``(user_id, item_id)``; a partial last line (an
    interrupted write) is ignored.

    Any other malformed line (see :func:`~reczero_verl.evaluation.data.check_record`) or a repeated pair raises
    :class:`EvaluationInputError` naming it: the file was edited or is not ours.
    """
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise EvaluationInputError(
            f"--output {path} cannot be read as JSON lines ({err}); use another --output"
        ) from None
    lines = text.split("\n")
    done: dict[tuple[int, int], DoneIds] = {}
    for line_no, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            raise EvaluationInputError(
                f"--output {path}: line {line_no} is not JSON ({err}); use another --output"
            ) from None
        problem = check_record(record)
        if problem:
            raise EvaluationInputError(
                f"--output {path}: line {line_no} is not a generation record ({problem}); use another --output"
            )
        pair = (record["index"], record["sample"])
        if pair in done:
            raise EvaluationInputError(f"--output {path}: line {line_no} repeats (index, sample) {pair}")
        done[pair] = (record["user_id"], record["item_id"]) if "user_id" in record and "item_id" in record else None
    return done


def read_done_pairs(path: Path) -> set[tuple[int, int]]:
    """``(index, sample)`` pairs already in ``path`` (see :func:`read_done`)."""
    return set(read_done(path))


def _refuse_older_output(path: Path, done: Mapping[tuple[int, int], DoneIds]) -> None:
    """Refuse to resume an output of an older ``generate``: its lines cannot be checked against the data."""
    legacy = sum(1 for ids in done.values() if ids is None)
    if legacy:
        raise EvaluationInputError(
            f"--output {path} was written by an older `reczero-verl generate`: {legacy} line(s) carry no "
            "user_id / item_id, so resuming could mix the rows of two data files. Write to a new --output (the old "
            "file can still be evaluated with `reczero-verl evaluate --index-only`)"
        )


def _check_done_rows(path: Path, done: Mapping[tuple[int, int], DoneIds], targets: pd.DataFrame, data: str) -> None:
    """Refuse to resume an output whose lines were written for other rows than ``targets`` (all rows of ``data``)."""
    rows = dict(zip(targets["index"], zip(targets["user_id"], targets["item_id"], strict=True), strict=True))
    for pair in sorted(done):
        expected = rows.get(pair[0])
        if expected != done[pair]:
            found = "is not in it" if expected is None else f"is user {expected[0]!r} / item {expected[1]!r} there"
            raise EvaluationInputError(
                f"--output {path} holds generations for other rows than --data {data}: extra_info.index {pair[0]} "
                f"(sample {pair[1]}) was written for user {done[pair][0]!r} / item {done[pair][1]!r} but {found}. "
                "Use the --data file it was made for, or a new --output"
            )


@contextmanager
def _locked_appender(path: Path) -> Iterator[DurableAppender]:
    """Open ``path`` for durable appending under an exclusive lock (two runs must not write the same file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    busy = EvaluationInputError(f"another generate run is writing {path}")
    with exclusive_lock(path.with_name(path.name + ".lock"), busy), DurableAppender(path) as out:
        yield out


def _check_settings(path: Path, settings: dict[str, Any], resuming: bool) -> None:
    """Write ``settings`` beside the output, or check them against those of the run being resumed."""
    settings_path = path.with_name(path.name + ".settings.json")
    if resuming and settings_path.exists():
        try:
            previous = json.loads(settings_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise EvaluationInputError(f"{settings_path} is not readable JSON ({err}); use another --output") from None
        if not isinstance(previous, dict):
            raise EvaluationInputError(f"{settings_path} is not a settings object; use another --output")
        if previous.get("data_fingerprint") != settings["data_fingerprint"]:
            raise EvaluationInputError(
                f"--output {path} was started on other data: the content of --data {settings['data']} differs from "
                f"that of {previous.get('data')!r} it was made for (fingerprint {previous.get('data_fingerprint')}); "
                "use that data file, or a new --output"
            )
        changed = [k for k in RESUME_KEYS if previous.get(k) != settings.get(k)]
        if changed:
            diffs = [f"{k}: {previous.get(k)!r} -> {settings.get(k)!r}" for k in changed]
            raise EvaluationInputError(
                f"{path} was written with other settings ({first_few(diffs)}); use another --output"
            )
    elif resuming:
        logger.warning(
            "%s: no %s to check the resumed settings against (every line's user/item was checked against --data)",
            path,
            settings_path.name,
        )
    write_json_atomic(settings, settings_path)


# --------------------------------------------------------------------------------------------- rating logits


def rating_values(rating_min: float, rating_max: float) -> list[int]:
    """The integer rating values of a scale (``1..5``, ``1..10``)."""
    return list(range(math.ceil(rating_min), math.floor(rating_max) + 1))


def response_context(response: str, prefix: str = "") -> tuple[str, bool]:
    """The response up to and including its last ``<rate>`` (counting the pre-filled ``prefix``), and whether
    ``<rate>`` had to be appended because the response has none. The returned text excludes ``prefix`` (the prompt
    already ends with it)."""
    full = prefix + response
    pos = full.rfind(RATE_OPEN)
    if pos < 0:
        return response + RATE_OPEN, True
    return full[len(prefix) : pos + len(RATE_OPEN)], False


def value_probabilities(
    token_logprob: Any, value_tokens: Mapping[int, Sequence[int]]
) -> tuple[dict[int, float], float]:
    """Exclusive probability of each rating value from a conditional log-probability function.

    ``token_logprob(prefix_tokens, token)`` returns ``log P(token | context + prefix_tokens)``. ``P(v)`` is the
    product of the conditionals of ``v``'s tokens, minus ``P(w)`` of every other value ``w`` whose tokens start with
    ``v``'s (clamped at 0). Returns the normalised probabilities and their total before normalising.
    """
    joint: dict[int, float] = {}
    for value, tokens in value_tokens.items():
        logp = sum(token_logprob(tuple(tokens[:j]), tokens[j]) for j in range(len(tokens)))
        joint[value] = math.exp(logp)
    exclusive = {}
    for value, tokens in value_tokens.items():
        longer = sum(
            joint[w]
            for w, other in value_tokens.items()
            if w != value and len(other) > len(tokens) and tuple(other[: len(tokens)]) == tuple(tokens)
        )
        exclusive[value] = max(joint[value] - longer, 0.0)
    mass = sum(exclusive.values())
    if mass <= 0.0:
        return {v: 1.0 / len(exclusive) for v in exclusive}, 0.0
    return {v: p / mass for v, p in exclusive.items()}, mass


def _value_tokens(tokenizer: Any, values: Sequence[int]) -> dict[int, tuple[int, ...]]:
    tokens = {v: tuple(tokenizer(str(v), add_special_tokens=False)["input_ids"]) for v in values}
    multi = [v for v, t in tokens.items() if len(t) != 1]
    if multi:
        logger.info("rating values %s are several tokens for this tokenizer: their probability is a product", multi)
    return tokens


def _rating_logits(model: Any, tokenizer: Any, context_text: str, value_tokens: Mapping[int, Sequence[int]]) -> Any:
    """``(probs, mass)`` of :func:`value_probabilities` with one batched forward pass of ``model``."""
    import torch

    context = tokenizer(context_text, add_special_tokens=False)["input_ids"]
    extensions = sorted({tuple(t[:-1]) for t in value_tokens.values()}, key=len, reverse=True)
    longest = len(extensions[0])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = [context + list(e) + [pad] * (longest - len(e)) for e in extensions]
    mask = [[1] * (len(context) + len(e)) + [0] * (longest - len(e)) for e in extensions]
    device = next(model.parameters()).device
    with torch.no_grad():
        logits = model(
            input_ids=torch.tensor(ids, device=device), attention_mask=torch.tensor(mask, device=device)
        ).logits
    logprobs = torch.log_softmax(logits[:, len(context) - 1 :, :].float(), dim=-1).cpu()
    row_of = {e: k for k, e in enumerate(extensions)}

    def token_logprob(prefix: tuple[int, ...], token: int) -> float:
        # A row whose extension starts with ``prefix`` holds P(. | context + prefix) at offset len(prefix).
        row = next(row_of[e] for e in extensions if e[: len(prefix)] == prefix)
        return float(logprobs[row, len(prefix), token])

    return value_probabilities(token_logprob, value_tokens)


# ------------------------------------------------------------------------------------------------- backends


def _seed_for(seed: int, pairs: Sequence[tuple[int, int]]) -> int:
    digest = hashlib.sha256(f"{seed}:{list(pairs)}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _eos_ids(tokenizer: Any, model: Any) -> set[int]:
    """Token ids that end a generation: the tokenizer EOS and the model generation_config EOS (an int or a list)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(t) for t in configured)
    return ids


@dataclass(frozen=True)
class _Job:
    """One ``(index, sample)`` pair to generate, with its rendered prompt."""

    index: int
    user_id: str
    item_id: str
    sample: int
    prompt_text: str
    prompt_ids: list[int]
    scale: tuple[float, float]


def _generate_transformers(
    jobs: Sequence[_Job], config: GenerateConfig, tokenizer: Any, model: Any
) -> Iterator[tuple[_Job, str, str, int]]:
    """Yield ``(job, response, finish_reason, n_tokens)`` batch by batch (left padding)."""
    import torch

    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    eos = _eos_ids(tokenizer, model)
    for start in range(0, len(jobs), config.batch_size):
        batch = jobs[start : start + config.batch_size]
        encoded = tokenizer(
            [j.prompt_text for j in batch], add_special_tokens=False, padding=True, return_tensors="pt"
        ).to(device)
        kwargs: dict[str, Any] = {"max_new_tokens": config.max_tokens, "pad_token_id": tokenizer.pad_token_id}
        if config.temperature > 0:
            torch.manual_seed(_seed_for(config.seed, [(j.index, j.sample) for j in batch]))
            kwargs.update(do_sample=True, temperature=config.temperature, top_p=config.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.no_grad():
            out = model.generate(**encoded, **kwargs)
        new = out[:, encoded["input_ids"].shape[1] :].tolist()
        for job, tokens in zip(batch, new, strict=True):
            end = next((k for k, t in enumerate(tokens) if t in eos), None)
            stop = end is not None
            kept = tokens[: end + 1] if stop else tokens
            text = tokenizer.decode(kept, skip_special_tokens=True)
            yield job, text, "stop" if stop else "length", len(kept)


def _generate_vllm(
    jobs: Sequence[_Job], config: GenerateConfig, llm: Any, chunk: int = 512
) -> Iterator[tuple[_Job, str, str, int]]:
    """Yield ``(job, response, finish_reason, n_tokens)`` chunk by chunk, one seeded request per sample."""
    from vllm import SamplingParams

    for start in range(0, len(jobs), chunk):
        batch = jobs[start : start + chunk]
        params = [
            SamplingParams(
                n=1,
                temperature=config.temperature,
                top_p=config.top_p if config.temperature > 0 else 1.0,
                max_tokens=config.max_tokens,
                seed=_seed_for(config.seed, [(j.index, j.sample)]),
                skip_special_tokens=True,
            )
            for j in batch
        ]
        prompts = [{"prompt_token_ids": j.prompt_ids} for j in batch]
        outputs = llm.generate(prompts, params, use_tqdm=False)
        for job, output in zip(batch, outputs, strict=True):
            completion = output.outputs[0]
            finish = "length" if completion.finish_reason == "length" else "stop"
            yield job, completion.text, finish, len(completion.token_ids)


def _use_vllm(backend: str, rating_logits: bool) -> bool:
    if backend == "transformers":
        return False
    try:
        import vllm  # noqa: F401
    except ImportError as err:
        if backend == "vllm":
            raise EvaluationInputError(
                "--backend vllm but vLLM is not installed (pip install 'reczero-verl[gpu]')"
            ) from err
        return False
    if rating_logits:
        if backend == "vllm":
            raise EvaluationInputError("--rating-logits needs the transformers backend (vLLM returns only top-k)")
        logger.info("generate: --rating-logits: using transformers, not vLLM")
        return False
    return True


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_MODEL_HINT = "pass a model folder written by save_pretrained (config.json, weights and tokenizer files)"


def check_model(model: str) -> None:
    """Refuse a ``--model`` that is a file, a folder without ``config.json``, or a missing local path.

    A missing path shaped like a Hugging Face id (``org/name``) is left to ``from_pretrained``, whose failure
    :func:`_loading_model` turns into the same kind of message.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise EvaluationInputError(f"--model {model}: the folder has no config.json; {_MODEL_HINT}")
        return
    if path.exists():
        raise EvaluationInputError(f"--model {model} is a file, not a model folder; {_MODEL_HINT}")
    if model.startswith((".", "/", "~")) or not _HUB_ID.fullmatch(model):
        raise EvaluationInputError(f"--model {model}: no such folder; {_MODEL_HINT}")


@contextmanager
def _loading_model(model: str) -> Iterator[None]:
    """Turn a tokenizer / model loading failure into one message naming ``--model``."""
    try:
        yield
    except (OSError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise EvaluationInputError(f"--model {model} cannot be loaded ({first}); {_MODEL_HINT}") from None


def _load_transformers(model_path: str, dtype: str):
    import torch
    from transformers import AutoModelForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with _loading_model(model_path):
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype if dtype != "auto" else "auto")
    model = model.to(device)
    model.eval()
    return model


# ---------------------------------------------------------------------------------------------------- command


def _chat_template(config: GenerateConfig) -> tuple[str | None, str]:
    """The chat template replacing the tokenizer's (None: keep it) and the text it pre-fills after the prompt."""
    if config.prefill:
        from reczero_verl.template import PREFILL_TEXT, prefill_chat_template

        return prefill_chat_template(), PREFILL_TEXT
    if config.chat_template is None:
        return None, config.prefix
    try:
        return config.chat_template.read_text(encoding="utf-8"), config.prefix
    except (OSError, UnicodeDecodeError) as err:
        raise EvaluationInputError(f"--chat-template {config.chat_template} cannot be read ({err})") from None


def _settings(config: GenerateConfig, template: str | None, prefix: str) -> dict[str, Any]:
    """The settings kept beside the output (see :data:`RESUME_KEYS` for those a resumed run must share)."""
    return {
        "model": config.model,
        "data": str(config.data),
        "data_fingerprint": file_fingerprint(config.data),
        "temperature": config.temperature,
        "top_p": config.top_p,
        "max_tokens": config.max_tokens,
        "seed": config.seed,
        "prefix": prefix,
        "chat_template": template,
        "rating_logits": config.rating_logits,
        "max_prompt_tokens": config.max_prompt_tokens,
        "variant": config.variant if config.max_prompt_tokens else None,
        "n": config.n,
        "limit": config.limit,
    }


def _load_rows(data: Path, limit: int | None, full: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """All targets of ``data``, the selected ones (sorted by index, first ``limit``) and their parquet rows (all
    columns when ``full``)."""
    columns = None if full else ["data_source", "reward_model", "extra_info", "prompt"]
    frame = read_parquet(data, columns)
    targets = targets_from_frame(frame, str(data))
    order = targets["index"].argsort(kind="stable").to_numpy()
    if limit is not None:
        order = order[:limit]
    return targets, targets.iloc[order].reset_index(drop=True), frame.iloc[order].reset_index(drop=True)


def check_rating_logits(targets: pd.DataFrame, data: Path) -> None:
    """Refuse ``--rating-logits`` for selected rows that are not rating rows (it reads a rating at ``<rate>``)."""
    other = targets[targets["task"] != "rating"]
    if not other.empty:
        tasks = ", ".join(sorted(set(other["task"])))
        raise EvaluationInputError(
            f"{data}: --rating-logits reads the rating at <rate> and is for rating rows only; {len(other)} selected "
            f"row(s) are {tasks} rows (first extra_info.index: {first_few(other['index'])}). Generate those without "
            "--rating-logits"
        )


def _resumable_done(output: Path, settings: dict[str, Any], targets: pd.DataFrame) -> dict[tuple[int, int], DoneIds]:
    """The pairs ``output`` already holds, after checking they were made with ``settings`` for the rows of
    ``targets`` (all rows of the data file); the settings are (re)written beside the output."""
    done = read_done(output)
    _refuse_older_output(output, done)
    _check_settings(output, settings, resuming=bool(done))
    _check_done_rows(output, done, targets, settings["data"])
    return done


def _load_tokenizer(model: str, template: str | None) -> Any:
    """The model's tokenizer, with ``template`` as its chat template when given and a pad token."""
    from transformers import AutoTokenizer

    with _loading_model(model):
        tokenizer = AutoTokenizer.from_pretrained(model)
    if template is not None:
        tokenizer.chat_template = template
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _stored_messages(frame: pd.DataFrame, data: Path) -> list[list[dict[str, str]]]:
    messages = []
    for pos, prompt in enumerate(frame["prompt"]):
        try:
            messages.append(prompt_messages(prompt))
        except ValueError as err:
            raise EvaluationInputError(f"{data}: row {pos}: {err}") from None
    return messages


def _budgeted_messages(frame: pd.DataFrame, tokenizer: Any, max_tokens: int, variant: str) -> list[Any]:
    """Prompts re-rendered and fitted into ``max_tokens`` by the training dataset's own budgeter."""
    from reczero_verl.dataset import BudgetOptions, FitStatus, PromptBudgeter

    budgeter = PromptBudgeter(tokenizer, BudgetOptions(variant=variant), max_tokens)
    rows = frame.to_dict("records")
    outcomes = budgeter.fit_rows(rows)
    overlong = [
        int(r["extra_info"]["index"]) for r, o in zip(rows, outcomes, strict=True) if o.status == FitStatus.OVERLONG
    ]
    if overlong:
        logger.warning(
            "generate: %d prompt(s) exceed %d tokens even at their shortest: %s",
            len(overlong),
            max_tokens,
            first_few(overlong),
        )
    return [[{"role": m["role"], "content": m["content"]} for m in o.messages] for o in outcomes]


def _jobs(
    config: GenerateConfig,
    tokenizer: Any,
    targets: pd.DataFrame,
    frame: pd.DataFrame,
    done: Mapping[tuple[int, int], DoneIds],
) -> list[_Job]:
    """The missing ``(index, sample)`` pairs of the selected rows, each with its rendered prompt."""
    todo = [any((int(i), s) not in done for s in range(config.n)) for i in targets["index"]]
    targets, frame = targets[todo].reset_index(drop=True), frame[todo].reset_index(drop=True)
    if config.max_prompt_tokens is not None:
        messages = _budgeted_messages(frame, tokenizer, config.max_prompt_tokens, config.variant)
    else:
        messages = _stored_messages(frame, config.data)
    jobs = []
    for row, message in zip(targets.itertuples(index=False), messages, strict=True):
        text = tokenizer.apply_chat_template(message, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        jobs += [
            _Job(int(row.index), row.user_id, row.item_id, sample, text, ids, (row.rating_min, row.rating_max))
            for sample in range(config.n)
            if (row.index, sample) not in done
        ]
    return jobs


def _check_output_file(output: Path) -> None:
    """Refuse an ``--output`` that is a folder or lies under a file, before any work; create its folder."""
    if output.is_dir():
        raise EvaluationInputError(f"--output {output} is a folder; pass the JSON-lines file to write or resume")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise EvaluationInputError(f"--output {output}: a parent of it is a file; choose another path") from None
    except OSError as err:
        raise EvaluationInputError(f"--output {output}: cannot create its folder ({err.strerror})") from None


def _responses(
    config: GenerateConfig, jobs: Sequence[_Job], tokenizer: Any
) -> tuple[Iterator[tuple[_Job, str, str, int]], Any]:
    """The stream of ``(job, response, finish_reason, n_tokens)`` of the chosen backend, and the transformers model
    (None with vLLM)."""
    if _use_vllm(config.backend, config.rating_logits):
        from vllm import LLM

        llm = LLM(
            model=config.model,
            dtype=config.dtype,
            seed=config.seed,
            tensor_parallel_size=config.tensor_parallel_size,
            gpu_memory_utilization=config.gpu_memory_utilization,
            max_model_len=config.max_model_len,
        )
        return _generate_vllm(jobs, config, llm), None
    model = _load_transformers(config.model, config.dtype)
    return _generate_transformers(jobs, config, tokenizer, model), model


class _RatingLogits:
    """The ``rating_logits_*`` fields of a record: one forward pass at its ``<rate>`` (value tokens kept per scale)."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.value_tokens: dict[tuple[float, float], dict[int, tuple[int, ...]]] = {}

    def fields(self, job: _Job, response: str, prefix: str) -> dict[str, Any]:
        if job.scale not in self.value_tokens:
            self.value_tokens[job.scale] = _value_tokens(self.tokenizer, rating_values(*job.scale))
        context, forced = response_context(response, prefix)
        probs, mass = _rating_logits(
            self.model, self.tokenizer, job.prompt_text + context, self.value_tokens[job.scale]
        )
        return {
            "rating_logits_expected": sum(v * p for v, p in probs.items()),
            "rating_logits_probs": {str(v): p for v, p in probs.items()},
            "rating_logits_mass": mass,
            "rating_logits_forced": forced,
        }


def _write_responses(config: GenerateConfig, jobs: Sequence[_Job], tokenizer: Any, prefix: str) -> int:
    """Generate ``jobs`` and append one record per response to ``config.output``; return how many were written."""
    stream, model = _responses(config, jobs, tokenizer)
    logits = _RatingLogits(model, tokenizer) if config.rating_logits else None
    written = 0
    with _locked_appender(config.output) as handle:
        for job, response, finish, n_tokens in stream:
            record: dict[str, Any] = {
                "index": job.index,
                "user_id": job.user_id,
                "item_id": job.item_id,
                "sample": job.sample,
                "response": response,
                "prefix": prefix,
                "prompt_tokens": len(job.prompt_ids),
                "finish_reason": finish,
                "n_tokens": n_tokens,
            }
            if logits is not None:
                record.update(logits.fields(job, response, prefix))
            handle.append(json.dumps(record, ensure_ascii=False, allow_nan=False))
            written += 1
            if written % 100 == 0:
                logger.info("generate: %d / %d records written", written, len(jobs))
    return written


def generate(config: GenerateConfig) -> GenerateResult:
    """Generate every missing ``(index, sample)`` pair of ``config.data`` into ``config.output``.

    Bad input (a missing model, data that is not a prepared parquet, an output made with other settings or for other
    data) raises :class:`EvaluationInputError` before anything is generated.
    """
    check_model(config.model)
    if config.temperature == 0 and config.n > 1:
        logger.warning("generate: --n %d at temperature 0 repeats the same greedy answer", config.n)
    template, prefix = _chat_template(config)
    _check_output_file(config.output)
    all_targets, targets, frame = _load_rows(config.data, config.limit, full=config.max_prompt_tokens is not None)
    if config.rating_logits:
        check_rating_logits(targets, config.data)
    done = _resumable_done(config.output, _settings(config, template, prefix), all_targets)
    tokenizer = _load_tokenizer(config.model, template)
    jobs = _jobs(config, tokenizer, targets, frame, done)
    logger.info("generate: %d sample(s) already done, %d to generate", len(done), len(jobs))
    written = _write_responses(config, jobs, tokenizer, prefix) if jobs else 0
    return GenerateResult(output=config.output, already_done=len(done), written=written)


def main(args: argparse.Namespace) -> int:
    """Run ``reczero-verl generate``; returns 0. Bad input raises :class:`EvaluationInputError` (exit code 2)."""
    result = generate(config_from_args(args))
    logger.info("generate: %d record(s) written to %s", result.written, result.output)
    return EXIT_OK
