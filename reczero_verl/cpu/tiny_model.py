# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""A tiny Qwen2-architecture model built on the spot, for training runs on the CPU backend without a hub download.

It proves the machinery, not model quality: a byte-level BPE tokenizer trained on the prepared prompts (so prompts
take few tokens), Qwen's ChatML special tokens and chat template (the TbR tags stay ordinary text, as in a real
deployment), and a 2-layer Qwen2 causal LM. With ``answer_steps > 0`` its random weights are first taught the *shape*
of a TbR answer by teacher forcing on the prepared prompts, with a uniformly random rating in every answer: the model
then writes well-formed answers whose ratings vary, so GRPO sees rewards that differ inside a group and makes a real
update, while the ratings carry no skill at all.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reczero_verl.template import SECTION_NAMES, close_tag, open_tag, prefill_chat_template, system_prompt

logger = logging.getLogger(__name__)

__all__ = ["SPECIAL_TOKENS", "TinyModelSpec", "build_tiny_tokenizer", "build_tiny_model", "random_tbr_answer"]

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
#: ChatML rendering each message on its own (what verl's SFT dataset requires): the package's template, no pre-fill.
CHATML_TEMPLATE = prefill_chat_template(prefill="")


@dataclass(frozen=True)
class TinyModelSpec:
    """Sizes of the tiny model (about 40k parameters with the default vocabulary)."""

    vocab_size: int = 1000
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 1
    max_position_embeddings: int = 4096


def _base_corpus() -> list[str]:
    tags = " ".join(open_tag(n) + " text " + close_tag(n) for n in SECTION_NAMES)
    return [
        system_prompt("tbr"),
        system_prompt("plain", 1, 10),
        tags,
        "The user loves comfortable running shoes and rated 5, 4, 3.5, 2, 1 before. Review: great fit, too small.",
        "Rating scale: 1 to 5. Past ratings (most recent first): rated 4. Average rating of this item: 3.67",
        "0 1 2 3 4 5 6 7 8 9 10 . , : ; ! ? ' \" ( ) - / é ü 日本 😀",
    ]


def build_tiny_tokenizer(out_dir: str | Path, texts: Iterable[str] = (), vocab_size: int = 1000) -> Path:
    """Train a byte-level BPE tokenizer on ``texts`` (plus the prompts' fixed parts) and save it with ChatML."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([*(_base_corpus() * 20), *texts], trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(str(out))
    return out


#: The fixed filler of the three analysis sections in :func:`random_tbr_answer` (form without content).
FILLER = ("the user's taste", "the item's traits", "how they match")


def random_tbr_answer(rng: random.Random, rating_min: float = 1, rating_max: float = 5) -> str:
    """A well-formed TbR answer with fixed filler analyses and a uniformly random whole rating."""
    rating = rng.randint(int(rating_min), int(rating_max))
    parts = [f"{open_tag(n)}{text}{close_tag(n)}" for n, text in zip(SECTION_NAMES[:-1], FILLER, strict=True)]
    parts.append(f"{open_tag(SECTION_NAMES[-1])}{rating}{close_tag(SECTION_NAMES[-1])}")
    return "\n".join(parts)


def _teach_answer_format(model, tokenizer, prompts: Sequence[list[dict]], steps: int, seed: int) -> float:
    """Teacher-force random TbR answers after the chat-templated prompts (loss on the answer only); final loss."""
    import torch

    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    # Cosine decay to zero: the last steps settle the format instead of hopping around it.
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    model.train()
    loss_value = float("nan")
    for _ in range(steps):
        messages = rng.choice(prompts)
        prompt_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if not isinstance(prompt_ids, list):  # transformers 5 may return a BatchEncoding
            prompt_ids = list(prompt_ids["input_ids"])
        answer_ids = tokenizer(random_tbr_answer(rng) + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        # Whole prompts: the answer must come out at the positions where the rollout will ask for it.
        ids = torch.tensor([prompt_ids + answer_ids])
        labels = ids.clone()
        labels[0, : ids.shape[1] - len(answer_ids)] = -100
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        loss_value = float(loss.detach())
    model.eval()
    return loss_value


def build_tiny_model(
    out_dir: str | Path,
    prompts: Sequence[list[dict]] = (),
    seed: int = 0,
    answer_steps: int = 0,
    spec: TinyModelSpec = TinyModelSpec(),
) -> Path:
    """Save a tokenizer and a tiny Qwen2 causal LM in ``out_dir``; loadable with ``from_pretrained``.

    ``prompts`` are chat messages (the ``prompt`` column of prepared data): their text trains the tokenizer and,
    when ``answer_steps > 0``, the model is taught the TbR answer format after them for that many steps.
    """
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    texts = [message["content"] for messages in prompts for message in messages]
    out = build_tiny_tokenizer(out_dir, texts, spec.vocab_size)
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    if answer_steps > 0:
        if not prompts:
            raise ValueError("teaching the answer format needs prompts")
        loss = _teach_answer_format(model, tokenizer, prompts, answer_steps, seed)
        logger.info("tiny model: answer format taught in %d steps (final loss %.3f)", answer_steps, loss)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(str(out))
    return out
