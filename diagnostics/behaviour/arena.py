"""Arena-Hard v0.1 answers of two GPT-4 snapshots as a behaviour-diff frame, and a Markdown summary.

    python -m diagnostics.behaviour.arena /work/shared/data/arena-hard [--json report.json]

Side A is gpt-4-0314, side B gpt-4-0613 (one sample each). Segments: ``cluster`` (the data set's 250 topic
clusters, two prompts each) and ``prompt_kind``, a coarse split made here from the prompt text (``coding`` when it
mentions code, else ``other``) so that some segment is large enough to test.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

from diagnostics.behaviour.engine import AnalysisOptions, analyse
from diagnostics.behaviour.export import report_markdown

MODEL_A = "gpt-4-0314"
MODEL_B = "gpt-4-0613"
_CODING = re.compile(
    r"```|\b(?:code|python|javascript|typescript|java|c\+\+|c#|rust|golang|sql|bash|script|function|class|"
    r"program|api|regex|html|css|django|react|kotlin|swift|matlab|vba|excel formula)\b",
    re.IGNORECASE,
)


def _answers(path: Path) -> dict[str, str]:
    answers = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                record = json.loads(line)
                answers[record["uid"]] = record["messages"][1]["content"]["answer"]
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise ValueError(f"{path.name} line {number}: not an arena-hard answer record ({exc})") from exc
    return answers


def load_frame(directory: str | Path) -> pd.DataFrame:
    """One row per prompt: case_id (uid), sample 0, output_a/output_b, cluster, prompt_kind."""
    directory = Path(directory)
    questions = [json.loads(line) for line in (directory / "question.jsonl").open(encoding="utf-8")]
    a, b = _answers(directory / f"{MODEL_A}.jsonl"), _answers(directory / f"{MODEL_B}.jsonl")
    missing = [q["uid"] for q in questions if q["uid"] not in a or q["uid"] not in b]
    if missing:
        raise ValueError(f"{len(missing)} prompt(s) lack an answer from one model, first {missing[0]}")
    return pd.DataFrame(
        {
            "case_id": [q["uid"] for q in questions],
            "sample": 0,
            "output_a": [a[q["uid"]] for q in questions],
            "output_b": [b[q["uid"]] for q in questions],
            "cluster": [q["cluster"] for q in questions],
            "prompt_kind": ["coding" if _CODING.search(q["prompt"]) else "other" for q in questions],
        }
    )


def run(directory: str | Path, *, seed: int = 0) -> dict:
    return analyse(load_frame(directory), AnalysisOptions(segment_fields=["cluster", "prompt_kind"], seed=seed))


def summary_markdown(report: dict) -> str:
    return report_markdown(report, label_a="0314", label_b="0613")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--json", help="also write the full report here")
    args = parser.parse_args(argv)
    report = run(args.directory)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(summary_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
