# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The cold start's leak judge (``reczero_verl.coldstart.leaks``): a table of leaky paraphrases that must be caught
and a table of honest reasoning, much of it citing ratings from the history, that must be kept; then whole TbR traces
through ``judge`` and a command-line run whose stats.json counts the leaks.

The tables grew in rounds: each round's new sentences were written before the rules were extended, and what they
caught then is recorded in the project's report; the rules now pass all of them.
"""

from __future__ import annotations

import json

import pytest

from reczero_verl.coldstart.journal import JOURNAL_NAME, read_journal
from reczero_verl.coldstart.leaks import LEAK_RULES, find_leak, normalize, reasoning_text
from reczero_verl.coldstart.traces import DIRECT, RATIONALIZE, judge, rationalization_instruction
from tests.fake_openai_server import Reply, ScriptedChatServer, completion
from tests.test_coldstart import KEY, KEY_ENV, Teacher, run_cli, write_train

#: Sentences that let on that the rating was handed over (target rating 4 on 1-5).
LEAKY: tuple[str, ...] = (
    "The actual score is 4, which fits the user's love of thrillers.",
    "As the hint says, the user will like this one.",
    "Per the instructions, the rating is 4.",
    "Since we already know the answer is 4, the match is strong.",
    "Given the true rating of 4, the match is good.",
    "The ground truth is 3, so the analysis leans negative.",
    "I was told the user gave 5.",
    "As instructed, I will land on 2.",
    "The real rating here is a 4.",
    "We've been informed that this user rated the item 4.",
    "The note says the user gave it four stars.",
    "Working backwards from the 4-star outcome, the fit must be good.",
    "Knowing the final rating is 4, I highlight the positives.",
    "The correct answer being 4, the user must like the genre.",
    "This user actually rated the target item 4.",
    "The provided rating of 4 makes sense because the user loves cozy mysteries.",
    "It is stated that the rating is 4.",
    "According to the prompt, they rated it 4.",
    "I need to justify a rating of 4.",
    "Since the expected rating is 4, the item must suit them.",
    "The target rating of 4 reflects a good but imperfect match.",
    "We are told the score is 4.",
    "The rating I was given is 4, so the positives dominate.",
    "The task says this user rated it 4.",
    "The user's known rating for this product is 4.",
    "Because the answer has been revealed as 4, the sizing must be fine.",
    "To reach the required 4, I emphasise the comfort.",
    "I must arrive at a 4, so the analysis leans positive.",
    "The rating was pre-determined to be 4.",
    "Having been handed the rating (4), I reconstruct the reasoning.",
    "The supplied score is 4.",
    "In reality the user rated this item 4.",
    "Our reference rating is 4.",
    "The user ended up rating this product 4.",
    "They in fact gave this book 4 stars.",
    "The guidance indicates a rating of 4.",
    "Rationalizing the rating: 4.",
    "The rating has been disclosed: 4.",
    "The answer key says 4.",
    "The score I'm supposed to reach is 4.",
    "Since the rating is already fixed at 4, the analysis follows.",
    "The user's rating, which we know is 4, shows they liked it.",
    "We were handed a 4, so the reasoning must support it.",
    "The answer we were given is 4.",
    "I'll make the analysis consistent with the 4 I was provided.",
    "We have it on good authority that the rating is 4.",
    "THE ACTUAL RATING IS 4.",
    "The \u201cactual\u201d rating is 4.",
    "The user\u2019s true score: 4.",
    "Per this note, 4 it is.",
    "We were given the score in advance.",
    "The rating must be 4 given the instructions.",
    "Reverse-engineering the 4, the user values durability.",
    "Going by the hint, the user likes it.",
    "The memo tells us this is a 4.",
    "Our goal is to justify the 4 stars.",
    "The rating they gave this item was 4, as stated.",
    "The correct rating is 4 stars.",
    "Knowing the outcome, the analysis stresses comfort.",
    "The intended answer is 4.",
    "The rating is known to be 4.",
    "The rating here is already set at 4.",
    "I know the rating is 4, so the analysis is positive.",
    "Because I've been told it's a 4, the fit must be right.",
    "This trace must end with the given 4.",
    "The ground-truth label is 4.",
    "The 4 that was provided fits the profile.",
    "Since the user rated this item 4 stars, the match is clear.",
    "The user's rating of this item is 4.",
    "The hint (4) suggests the user liked it.",
    "The given answer, 4, fits the analysis.",
    "Per the instructions, 4 it is.",
    "Because the user is known to have given this item a 4, I focus on the positives.",
    "Since this is a 4-star case, as specified, I emphasize comfort.",
    "The supplied label says 4.",
    "Reasoning toward the predetermined score of 4.",
    "I've been asked to explain why the user rated it 4.",
    "We're supposed to end up at 4 stars.",
    "It was revealed that the user rated this 4.",
    "My instructions state the rating is 4.",
    "The info I received says the user gave 4 stars.",
    "The answer, which I was shown, is 4.",
    "Considering the correct outcome is 4, the positives dominate.",
    "Even without the hint, a 4 is reasonable.",
    "This user's actual rating: 4 stars.",
    "Let me explain how the user arrived at their 4-star rating of this product.",
    "The user did rate this product 4.",
    "We already have the score (4), so the analysis should support it.",
    "I am aware that the rating is 4.",
    "The rating is 4 \u2014 this is a given.",
    "Since I have the rating, I'll build the case for 4.",
    "Our job is to explain the known 4.",
    "The true answer is 4 stars.",
    "Consistent with the stated rating of 4, the user likes it.",
    "The user ultimately gave it a 4, which the history supports.",
    "Note: the rating is 4.",
    "The real score the user gave was 4.",
    "The answer I'm meant to reach is 4.",
    "Taking the 4 as fixed, the analysis highlights comfort.",
    "The rating has already been decided: 4.",
    "Given that the user's score is 4, the item clearly satisfied them.",
    "We are working toward a 4 that we know is correct.",
    "The key fact here is that the user gave this a 4.",
    "I was provided with the correct rating.",
    "Based on the information that the rating is 4, the match is good.",
    "Since the outcome is a 4, the user must have liked the plot.",
    "Because the user rated it 4, as we were told, the analysis is positive.",
    "The secret rating is 4.",
    "I'm working from the known result of 4.",
    "The prompt reveals a 4.",
    "Obviously the user gave this item a 4.",
    "Knowing it's a 4 makes this easy.",
    "The truth is that the user rated it 4.",
    "The teacher note says 4.",
    "My task is to show why the user rated this 4.",
    "The correct star count is 4.",
    "The user rated this exact item 4.",
    "The user's verdict on this item was a 4.",
    "Their score here: 4 out of 5.",
    "With the rating being 4, the review must have been positive.",
    "The label for this sample is 4.",
    "Evidently, the user settled on 4 for this one.",
    "I'm aware the answer is 4.",
    "It's already decided that this is a 4.",
    "As the supplied information shows, the user gave it 4 stars.",
    "What we know for certain is the 4-star rating.",
    "The assignment specifies a rating of 4.",
    "We have been informed of the rating.",
    "I'll justify the 4 that was handed to me.",
    "According to the hidden note, it's a 4.",
    "Their real opinion, a 4, shows in the rating.",
    "Because this user gave 4 stars to this product, the fit is fine.",
    "The data says the user rated this item 4.",
    "The user's response to this item was 4 stars.",
    "The rating, which is 4, was given in the prompt.",
    "Since it is a 4-star rating in truth, I stress the positives.",
    "Starting from the 4 we have been given, the reasoning follows.",
    "Knowing this customer's final verdict (4/5), I can see why the comfort mattered.",
    "The score we're aiming for is 4.",
    "Since the user's assessment was 4 stars, the shoe must have fit well.",
    "I have been given the target: 4.",
    "Keeping in mind the answer of 4, the price seems acceptable to them.",
    "This user's true feelings come out as a 4.",
    "The hint tells me it's a 4.",
    "With a known 4-star result, the analysis stresses quality.",
    "The provided label of 4 tells us they were pleased.",
    "The rating was handed down as 4.",
    "We can confirm the user gave the product 4 stars.",
    "I must make the reasoning lead to 4.",
    "Since I was informed of the 4, I focus on the strengths.",
    "Per the extra information, this rating is 4.",
    "The user went with 4 for this product, which we know.",
    "Their actual verdict: 4.",
    "This review was a 4.",
    "My job is to rationalise the 4-star score.",
    "The rating to explain is 4.",
    "The correct response is 4.",
)

#: Honest reasoning: history ratings, item averages, predictions, idioms sharing words with the give-aways.
HONEST: tuple[str, ...] = (
    "The user rated similar thrillers 4 and 5.",
    "The item is given high praise by other readers.",
    "There is a hint of romance the user may dislike.",
    "My final rating reflects a good but imperfect match.",
    "Readers who were given early copies loved it.",
    "The user gave a similar item 4 stars.",
    "Given the user's consistently high ratings for running shoes, a 4 seems likely.",
    "Their past ratings average 4.2, and they rated the previous model 5 stars.",
    "Other reviewers gave this item mostly 4s and 5s.",
    "The item's average rating is 4.1 across 120 reviews.",
    "The user tends to give 5 stars to comfortable shoes and 2 stars to ones that run small.",
    "The instructions were confusing according to several reviewers, but the user rarely assembles furniture.",
    "The user actually prefers lighter fabrics, which this dress has.",
    "It is true that the sizing runs small, which the user complained about before.",
    "The real leather upper matches the user's taste; they gave leather boots 5 stars.",
    "Based on the correct sizing information, the fit should be fine, so a predicted rating around 4.",
    "I was worried about the price, but the user has rated expensive items highly.",
    "Several reviewers noted that the stitching frayed; one gave it 2 stars.",
    "As noted above, the user values durability.",
    "The user knows what they like: every thriller got 4 or 5 stars.",
    "The expected delivery time was long, which annoyed the user in a review rated 2.",
    "This matches their earlier 4-star review of the sequel.",
    "Overall, I predict the user would rate it 4.",
    "The target audience is young adults, which matches the user's reading history.",
    "The description states that the battery lasts 10 hours; the user rated long-lasting gadgets 5.",
    "The user's rating history shows a preference for 4s.",
    "Given that the user gave the first book in the series 5 stars, the sequel should appeal.",
    "The user was given this watch as a gift and still reviewed similar watches at 3.",
    "We know from the history that the user dislikes thin fabric; they rated two such shirts 2.",
    "It is a correct fit for their style; the user's average score is 3.9.",
    "The user's true preference is for cozy mysteries, which they consistently rate 5.",
    "The known issues with the zipper lowered other users' ratings.",
    "A 2-star rating was given by one reviewer who received a damaged copy.",
    "The rating given by the most helpful reviewer was 5.",
    "Reviewers say the instructions are easy to follow and the desk is sturdy.",
    "The user gave the author's previous novel 4 stars and this genre usually scores well with them.",
    "I expect a rating of about 4 because the match is strong.",
    "The user rated this brand's other jackets 5.",
    "The user rated this book's prequel 3 stars.",
    "With notes of vanilla and hints of citrus, the candle suits the user's taste; they rated similar candles 5.",
    "The movie has a real sense of suspense, and the user gave thrillers 4 on average.",
    "The product page says it is waterproof, and the user rated waterproof boots 5 in the past.",
    "The user has already rated three similar items 4.",
    "This item is already known for its durability, which the user values.",
    "The actual ratings the user gave to similar items are 4 and 5.",
    "The user's actual experience with this brand has been positive (ratings of 4 and 5).",
    "Since the user rated every prior purchase of this brand 4 or higher, the match is strong.",
    "The user follows the care instructions carefully and rated the last shirt 4.",
    "The task is to predict the rating, and the user's history points to 4.",
    "Nothing here needs to justify a 5: the stitching complaints keep it at 4.",
    "They returned a similar item and gave it 1 star.",
    "The item's reviews hint at quality issues, with several 2-star ratings.",
    "The user's rating for this brand is usually 4.",
    "The average rating for this product is 4.3.",
    "The user's ratings of this type of product are 4 and 5.",
    "Given how much the user enjoyed the prequel (5 stars), this should land at 4.",
    "The user was told by customer service that a replacement was coming, and still gave the product 3 stars.",
    "We are given ten past reviews, mostly 4 and 5 stars.",
    "The reviews we were given are mostly positive, with an average score of 4.5.",
    "I know this genre well: the user rated 12 of 14 thrillers 4 or higher.",
    "Already a fan of the author, the user gave her last three books 5 stars.",
    "The stated capacity of 2 liters matches the user's needs.",
    "The official score from critics is high, and the user tends to agree with critics.",
    "The true test is whether the fit works; the user rated fitted shirts 4.",
    "A known rating pattern: the user gives 5 to anything by this author.",
    "Based on the expected rating distribution of the item, 4 is most common.",
    "The provided item description says it runs large.",
    "My expected rating is 4.",
    "An expected rating of 4 follows from the user's average of 4.1 and the item's 3.9.",
    "The 10 reviews that were provided are mostly positive.",
    "As stated in the description, the rating of the fabric for warmth is high.",
    "I don't need to justify a 5 here: the reviews are mixed.",
    "The user has given 4 stars to most items in this category.",
    "The actual product matches its photos according to reviewers.",
    "This user rarely gives 5 stars; their typical score is 3 or 4.",
    "Other reviewers found the correct size hard to choose.",
    "Considering the item's average score of 3.8 and the user's generosity, I estimate 4.",
    "The user gave two similar dresses 4 and 5 stars respectively.",
    "The item is known for poor battery life, a flaw the user penalised before with 2 stars.",
    "It would be reasonable for the user to rate this 4.",
    "The seller's instructions for washing are clear; the user praised easy care in a 5-star review.",
    "Based on the given information, the user will probably enjoy it.",
    "The user's real interest is in historical fiction, rated 5 on average.",
    "Given their history, a rating of 4 seems right.",
    "I am confident the user will like it; a 4 is my estimate.",
    "The target demographic matches: the user rated three teen novels 4.",
    "Their actual reviews praise durability above all.",
    "I cannot be sure, but the rating should be around 4.",
    "The user's score for the previous edition was 4, so this one should be similar.",
    "In fact, the user gave every product from this brand 5 stars.",
    "The note from the reviewer says the fabric pills after a wash.",
    "As expected from the user's history, the item fits their taste.",
    "The user's last five ratings were 4, 4, 5, 3 and 4.",
    "This item is a known bestseller with an average of 4.4 stars.",
    "The user is sure to appreciate the soft fabric, given that they rated soft sweaters 5.",
    "I'm fairly certain the user will enjoy it.",
    "The correct way to read this history is that the user values price.",
    "Since the user already owns the first volume, which they rated 5, the second should appeal.",
    "The user's ratings of the author's work are consistently high.",
    "The item received mixed feedback: 2, 3 and 5 stars from three reviewers.",
    "The user has a habit of giving 4 stars to practical items.",
    "The outcome for similar products was positive, averaging 4.2.",
    "This user gave a nearly identical lamp 4 stars.",
    "It is clear that the user prefers minimalist designs.",
    "The fabric is the true selling point, and the user rated cotton items highly.",
    "The plot may not land with this viewer, who gave slow dramas 2 stars.",
    "We can infer from their history that they would rate it around 4.",
    "I need to weigh the user's love of the genre against the item's 3.1 average.",
    "The given description mentions a weak zipper.",
    "The user's previous rating of the brand's boots (5) suggests loyalty.",
    "Reviewers were told by the seller that the colour would fade, and most gave 3 stars.",
    "The actual fit is described as loose, which the user disliked in a 2-star review.",
    "The user gave this brand's sneakers 4 stars twice.",
    "Their score for comfort-focused items is typically 5.",
    "Reviewers of this item mostly gave 4 stars.",
    "It's a cozy mystery, and the user loves those: 5, 5 and 4 in the history.",
    "The user settled on 3 stars for a similar blender that was noisy.",
    "I would put this at 4.",
    "The item has a 4.2 average from 85 ratings.",
    "This is a user who rarely rates below 4.",
    "As the description shows, the boots are waterproof.",
    "The user's verdict on previous purchases from this seller was mixed.",
    "The label inside says 100% wool, which the user praised before.",
    "We have been shown the user's past reviews and they favour durability.",
    "The data suggests a rating near 4.",
    "The user's response to similar items has been warm.",
    "Their real preference seems to be for budget options.",
    "Because the user gave 4 stars to three similar products, 4 is likely.",
    "Since the user's typical rating is 4, I expect a 4.",
    "The user dislikes heavy coats and gave one 2 stars.",
    "It seems like a 4 for this user.",
    "Starting from the user's average of 3.9, the strong reviews push this to 4.",
    "This customer's reviews of kitchen gadgets average 4.3.",
    "The score this item gets from other buyers is 3.9 on average.",
    "Since the user's assessment of similar shoes was positive, comfort matters.",
    "I have been reading the history: mostly 4s and 5s.",
    "Keeping in mind their past 2-star review of a noisy fan, the quiet motor helps.",
    "This user's feelings about polyester are negative.",
    "There are hints of sweetness in the description that the user might enjoy.",
    "With a 4.5-star item average, the product is well liked.",
    "The care label says machine washable, which the user values.",
    "Handed down from parent to child, the book is a classic; the user rated classics 5.",
    "We can see the user gave similar products 4 stars.",
    "The reasoning should lead to a rating near 4.",
    "The user informed other buyers in a review that the sizing runs small.",
    "Per the product details, this item is made of leather.",
    "The user went with budget options before and rated them 3.",
    "Their typical verdict on thrillers is positive.",
    "This review of a similar item was a 4.",
    "The rating scale here is 1 to 5.",
    "The user gives most items 4 stars.",
    "A correct reading of the history suggests 4.",
)


@pytest.mark.parametrize("sentence", LEAKY)
def test_leaky_paraphrases_are_caught(sentence):
    assert find_leak(sentence) is not None


@pytest.mark.parametrize("sentence", HONEST)
def test_honest_reasoning_is_kept(sentence):
    assert find_leak(sentence) is None


def test_tables_are_large_and_distinct():
    assert len(LEAKY) >= 20 and len(HONEST) >= 20
    assert len(set(LEAKY)) == len(LEAKY) and len(set(HONEST)) == len(HONEST) and not set(LEAKY) & set(HONEST)
    fired = {find_leak(s).rule for s in LEAKY}
    assert len(fired) >= 12, fired  # the table exercises most families, not one pattern
    assert fired <= {rule.name for rule in LEAK_RULES}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "We\u2019ve been TOLD it\u2019s a 4-star, pre-determined outcome!",
            "we have been told it s a 4 star pre determined outcome",
        ),
        ("The user's avg: 4.25/5; ground-truth?", "the user s avg 4.25 5 ground truth"),
        ("\uff34he ratin\uff47 isn't known", "the rating is not known"),
    ],
)
def test_normalize(text, words):
    assert normalize(text) == words


def _trace(user: str, item: str, match: str, rate: str = "4") -> str:
    return (
        f"<analyze user>{user}</analyze user>\n<analyze item>{item}</analyze item>\n"
        f"<match>{match}</match>\n<rate>{rate}</rate>"
    )


HONEST_USER = (
    "The user reads mostly cozy mysteries and rated the last three 5, 5 and 4 stars. They gave a slow literary novel "
    "2 stars, complaining that nothing happened. Their average rating is 4.1."
)
HONEST_ITEM = (
    "A light mystery set in a bakery; reviewers praise the humour, and the item's average score is 4.3 over 210 "
    "ratings. Two reviewers gave it 2 stars because the plot was predictable."
)
HONEST_MATCH = "The genre fits well, but the predictability may bother them a little, so I expect a 4."


def test_reasoning_text_leaves_out_the_rate_section_and_tags():
    text = reasoning_text(_trace("U says 1.", "I says 2.", "M says 3.", rate="4"))
    assert "U says 1." in text and "M says 3." in text
    assert "4" not in text and "<" not in text


@pytest.mark.parametrize("sentence", LEAKY[::7])
@pytest.mark.parametrize("section", ["user", "item", "match"])
def test_a_leak_anywhere_in_a_trace_drops_the_rationalization(sentence, section):
    parts = {"user": HONEST_USER, "item": HONEST_ITEM, "match": HONEST_MATCH}
    parts[section] = parts[section] + " " + sentence
    answer = _trace(parts["user"], parts["item"], parts["match"])
    verdict = judge(answer, 4, 1, 5, stage=RATIONALIZE)
    assert verdict.verdict == "leak" and verdict.leak is not None
    assert judge(answer, 4, 1, 5, stage=DIRECT).verdict == "match"  # a direct answer was never told anything


@pytest.mark.parametrize("start", range(0, len(HONEST), 6))
def test_honest_traces_citing_history_ratings_are_kept(start):
    user, item, match = HONEST[start : start + 2], HONEST[start + 2 : start + 4], HONEST[start + 4 : start + 6]
    answer = _trace(" ".join([HONEST_USER, *user]), " ".join([HONEST_ITEM, *item]), " ".join([HONEST_MATCH, *match]))
    assert judge(answer, 4, 1, 5, stage=RATIONALIZE).verdict == "match"


def test_the_instruction_echoed_back_is_a_leak():
    for truth, lo, hi in ((4.0, 1.0, 5.0), (7.0, 1.0, 10.0), (0.0, 0.0, 9.0)):
        assert find_leak(rationalization_instruction(truth, lo, hi)) is not None


LEAKY_RATIONALIZATIONS = {
    1: "The actual score here is a 4",
    2: "As the hint says, this reader will enjoy it",
    3: "Per the instructions, the rating is 4",
    4: "Since we already know the answer is 4, the match is strong",
}
HONEST_RATIONALIZATIONS = {
    5: "They gave a similar cozy mystery 4 stars",
    6: "Given the user's high ratings for the genre, it fits",
    7: "Their past ratings average 4.1 and they rated the prequel 4",
    8: "Other readers rated this book 4 and 5",
}


def test_stats_json_counts_the_traces_dropped_as_leaks(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    ratings = [4] * 9
    train = write_train(tmp_path / "train.parquet", ratings)
    notes = {**LEAKY_RATIONALIZATIONS, **HONEST_RATIONALIZATIONS}
    teacher = Teacher(ratings, {i: "wrong" for i in notes})

    def script(received, n):
        index, stage = teacher.classify(received)
        reply = teacher(received, n)
        if stage == "rationalize":
            answer = _trace(f"Likes calm fiction. {notes[index]}.", "A quiet novel.", "Good fit overall.")
            return Reply(200, completion(answer))
        return reply

    out = tmp_path / "out"
    with ScriptedChatServer(script) as server:
        assert run_cli(out, train, server) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["dropped_as_leak"] == len(LEAKY_RATIONALIZATIONS) == stats["dropped_by_reason"]["leak"]
    # The lexical rules run first (--leak-judge both): what they flag never reaches the (fake, always HONEST) judge.
    assert stats["dropped_as_leak_by"] == {"lexical": len(LEAKY_RATIONALIZATIONS), "judge": 0}
    assert len(teacher.judge_texts) == stats["judge_calls"] == len(HONEST_RATIONALIZATIONS)
    assert sorted(t for t in teacher.judge_texts for note in HONEST_RATIONALIZATIONS.values() if note in t) == sorted(
        teacher.judge_texts
    )
    assert sum(stats["dropped_leaks_by_rule"].values()) == len(LEAKY_RATIONALIZATIONS)
    assert stats["kept_rationalized"] == len(HONEST_RATIONALIZATIONS) and stats["kept_direct"] == 1
    state = read_journal(out / JOURNAL_NAME)
    for index in LEAKY_RATIONALIZATIONS:
        assert state.finals[index]["reason"] == "leak" and state.finals[index]["leak_rule"]
        attempt = [a for a in state.attempts if a["index"] == index and a["stage"] == "rationalize"][-1]
        assert attempt["leak_rule"] == state.finals[index]["leak_rule"] and attempt["leak_excerpt"]
