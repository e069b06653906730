"""Evidently's text descriptors on the benchmark's answer files, for comparison with the behaviour diff.

Run by the Evidently virtual environment's interpreter (``bench/diff_engine.py`` creates it under var/), never
by the project's: ``var/bench-evidently/bin/python bench/_evidently_descriptors.py A.jsonl B.jsonl``. Prints one
JSON line: wall and CPU seconds, peak RSS and the RSS after imports (so working memory is the difference).
Only descriptors that run locally are used (no model or corpus downloads): length, words, sentences,
non-letter share, valid JSON and a refusal phrase check, on both sides' answers.
"""

import json
import resource
import sys
import time


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(path_a: str, path_b: str) -> None:
    import pandas as pd
    from evidently import DataDefinition, Dataset
    from evidently.descriptors import (
        Contains,
        IsValidJSON,
        NonLetterCharacterPercentage,
        SentenceCount,
        TextLength,
        WordCount,
    )

    imported_rss = _rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    answers = {}
    for side, path in (("a", path_a), ("b", path_b)):
        with open(path, encoding="utf-8") as fh:
            answers[side] = {r["id"]: r["output"] for r in map(json.loads, fh)}
    frame = pd.DataFrame({"output_a": pd.Series(answers["a"]), "output_b": pd.Series(answers["b"])}).dropna()
    del answers
    descriptors = []
    for column in ("output_a", "output_b"):
        descriptors += [
            TextLength(column, alias=f"{column}_chars"),
            WordCount(column, alias=f"{column}_words"),
            SentenceCount(column, alias=f"{column}_sentences"),
            NonLetterCharacterPercentage(column, alias=f"{column}_non_letter"),
            IsValidJSON(column, alias=f"{column}_json"),
            Contains(column, items=["I'm sorry", "I can't", "I cannot"], mode="any", alias=f"{column}_refusal"),
        ]
    dataset = Dataset.from_pandas(
        frame, data_definition=DataDefinition(text_columns=["output_a", "output_b"]), descriptors=descriptors
    )
    values = dataset.as_dataframe()
    print(
        json.dumps(
            {
                "pairs": len(frame),
                "descriptors": len(descriptors),
                "wall_s": time.perf_counter() - wall,
                "cpu_s": time.process_time() - cpu,
                "rss_after_imports_mb": imported_rss,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "refusal_rate_b": float(values["output_b_refusal"].mean()),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
