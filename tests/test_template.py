# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the TbR template: system prompts, rendering of structured samples, the pre-filling chat template."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reczero_verl.reward import parse_response
from reczero_verl.template import (
    PREFILL_TEXT,
    SECTION_NAMES,
    build_messages,
    clip_text,
    close_tag,
    format_rating,
    open_tag,
    prefill_chat_template,
    render_user_prompt,
    system_prompt,
)

ROW = {
    "user_history": [
        {"item_id": "A1", "rating": 5.0, "timestamp": 10, "title": "Trail runner", "review": "Great grip."},
        {"item_id": "A2", "rating": 2.0, "timestamp": 20, "title": "Dress shoe", "review": "Pinches."},
    ],
    "item_history": [{"user_id": "U9", "rating": 4.0, "timestamp": 15, "review": "Comfortable."}],
    "target_item": {"item_id": "B1", "title": "Road runner", "categories": "Shoes, Running", "brand": None},
    "user_avg_rating": 3.5,
    "item_avg_rating": 4.0,
}


def test_tbr_system_prompt_names_every_section_in_order_and_the_scale():
    prompt = system_prompt("tbr", 1, 10)
    positions = [prompt.index(open_tag(n)) for n in SECTION_NAMES]
    assert positions == sorted(positions)
    assert all(close_tag(n) in prompt for n in SECTION_NAMES)
    assert "1 to 10" in prompt and "between 1 and 10" in prompt


def test_plain_variant_asks_only_for_the_rating():
    prompt = system_prompt("plain")
    assert open_tag("rate") in prompt and "1 to 5" in prompt
    assert all(open_tag(n) not in prompt for n in SECTION_NAMES[:3])


@pytest.mark.parametrize("variant,scale", [("json", (1, 5)), ("tbr", (5, 1)), ("tbr", (3, 3))])
def test_bad_variant_or_scale_raise(variant, scale):
    with pytest.raises(ValueError):
        system_prompt(variant, *scale)


def test_user_prompt_lists_most_recent_history_first_with_averages():
    text = render_user_prompt(ROW)
    assert text.index("Dress shoe") < text.index("Trail runner")  # newest first
    assert "1. Dress shoe: rated 2. Review: Pinches." in text
    assert "Average rating given by this user: 3.5" in text
    assert "Average rating of this item: 4" in text
    assert "Title: Road runner" in text and "Categories: Shoes, Running" in text
    assert "Brand" not in text  # missing fields are left out, not printed as None
    assert "B1" not in text  # ids are not item text
    assert "1. rated 4. Review: Comfortable." in text


def test_profiles_instead_of_histories_and_parquet_types():
    row = {
        "user_history": np.array([], dtype=object),  # parquet lists come back as numpy arrays
        "item_history": None,
        "target_item": {"title": "Heat", "categories": "Crime"},
        "user_profile": "[Like] slow-burn thrillers",
        "item_profile": "[Like] tense heist",
        "user_avg_rating": math.nan,
        "item_avg_rating": 8.25,
    }
    text = render_user_prompt(row, rating_min=1, rating_max=10)
    assert "Profile: [Like] slow-burn thrillers" in text and "Profile: [Like] tense heist" in text
    assert "Past ratings" not in text and "Average rating given" not in text
    assert "Average rating of this item: 8.25" in text and "Rating scale: 1 to 10." in text


def test_empty_sample_still_renders():
    text = render_user_prompt({})
    assert "No information about this user." in text and "No information about this item." in text


def test_build_messages_shape_and_clipping():
    messages = build_messages(ROW, variant="plain", max_review_chars=6)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == system_prompt("plain")
    assert "Review: Great…" in messages[1]["content"]


@pytest.mark.parametrize(
    "text,limit,expected",
    [
        ("a  b\n c", None, "a b c"),
        ("abcdef", 4, "abc…"),
        ("日本語のテキスト", 3, "日本…"),
        ("😀😀😀", 2, "😀…"),
        (None, 3, ""),
    ],
)
def test_clip_text_never_splits_characters(text, limit, expected):
    out = clip_text(text, limit)
    assert out == expected
    out.encode("utf-8")  # valid UTF-8


@pytest.mark.parametrize("value,expected", [(4.0, "4"), (3.6667, "3.67"), (2.5, "2.5"), (10, "10")])
def test_format_rating(value, expected):
    assert format_rating(value) == expected


def test_prefill_chat_template_renders_messages_independently(tiny_tokenizer):
    template = prefill_chat_template()
    messages = build_messages(ROW)
    full = tiny_tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False)
    parts = [tiny_tokenizer.apply_chat_template([m], chat_template=template, tokenize=False) for m in messages]
    assert full == "".join(parts)
    prompt = tiny_tokenizer.apply_chat_template(
        messages, chat_template=template, tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>assistant\n" + PREFILL_TEXT)


def test_tags_are_plain_text_for_the_tokenizer(tiny_tokenizer):
    """verl decodes responses with skip_special_tokens=True: the tags must survive that."""
    response = "".join(open_tag(n) + "x" + close_tag(n) for n in SECTION_NAMES[:3]) + "<rate>4</rate>"
    ids = tiny_tokenizer(response, add_special_tokens=False)["input_ids"]
    decoded = tiny_tokenizer.decode(ids, skip_special_tokens=True)
    assert decoded == response and parse_response(decoded).format_ok


def test_prefill_rejects_jinja_delimiters():
    with pytest.raises(ValueError):
        prefill_chat_template("{{ bad }}")
