# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The CPU backend's parts, fast: inert unless selected, registrations when selected, the two runtime fixes still
needed by the installed verl, the hf rollout server's generation and weight loading, the platform's device module.

The whole backend running verl's trainers is ``tests/test_cpu_training.py`` (``-m e2e``).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reczero_verl import cpu
from reczero_verl.import_hooks import when_imported

PROBE = textwrap.dedent(
    """
    import json, sys
    import verl
    from verl.plugin.platform.platform_manager import PlatformRegistry
    import verl.utils.distributed as dist
    from verl.workers.rollout.replica import RolloutReplicaRegistry
    from verl.workers.rollout import base
    from verl.workers.engine import EngineRegistry
    print(json.dumps({
        "platforms": sorted(PlatformRegistry.registered_names()),
        "replicas": sorted(RolloutReplicaRegistry._registry),
        "adapters": sorted(str(key) for key in base._ROLLOUT_REGISTRY.items()),
        "engines": sorted(
            f"{model_type}/{backend}/{device}"
            for model_type, backends in EngineRegistry._engines.items()
            for backend, devices in backends.items()
            for device in devices
        ),
        "process_group": [
            dist.initialize_global_process_group.__module__, dist.initialize_global_process_group_ray.__module__
        ],
        "cpu_modules": sorted(m for m in sys.modules if m.startswith("reczero_verl.cpu.")),
    }))
    """
)


def probe(**env: str) -> dict:
    """What verl's registries hold after ``import verl`` in a fresh interpreter with ``env``."""
    clean = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", "VERL_USE_EXTERNAL_PLUGINS")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def stock():
    return probe(VERL_USE_EXTERNAL_PLUGINS="none")


def test_plugin_changes_nothing_in_verl_unless_the_cpu_platform_is_selected(stock):
    assert probe() == stock  # every registry and both process-group functions exactly verl's own
    assert stock["cpu_modules"] == []
    assert "cpu" not in stock["platforms"]


def test_selecting_the_cpu_platform_registers_the_backend(stock):
    selected = probe(VERL_PLATFORM="cpu")
    assert selected["platforms"] == sorted([*stock["platforms"], "cpu"])
    assert selected["replicas"] == sorted([*stock["replicas"], "hf"])
    assert "('hf', 'async')" in " ".join(selected["adapters"])
    added = set(selected["engines"]) - set(stock["engines"])
    assert added == {f"{m}/{b}/cpu" for m in ("language_model", "value_model") for b in ("fsdp", "fsdp2")}
    assert selected["process_group"] == ["reczero_verl.cpu.verl_fixes"] * 2


def test_is_selected_reads_verls_platform_variable():
    assert cpu.is_selected({"VERL_PLATFORM": "cpu"}) and cpu.is_selected({"VERL_PLATFORM": " CPU "})
    assert not cpu.is_selected({}) and not cpu.is_selected({"VERL_PLATFORM": "nvidia"})


# ---- the runtime fixes are still needed by the installed verl (each test fails once verl fixes it) ------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PROCESS_GROUP = textwrap.dedent(
    """
    import sys
    from verl.plugin.platform.platform_manager import PlatformRegistry
    from reczero_verl.cpu.platform import PlatformCPU
    PlatformRegistry.register(platform="cpu")(PlatformCPU)
    import verl.utils.distributed as dist
    if sys.argv[1] == "fixed":
        from reczero_verl.cpu.verl_fixes import fix_process_group
        fix_process_group(dist)
    try:
        dist.initialize_global_process_group_ray(timeout_second=30)
    except Exception as exc:
        print("FAILED:", repr(str(exc)))
    else:
        import torch.distributed
        print("OK:", torch.distributed.get_backend())
    """
)


@pytest.mark.parametrize("variant", ["stock", "fixed"])
def test_process_group_fix_is_needed_and_works(variant):
    """verl/utils/distributed.py:89 builds "cpu:gloo,cpu:gloo" on CPU; the fix builds "cpu:gloo"."""
    env = {
        **os.environ,
        "VERL_USE_EXTERNAL_PLUGINS": "none",
        "VERL_PLATFORM": "cpu",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "RANK": "0",
        "WORLD_SIZE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROCESS_GROUP, variant], env=env, capture_output=True, text=True, timeout=300
    )
    last = done.stdout.strip().splitlines()[-1]
    if variant == "stock":
        assert last.startswith("FAILED:") and "Duplicate device type cpu" in last, "verl fixed it: drop fix 1"
    else:
        assert last == "OK: cpu:gloo"


def test_offload_pin_fix_is_still_needed():
    """transformer_impl.py:462 still pins the reference model's offload on any device, and pinning needs an
    accelerator; when either changes, fix 2 can go."""
    import torch
    from verl.workers.engine.fsdp import transformer_impl

    source = inspect.getsource(transformer_impl.FSDPEngine._build_fsdp_module)
    assert "CPUOffloadPolicy(pin_memory=True)" in source, "verl no longer hard-codes pinning: drop fix 2"
    if torch.cuda.is_available():
        pytest.skip("pinning works on this machine")
    with pytest.raises(RuntimeError):
        torch.empty(1).pin_memory()


def test_offload_pin_fix_forces_unpinned_policies():
    from types import SimpleNamespace

    from reczero_verl.cpu.verl_fixes import fix_offload_policy

    calls = []
    module = SimpleNamespace(CPUOffloadPolicy=lambda **kw: calls.append(kw) or kw)
    fix_offload_policy(module)
    assert module.CPUOffloadPolicy(pin_memory=True) == {"pin_memory": False} and calls == [{"pin_memory": False}]
    fix_offload_policy(SimpleNamespace(CPUOffloadPolicy=None))  # torch without FSDP2: nothing to wrap


def test_stock_verl_registers_no_fsdp_engine_for_cpu(stock):
    """transformer_impl.py:1143 registers cuda and npu only; once it registers cpu, our registration can go."""
    assert not any(entry.endswith("/cpu") for entry in stock["engines"])


# ---- post-import hooks ---------------------------------------------------------------------------------------------


def test_when_imported_runs_after_the_module_and_once(tmp_path, monkeypatch):
    package = tmp_path / "hookdemo_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "late.py").write_text("FIRST = 1\nLAST = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    when_imported("hookdemo_pkg.late", lambda m: seen.append((m.FIRST, m.LAST)))
    assert seen == []
    importlib.import_module("hookdemo_pkg.late")
    assert seen == [(1, 2)]
    importlib.reload(sys.modules["hookdemo_pkg.late"])
    assert seen == [(1, 2)]  # a callback runs once
    when_imported("hookdemo_pkg.late", lambda m: seen.append("now"))
    assert seen == [(1, 2), "now"]  # already imported: at once
    for name in ("hookdemo_pkg.late", "hookdemo_pkg"):
        sys.modules.pop(name, None)


def test_a_failing_callback_fails_the_import(tmp_path, monkeypatch):
    (tmp_path / "hookdemo_fail.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def boom(module):
        raise RuntimeError("registration failed")

    when_imported("hookdemo_fail", boom)
    with pytest.raises(RuntimeError, match="registration failed"):
        importlib.import_module("hookdemo_fail")
    sys.modules.pop("hookdemo_fail", None)


# ---- the platform --------------------------------------------------------------------------------------------------

#: Every attribute verl 0.9.1 calls on ``get_torch_device()`` (grep of the installed sources).
DEVICE_CALLS = (
    "empty_cache", "synchronize", "is_available", "current_stream", "set_device", "mem_get_info", "stream", "Stream",
    "set_rng_state", "get_rng_state", "set_per_process_memory_fraction", "ipc_collect", "device_count",
    "memory_reserved", "memory_allocated", "max_memory_reserved", "max_memory_allocated", "get_device_name", "Event",
    "manual_seed", "manual_seed_all",
)  # fmt: skip


def test_platform_answers_what_verl_asks():
    from reczero_verl.cpu.platform import PlatformCPU

    platform = PlatformCPU()
    module = platform.device_module
    assert all(callable(getattr(module, name)) for name in DEVICE_CALLS)
    assert module.get_device_name() == "cpu" and module.current_device() == "cpu"
    free, total = module.mem_get_info()
    assert 0 < free <= total
    state = module.get_rng_state()
    module.set_rng_state(state)
    assert platform.device_name == "cpu" and platform.current_device() == "cpu"
    assert platform.communication_backend_name() == "gloo" and platform.ray_resource_name() == "GPU"
    assert not platform.is_platform_available(use_smi_check=True)  # never auto-detected
    assert platform.ray_resource_options(2) == {"num_gpus": 2}


# ---- the hf rollout server -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    from verl.workers.config import HFModelConfig, RolloutConfig

    from reczero_verl.cpu.rollout import HFRolloutServer

    config = RolloutConfig(name="hf", prompt_length=64, response_length=12, dtype="float32", seed=0)
    model_config = HFModelConfig(path=str(tiny_model_dir), override_config={"attn_implementation": "sdpa"})
    return HFRolloutServer(config, model_config)


def _prompts(tokenizer) -> list[list[int]]:
    texts = ["Rating scale: 1 to 5.", "The user loves comfortable running shoes and rated 5, 4, 3.5 before.", "4"]
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def test_batched_greedy_generation_equals_one_prompt_at_a_time(server):
    from reczero_verl.cpu.rollout import sampling_key

    prompts = _prompts(server.model_config.tokenizer)
    key = sampling_key({"temperature": 0, "max_tokens": 10}, 0, 64, 12)
    together = server._generate_batch(prompts, key)
    alone = [server._generate_batch([p], key)[0] for p in prompts]
    assert together == alone  # left padding changes nothing
    assert all(1 <= len(tokens) <= 10 for tokens, _ in together)


def test_log_probs_are_those_of_the_model_on_its_own_tokens(server):
    import torch

    from reczero_verl.cpu.rollout import sampling_key

    prompt = _prompts(server.model_config.tokenizer)[1]
    key = sampling_key({"temperature": 1.0, "top_k": -1, "max_tokens": 8, "logprobs": True}, 0, 64, 12)
    tokens, log_probs = server._generate_batch([prompt], key)[0]
    assert len(log_probs) == len(tokens)
    with torch.no_grad():
        logits = server.model(torch.tensor([prompt + tokens])).logits[0].float()
    expected = torch.log_softmax(logits[len(prompt) - 1 : -1], dim=-1).gather(-1, torch.tensor(tokens)[:, None])
    assert torch.allclose(torch.tensor(log_probs), expected.squeeze(-1), atol=1e-4)


def test_eos_is_kept_and_ends_the_response_and_ignore_eos_runs_to_max_tokens(server):
    from reczero_verl.cpu.rollout import cut_at_eos, sampling_key

    eos = server.eos_ids[0]
    assert cut_at_eos([5, 6, eos, 7, eos], [eos]) == [5, 6, eos] and cut_at_eos([5, 6], [eos]) == [5, 6]
    key = sampling_key({"temperature": 1.0, "max_tokens": 9, "ignore_eos": True}, 0, 64, 12)
    tokens, _ = server._generate_batch(_prompts(server.model_config.tokenizer)[:1], key)[0]
    assert len(tokens) == 9


def test_sampling_key_reads_verls_parameters_like_vllm():
    from reczero_verl.cpu.rollout import sampling_key

    key = sampling_key({"temperature": 1.0, "top_p": 0.9, "top_k": -1, "logprobs": False}, 100, 512, 64)
    assert (key.max_tokens, key.top_k, key.top_p, key.greedy) == (64, 0, 0.9, False)
    assert sampling_key({"temperature": 0}, 540, 512, 64).max_tokens == 512 + 64 - 540  # capped by the budget
    assert sampling_key({"temperature": 0}, 600, 512, 64).max_tokens == 1  # never below one
    assert sampling_key({"temperature": 0, "top_k": 20}, 0, 8, 8).greedy
    assert sampling_key({"max_new_tokens": 5}, 0, 8, 8).max_tokens == 5


def test_concurrent_requests_are_answered_each_with_its_own_parameters(server):
    prompts = _prompts(server.model_config.tokenizer)

    async def run():
        requests = [
            server.generate(prompts[0], {"temperature": 0, "max_tokens": 4}, "a"),
            server.generate(prompts[1], {"temperature": 0, "max_tokens": 6}, "b"),
            server.generate(prompts[2], {"temperature": 0, "max_tokens": 4}, "c"),
        ]
        return await asyncio.gather(*requests)

    outputs = asyncio.run(run())
    assert [len(o.token_ids) <= limit for o, limit in zip(outputs, (4, 6, 4), strict=True)] == [True] * 3
    assert all(o.stop_reason == "completed" for o in outputs)
    server._queue = server._worker = None  # the loop of asyncio.run is gone


def test_weight_updates_change_the_rollout_and_unknown_names_are_refused(server):
    import torch

    from reczero_verl.cpu.rollout import sampling_key

    prompts = _prompts(server.model_config.tokenizer)
    key = sampling_key({"temperature": 0, "max_tokens": 8}, 0, 64, 12)
    before = server._generate_batch(prompts, key)
    original = {name: tensor.clone() for name, tensor in server.model.state_dict().items()}
    torch.manual_seed(1)
    noisy = {name: tensor + torch.randn_like(tensor) for name, tensor in original.items()}
    assert server.load_weights(noisy, global_steps=3) == len(noisy) and server.global_steps == 3
    assert server._generate_batch(prompts, key) != before
    server.load_weights(original)
    assert server._generate_batch(prompts, key) == before
    with pytest.raises(KeyError, match="does not have"):
        server.load_weights({"model.not_a_layer.weight": torch.zeros(1)})


def test_tiny_model_writes_well_formed_answers_with_varied_ratings(tmp_path):
    """What the e2e GRPO tests rely on for non-zero advantages: the taught model's answers parse, ratings vary."""
    import random

    from reczero_verl.cpu.tiny_model import build_tiny_model, random_tbr_answer
    from reczero_verl.reward import compute_score

    rng = random.Random(0)
    answers = [random_tbr_answer(rng) for _ in range(50)]
    assert all(compute_score(solution_str=a, ground_truth=3)["format_ok"] == 1.0 for a in answers)
    assert {compute_score(solution_str=a, ground_truth=3)["pred"] for a in answers} == {"1", "2", "3", "4", "5"}
    prompts = [[{"role": "user", "content": f"How will user {i} rate item {i % 7}?"}] for i in range(20)]
    folder = build_tiny_model(tmp_path / "m", prompts, seed=0, answer_steps=120)
    assert Path(folder, "model.safetensors").is_file() and Path(folder, "tokenizer.json").is_file()
