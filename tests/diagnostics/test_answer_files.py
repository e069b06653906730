"""Answer files in every layout the quick compare reads, and how two of them are paired."""

from __future__ import annotations

import json

import pytest

from diagnostics.behaviour.answers import AnswerFileError, pair_answers, read_answers, read_prompts

ANSWERS = {"q1": "Restart the worker.", "q2": "I'm sorry, but I can't help with that.", "q3": "Use a cache."}


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def layouts() -> dict[str, tuple[bytes, str]]:
    rows = [{"id": k, "output": v} for k, v in ANSWERS.items()]
    return {
        "jsonl": (jsonl(rows), "a.jsonl"),
        "json array": (json.dumps(rows).encode(), "a.json"),
        "csv": (("id,output\n" + "".join(f'{k},"{v}"\n' for k, v in ANSWERS.items())).encode(), "a.csv"),
        "completion field": (jsonl([{"case_id": k, "completion": v} for k, v in ANSWERS.items()]), "a.jsonl"),
        "response field": (jsonl([{"question_id": k, "response": v} for k, v in ANSWERS.items()]), "a.jsonl"),
        "arena-hard v0.1 messages": (
            jsonl(
                [
                    {
                        "uid": k,
                        "model": "model-x",
                        "messages": [
                            {"role": "user", "content": f"question {k}"},
                            {"role": "assistant", "content": {"answer": v}},
                        ],
                    }
                    for k, v in ANSWERS.items()
                ]
            ),
            "model-x.jsonl",
        ),
        "arena-hard choices, string turn": (
            jsonl([{"question_id": k, "choices": [{"index": 0, "turns": [v]}]} for k, v in ANSWERS.items()]),
            "a.jsonl",
        ),
        "arena-hard choices, content turn": (
            jsonl(
                [{"question_id": k, "choices": [{"index": 0, "turns": [{"content": v}]}]} for k, v in ANSWERS.items()]
            ),
            "a.jsonl",
        ),
        "utf-8 bom": (b"\xef\xbb\xbf" + jsonl(rows), "a.jsonl"),
    }


@pytest.mark.parametrize("layout", sorted(layouts()))
def test_every_layout_gives_the_same_ids_and_answers(layout):
    data, name = layouts()[layout]
    records = read_answers(data, filename=name)
    assert {r.id: r.text for r in records} == ANSWERS


def test_alpacaeval_model_outputs_are_paired_by_instruction_and_named_by_generator():
    def outputs(generator: str, texts: list[str]) -> bytes:
        rows = [
            {"instruction": f"Explain topic {i}.", "output": t, "generator": generator, "dataset": "helpful_base"}
            for i, t in enumerate(texts)
        ]
        return json.dumps(rows).encode()

    a = read_answers(outputs("model-v1", ["one", "two", "three"]), filename="model_outputs.json")
    b = read_answers(outputs("model-v2", ["uno", "dos", "tres"])[::1], filename="model_outputs.json")
    pairing = pair_answers(list(reversed(a)), b, segment_fields=["dataset"])
    assert pairing.by == "instruction"
    assert (pairing.label_a, pairing.label_b) == ("model-v1", "model-v2")
    frame = pairing.frame.set_index("case_id")
    assert frame.loc["Explain topic 1.", "output_a"] == "two" and frame.loc["Explain topic 1.", "output_b"] == "dos"
    assert set(frame["dataset"]) == {"helpful_base"}


def test_segments_come_from_a_prompts_file_keyed_by_id():
    data, name = layouts()["arena-hard v0.1 messages"]
    a = read_answers(data, filename=name)
    b = read_answers(layouts()["arena-hard choices, string turn"][0], filename="b.jsonl")
    prompts = read_prompts(
        jsonl([{"uid": k, "cluster": f"cluster-{k}", "prompt": f"question {k}"} for k in ANSWERS]), filename="q.jsonl"
    )
    pairing = pair_answers(a, b, prompts=prompts, segment_fields=["cluster"])
    assert pairing.by == "id"
    assert dict(zip(pairing.frame["case_id"], pairing.frame["cluster"], strict=True)) == {
        "q1": "cluster-q1",
        "q2": "cluster-q2",
        "q3": "cluster-q3",
    }
    assert pairing.label_a == "model-x" and pairing.label_b == "B"


def test_unpaired_answers_are_counted_and_left_out():
    a = read_answers(jsonl([{"id": k, "output": v} for k, v in ANSWERS.items()]), filename="a.jsonl")
    b = read_answers(jsonl([{"id": "q1", "output": "x"}, {"id": "q9", "output": "y"}]), filename="b.jsonl")
    pairing = pair_answers(a, b, names=("a.jsonl", "b.jsonl"))
    assert list(pairing.frame["case_id"]) == ["q1"]
    assert (pairing.only_a, pairing.only_b) == (2, 1)
    assert "2 answer(s) only in a.jsonl" in pairing.note


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b'{"id": 1, "output": "x"}\nnot json\n', "a.jsonl", "a.jsonl line 2: not valid JSON"),
        (b'{"id": 1, "text": "x"}\n', "a.jsonl", "record 1: no answer text"),
        (b"[1, 2]", "a.json", "item 1 of the array is not a JSON object"),
        (b"\xff\xfe", "a.jsonl", "not UTF-8"),
        (b"", "a.jsonl", "the file is empty"),
    ],
)
def test_a_bad_file_is_named_with_its_record(data, name, message):
    with pytest.raises(AnswerFileError, match=message):
        read_answers(data, filename=name)


def test_a_repeated_id_and_an_unknown_segment_field_are_errors():
    twice = read_answers(jsonl([{"id": "q1", "output": "x"}, {"id": "q1", "output": "y"}]), filename="a.jsonl")
    once = read_answers(jsonl([{"id": "q1", "output": "x"}]), filename="b.jsonl")
    with pytest.raises(AnswerFileError, match="record 2: id 'q1' already appears in record 1"):
        pair_answers(twice, once)
    with pytest.raises(AnswerFileError, match="Segment field"):
        pair_answers(once, once, segment_fields=["tenant"])


def test_named_text_and_id_fields_are_used():
    data = jsonl([{"key": "k1", "reply": "hello", "output": "not this"}])
    records = read_answers(data, filename="a.jsonl", text_field="reply", id_field="key")
    assert (records[0].id, records[0].text) == ("k1", "hello")
