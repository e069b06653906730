"""Two Arena-Hard answer files (any layout the project has used) as a behaviour-diff frame, and its report.

    python -m diagnostics.behaviour.arena DIRECTORY [--a gpt-4-0314] [--b gpt-4-0613] [--json report.json]

DIRECTORY holds ``question.jsonl`` and one ``<model>.jsonl`` answer file per model, in v0.1 layout
(``messages[1].content.answer``) or the later one (``choices[0].turns[0]``, a string or ``{"content": ...}``); the
files are read by the quick-compare reader (``answers.py``), as ``manage.py behaviour_diff`` does. Segments: the data
set's ``cluster`` (two prompts each) and ``prompt_kind``, a coarse split made here from the prompt text (``coding``
when it mentions code, else ``other``) so that some segment is large enough to test.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

from diagnostics.behaviour.answers import pair_answers, read_answers, read_prompts
from diagnostics.behaviour.engine import AnalysisOptions, analyse
from diagnostics.behaviour.export import report_markdown

MODEL_A = "gpt-4-0314"
MODEL_B = "gpt-4-0613"
_CODING = re.compile(
    r"```|\b(?:code|python|javascript|typescript|java|c\+\+|c#|rust|golang|sql|bash|script|function|class|"
    r"program|api|regex|html|css|django|react|kotlin|swift|matlab|vba|excel formula)\b",
    re.IGNORECASE,
)


def load_frame(directory: str | Path, model_a: str = MODEL_A, model_b: str = MODEL_B) -> tuple[pd.DataFrame, tuple]:
    """One row per prompt: case_id (uid), sample 0, output_a/output_b, prompt, cluster, prompt_kind; and labels."""
    directory = Path(directory)
    questions = (directory / "question.jsonl").read_bytes()
    prompts = read_prompts(questions, filename="question.jsonl")
    sides = [
        read_answers((directory / f"{model}.jsonl").read_bytes(), filename=f"{model}.jsonl")
        for model in (model_a, model_b)
    ]
    pairing = pair_answers(*sides, prompts=prompts, segment_fields=["cluster"], names=(model_a, model_b))
    frame = pairing.frame
    texts = {f"id:{r['uid']}": r.get("prompt") or "" for r in map(json.loads, questions.decode().splitlines()) if r}
    frame["prompt_kind"] = [
        "coding" if _CODING.search(texts.get(f"id:{case}", "")) else "other" for case in frame["case_id"]
    ]
    return frame, (pairing.label_a, pairing.label_b)


def run(directory: str | Path, *, seed: int = 0, model_a: str = MODEL_A, model_b: str = MODEL_B) -> dict:
    frame, (label_a, label_b) = load_frame(directory, model_a, model_b)
    options = AnalysisOptions(segment_fields=["cluster", "prompt_kind"], seed=seed, label_a=label_a, label_b=label_b)
    return analyse(frame, options)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--a", default=MODEL_A, help="model of side A (its answer file is <model>.jsonl)")
    parser.add_argument("--b", default=MODEL_B)
    parser.add_argument("--json", help="also write the full report here")
    args = parser.parse_args(argv)
    report = run(args.directory, model_a=args.a, model_b=args.b)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(report_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
