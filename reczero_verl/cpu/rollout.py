# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""A transformers-backed rollout for verl's server-mode agent loop (``actor_rollout_ref.rollout.name=hf``).

verl 0.9.1 generates only through rollout *servers* (vLLM, SGLang, TensorRT-LLM), all GPU-only. This is the same
contract on any machine, in three parts:

* :class:`HFRolloutServer`, a Ray actor holding a Hugging Face causal LM: ``generate(prompt_ids, sampling_params)``
  returns token ids (and log-probs when asked), as verl's agent loop expects of every server. Concurrent requests
  with the same sampling parameters are batched into one left-padded ``model.generate`` call.
* :class:`HFReplica`, the replica verl's ``LLMServerManager`` builds (registered in ``RolloutReplicaRegistry``); it
  starts one server beside the training workers (hybrid mode: the recipe's layout).
* :class:`HFServerAdapter`, the worker-side rollout (registered in ``verl.workers.rollout.base._ROLLOUT_REGISTRY``):
  after every actor update verl hands it the new weights, which it sends to the server.

Speed is not the goal; the goal is that every byte verl's trainer handles on a GPU it also handles here.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import ray
import torch

logger = logging.getLogger(__name__)

__all__ = ["ROLLOUT_NAME", "HFReplica", "HFRolloutServer", "HFServerAdapter", "SamplingKey", "sampling_key"]

#: ``actor_rollout_ref.rollout.name`` of this backend.
ROLLOUT_NAME = "hf"
#: Most prompts one ``model.generate`` call takes (requests arrive one per response, ``n`` per prompt).
MAX_BATCH = 64


@dataclass(frozen=True)
class SamplingKey:
    """The sampling parameters that must be equal for two requests to share a ``generate`` call."""

    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    logprobs: bool
    ignore_eos: bool

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


def sampling_key(
    sampling_params: dict[str, Any], prompt_len: int, prompt_length: int, response_length: int
) -> SamplingKey:
    """Read verl's sampling parameters the way vLLM's server does (``max_tokens`` defaults to the response length).

    ``top_k`` of -1 or 0 means no top-k cut, ``temperature`` 0 greedy decoding (verl's validation default).
    """
    params = dict(sampling_params)
    if "max_tokens" in params:
        max_tokens = params.pop("max_tokens")
    elif "max_new_tokens" in params:
        max_tokens = params.pop("max_new_tokens")
    else:
        max_tokens = min(response_length, prompt_length + response_length - prompt_len)
    top_k = params.get("top_k")
    return SamplingKey(
        max_tokens=max(1, int(max_tokens)),
        temperature=float(params.get("temperature", 1.0) or 0.0),
        top_p=float(params.get("top_p", 1.0) if params.get("top_p") is not None else 1.0),
        top_k=int(top_k) if top_k is not None and int(top_k) > 0 else 0,
        repetition_penalty=float(params.get("repetition_penalty", 1.0) or 1.0),
        logprobs=bool(params.get("logprobs", False)),
        ignore_eos=bool(params.get("ignore_eos", False)),
    )


@dataclass
class _Request:
    prompt_ids: list[int]
    key: SamplingKey
    future: asyncio.Future = field(repr=False)


def _eos_ids(model_config: Any) -> list[int]:
    """End-of-sequence ids: the generation config's (int or list) and the tokenizer's, as vLLM stops on both."""
    ids: list[int] = []
    generation_config = getattr(model_config, "generation_config", None)
    configured = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    for value in configured if isinstance(configured, list | tuple) else [configured]:
        if value is not None and value not in ids:
            ids.append(int(value))
    tokenizer = getattr(model_config, "tokenizer", None)
    if tokenizer is not None and tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(int(tokenizer.eos_token_id))
    return ids


def cut_at_eos(tokens: list[int], eos_ids: Iterable[int]) -> list[int]:
    """The generated tokens up to and including the first end-of-sequence token (what vLLM returns)."""
    stops = set(eos_ids)
    for position, token in enumerate(tokens):
        if token in stops:
            return tokens[: position + 1]
    return tokens


class HFRolloutServer:
    """Token-in, token-out generation with a transformers model; the Ray actor behind :class:`HFReplica`."""

    def __init__(self, config: Any, model_config: Any, replica_rank: int = 0) -> None:
        from transformers import AutoModelForCausalLM
        from verl.utils.config import omega_conf_to_dataclass
        from verl.workers.config import HFModelConfig

        self.config = omega_conf_to_dataclass(config)
        model_config = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.model_config = model_config
        self.replica_rank = replica_rank
        self.global_steps: int | None = None
        self.eos_ids = _eos_ids(model_config)
        tokenizer = model_config.tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]
        torch.manual_seed(self.config.seed + replica_rank)
        dtype = getattr(torch, str(self.config.dtype).replace("bf16", "bfloat16").replace("fp32", "float32"))
        self.model = AutoModelForCausalLM.from_pretrained(
            model_config.local_path,
            config=model_config.hf_config,
            dtype=dtype,
            trust_remote_code=model_config.trust_remote_code,
        )
        self.model.eval()
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task | None = None
        logger.info(
            "hf rollout server %d: %s (%s), eos ids %s", replica_rank, model_config.local_path, dtype, self.eos_ids
        )

    # ---- generation -------------------------------------------------------------------------------------------

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: Any = None,
        video_data: Any = None,
        audio_data: Any = None,
        mm_processor_kwargs: Any = None,
        priority: int = 0,
        **_kwargs: Any,
    ):
        """One response for ``prompt_ids``; the signature verl's ``LLMServerClient`` calls every server with."""
        from verl.workers.rollout.replica import TokenOutput

        if image_data is not None or video_data is not None or audio_data is not None:
            raise NotImplementedError("the hf rollout serves text-only models")
        key = sampling_key(sampling_params, len(prompt_ids), self.config.prompt_length, self.config.response_length)
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._serve())
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(list(prompt_ids), key, future))
        token_ids, log_probs = await future
        return TokenOutput(
            token_ids=token_ids,
            log_probs=log_probs,
            stop_reason="completed",
            extra_fields={"global_steps": self.global_steps},
        )

    async def _serve(self) -> None:
        """Take whatever requests are waiting, batch those with equal sampling keys, generate, repeat."""
        assert self._queue is not None
        while True:
            pending = [await self._queue.get()]
            await asyncio.sleep(0)  # let requests sent together arrive together
            while not self._queue.empty() and len(pending) < MAX_BATCH:
                pending.append(self._queue.get_nowait())
            groups: dict[SamplingKey, list[_Request]] = {}
            for request in pending:
                groups.setdefault(request.key, []).append(request)
            for key, requests in groups.items():
                try:
                    results = await asyncio.to_thread(self._generate_batch, [r.prompt_ids for r in requests], key)
                except Exception as exc:  # the caller's await raises it, with its own traceback
                    for request in requests:
                        if not request.future.done():
                            request.future.set_exception(exc)
                    continue
                for request, result in zip(requests, results, strict=True):
                    if not request.future.done():
                        request.future.set_result(result)

    @torch.no_grad()
    def _generate_batch(self, prompts: list[list[int]], key: SamplingKey) -> list[tuple[list[int], list[float] | None]]:
        """Left-padded batched generation; per row the new tokens up to the first EOS, and their log-probs."""
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            attention_mask[row, width - len(prompt) :] = 1
        options: dict[str, Any] = {
            "max_new_tokens": key.max_tokens,
            "do_sample": not key.greedy,
            "pad_token_id": self.pad_id,
            "eos_token_id": None if key.ignore_eos else self.eos_ids,
            "repetition_penalty": key.repetition_penalty,
            "return_dict_in_generate": True,
            "output_logits": key.logprobs,
        }
        if key.ignore_eos:
            options["min_new_tokens"] = key.max_tokens
        if not key.greedy:
            # top_k 0 switches the cut off explicitly (None would fall back to the model's generation config).
            options.update(temperature=key.temperature, top_p=key.top_p, top_k=key.top_k)
        else:
            options.update(temperature=None, top_p=None, top_k=None)
        output = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **options)
        new_tokens = output.sequences[:, width:]
        log_probs_all = None
        if key.logprobs:
            # Log-probabilities of the sampled tokens under the model's raw distribution (vLLM's default).
            logits = torch.stack(output.logits, dim=1).float()
            log_probs_all = torch.log_softmax(logits, dim=-1).gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
        results = []
        for row in range(len(prompts)):
            tokens = new_tokens[row].tolist()
            tokens = tokens if key.ignore_eos else cut_at_eos(tokens, self.eos_ids)
            log_probs = log_probs_all[row, : len(tokens)].tolist() if log_probs_all is not None else None
            results.append((tokens, log_probs))
        return results

    # ---- weights ----------------------------------------------------------------------------------------------

    def load_weights(self, named_tensors: dict[str, torch.Tensor], global_steps: int | None = None) -> int:
        """Copy the actor's new weights in (names as in the Hugging Face model); returns how many were loaded."""
        state = self.model.state_dict()
        unknown = sorted(set(named_tensors) - set(state))
        if unknown:
            raise KeyError(f"weights the rollout model does not have: {unknown[:5]}{'...' if len(unknown) > 5 else ''}")
        with torch.no_grad():
            for name, tensor in named_tensors.items():
                state[name].copy_(tensor.to(state[name].dtype))
        if global_steps is not None:
            self.global_steps = global_steps
        return len(named_tensors)

    # ---- the rest of the server interface: nothing to free or pause on CPU ------------------------------------

    async def set_global_steps(self, global_steps: int) -> None:
        self.global_steps = global_steps

    async def wake_up(self, tags: list[str] | None = None) -> None:
        return None

    async def sleep(self) -> None:
        return None

    async def clear_kv_cache(self) -> None:
        return None

    async def release_kv_cache(self) -> None:
        return None

    async def resume_kv_cache(self) -> None:
        return None

    async def wait_for_requests_to_drain(self) -> None:
        return None

    async def abort_all_requests(self, reset_prefix_cache: bool = True, reject_request: bool = False) -> dict:
        return {"aborted_count": 0, "request_ids": []}

    async def abort_request(self, request_id: str, reset_prefix_cache: bool = True) -> dict:
        return {"aborted": False, "request_id": request_id}

    async def resume_generation(self) -> None:
        return None

    async def start_profile(self, **kwargs: Any) -> None:
        return None

    async def stop_profile(self) -> None:
        return None


def _replica_base():
    from verl.workers.rollout.replica import RolloutReplica

    return RolloutReplica


def server_name(replica_rank: int, suffix: str = "") -> str:
    """The Ray actor name of a replica's server (the adapter finds its server by it)."""
    return f"{ROLLOUT_NAME}_server_{replica_rank}_0{suffix}"


class HFReplica(_replica_base()):
    """One :class:`HFRolloutServer` per replica, on the node of the replica's training workers."""

    async def launch_servers(self) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if self.is_reward_model or self.is_teacher_model:
            raise NotImplementedError("the hf rollout serves the policy only (no reward or teacher model)")
        options: dict[str, Any] = {
            "name": server_name(self.replica_rank, self.name_suffix),
            "max_concurrency": self.max_concurrency,
            "num_cpus": 0,  # it shares the training worker's CPUs (hybrid engine: they take turns)
        }
        if self.workers:
            node_id = await self.workers[0].__ray_call__.remote(lambda _self: ray.get_runtime_context().get_node_id())
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
        server = (
            ray.remote(HFRolloutServer).options(**options).remote(self.config, self.model_config, self.replica_rank)
        )
        await server.__ray_ready__.remote()
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"ray://{options['name']}"


def _adapter_base():
    from verl.workers.rollout.base import BaseRollout

    return BaseRollout


class HFServerAdapter(_adapter_base()):
    """Worker-side half of the hf rollout: forwards weight updates from the FSDP actor to the server."""

    def __init__(self, config: Any, model_config: Any, device_mesh: Any, replica_rank: int = -1) -> None:
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", 0))
        world = (
            self.config.tensor_model_parallel_size
            * self.config.data_parallel_size
            * self.config.pipeline_model_parallel_size
        )
        self.replica_rank = rank // world if replica_rank == -1 else replica_rank
        self._has_server = rank % world == 0
        self._server = None

    def _server_handle(self):
        if self._server is None:
            self._server = ray.get_actor(server_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]) -> None:
        return None

    async def release(self) -> None:
        return None

    @torch.no_grad()
    async def update_weights(
        self, weights, global_steps: int | None = None, wire_format: str = "named_tensors", **kwargs: Any
    ) -> None:
        """Gather the full tensors (every rank must iterate: the generator all-gathers) and send them once."""
        if wire_format != "named_tensors":
            raise NotImplementedError(f"the hf rollout takes full weights only, not wire_format={wire_format!r}")
        if kwargs.get("peft_config") is not None:
            raise NotImplementedError("the hf rollout does not take LoRA adapters (set model.lora.merge=true)")
        named: dict[str, torch.Tensor] = {}
        for name, tensor in weights:
            full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
            if self._has_server:
                named[name] = full.detach().to("cpu", copy=True)
        if self._has_server:
            await self._server_handle().load_weights.remote(named, global_steps)
