# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""What a cold start takes (:class:`ColdstartConfig`) and what follows from it: the request parameters, the leak
judge's endpoint, the retry policy and the settings the journal records.

Every option value is checked when the config is built, before anything is read or sent; a wrong one raises
:class:`~reczero_verl.errors.BadInputError` naming the option (exit code 2 on the command line).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reczero_verl.coldstart.client import RESERVED_PARAMS, RetryPolicy
from reczero_verl.coldstart.leak_judge import BOTH, JUDGE_PROMPT_VERSION, LEAK_JUDGE_MODES, LEXICAL
from reczero_verl.coldstart.runner import DEFAULT_MAX_ANSWER_CHARS
from reczero_verl.errors import BadInputError
from reczero_verl.options import (
    as_paths,
    check_options,
    fraction,
    non_negative_float,
    non_negative_int,
    option,
    positive_float,
    positive_int,
)

__all__ = ["ColdstartConfig", "DEFAULT_API_KEY_ENV"]

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
_SCHEMES = ("http://", "https://")


@dataclass(frozen=True)
class ColdstartConfig:
    """Everything ``reczero-verl coldstart`` takes; see :func:`reczero_verl.coldstart.cli.configure_parser` for
    each option. ``extra_body`` is a mapping or its JSON text (as on the command line)."""

    input: Path
    output_dir: Path
    max_samples: int = option(rule=positive_int, default=1000)
    seed: int = option(rule=non_negative_int, default=0)
    val_ratio: float = option(rule=fraction, default=0.05)
    strict: bool = False
    export_only: bool = False
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = DEFAULT_API_KEY_ENV
    temperature: float = option(rule=non_negative_float, default=0.6)
    top_p: float | None = option(rule=positive_float, default=None)
    max_tokens: int = option(rule=non_negative_int, default=8192)
    extra_body: Mapping[str, Any] | str | None = None
    concurrency: int = option(rule=positive_int, default=8)
    timeout: float = option(rule=positive_float, default=600.0)
    max_retries: int = option(rule=non_negative_int, default=6)
    backoff_base: float = option(rule=non_negative_float, default=1.0)
    backoff_max: float = option(rule=non_negative_float, default=60.0)
    max_retry_after: float = option(rule=non_negative_float, default=300.0)
    max_answer_chars: int = option(rule=positive_int, default=DEFAULT_MAX_ANSWER_CHARS)
    tolerance: float = option(rule=non_negative_float, default=0.0)
    leak_judge: str = option(choices=LEAK_JUDGE_MODES, default=BOTH)
    judge_model: str | None = None
    judge_base_url: str | None = None
    judge_api_key_env: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        as_paths(self, "input", "output_dir")
        if not self.export_only and (not self.base_url or not self.model):
            raise BadInputError("--base-url and --model are required (or --export-only)")
        if not self.export_only and not str(self.base_url).startswith(_SCHEMES):
            raise BadInputError(f"--base-url must start with http:// or https://, got {self.base_url!r}")
        if self.judge_base_url is not None and not self.judge_base_url.startswith(_SCHEMES):
            raise BadInputError(f"--judge-base-url must start with http:// or https://, got {self.judge_base_url!r}")
        check_options(self)
        object.__setattr__(self, "extra_body", _extra_body(self.extra_body))

    def request_params(self) -> dict[str, Any]:
        """The sampling parameters sent with every teacher request (``extra_body`` merged last)."""
        params: dict[str, Any] = {"temperature": self.temperature}
        if self.top_p is not None:
            params["top_p"] = self.top_p
        if self.max_tokens:
            params["max_tokens"] = self.max_tokens
        params.update(self.extra_body or {})
        return params

    def judge_params(self) -> dict[str, Any]:
        """The parameters of a judge request: the teacher's (``max_tokens``, ``extra_body``) at temperature 0."""
        params = self.request_params()
        params.pop("top_p", None)
        params["temperature"] = 0.0
        return params

    def judge_endpoint(self) -> tuple[str | None, str | None, str | None]:
        """``(base URL, model, API key variable)`` of the leak judge; all None when the check is lexical only.

        The judge defaults to the teacher's endpoint and model; it gets the teacher's key only on that endpoint, so
        the key is never sent elsewhere.
        """
        if self.leak_judge == LEXICAL:
            return None, None, None
        base_url = self.judge_base_url or self.base_url
        same_endpoint = (base_url or "").rstrip("/") == (self.base_url or "").rstrip("/")
        key_env = self.judge_api_key_env or (self.api_key_env if same_endpoint else None)
        return base_url, self.judge_model or self.model, key_env

    def retry_policy(self) -> RetryPolicy:
        """How the teacher's and the judge's failing requests are retried."""
        return RetryPolicy(
            max_retries=self.max_retries,
            base_delay=self.backoff_base,
            max_delay=self.backoff_max,
            max_retry_after=self.max_retry_after,
        )

    def run_settings(self) -> dict[str, Any]:
        """The settings of a run as the journal's ``run`` record states them (never the API keys themselves)."""
        judge_url, judge_model, judge_key_env = self.judge_endpoint()
        return {
            "input": str(self.input),
            "base_url": self.base_url,
            "model": self.model,
            "tolerance": self.tolerance,
            "seed": self.seed,
            "max_samples": self.max_samples,
            "params": self.request_params(),
            "api_key_env": self.api_key_env,
            "leak_judge": self.leak_judge,
            "judge_base_url": judge_url,
            "judge_model": judge_model,
            "judge_api_key_env": judge_key_env,
            "judge_prompt": JUDGE_PROMPT_VERSION if self.leak_judge != LEXICAL else None,
        }


def _extra_body(value: Mapping[str, Any] | str | None) -> dict[str, Any] | None:
    """``--extra-body`` as a dict: parsed when JSON text, refused when not an object or when it sets a parameter the
    command sets itself."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise BadInputError(f"--extra-body is not JSON: {exc}") from None
    if not isinstance(value, Mapping):
        raise BadInputError("--extra-body must be a JSON object")
    reserved = sorted(RESERVED_PARAMS & set(value))
    if reserved:
        raise BadInputError(f"--extra-body may not set {reserved}: the command sets them itself")
    return dict(value)
