"""Fit the refusal classifier that ships with the project and write its weights.

    .venv/bin/python -m bench._refusal_training

Training data: the project's own examples (``diagnostics/behaviour/refusal_examples.py``) and XSTest's human-labelled answers of five chat models (``../shared/data/xstest`` beside the
repository or ``REWIND_XSTEST_DIR``; Röttger et al., NAACL 2024, prompts CC BY 4.0), full and partial refusals
against full compliance, on the evidence of the full maintained grammar. Writes
``diagnostics/behaviour/refusal_model.json``; ``python -m bench refusal_quality`` then measures it, and measures
the same recipe with each model family held out.
"""

from __future__ import annotations

import json

from bench.refusal_quality import MODELS, data_dir, load
from diagnostics.behaviour import refusal_examples
from diagnostics.behaviour.refusal import Grammar, train_model
from diagnostics.behaviour.refusal_model import MODEL_PATH


def main() -> None:
    data = load(data_dir())
    texts = [*refusal_examples.REFUSALS, *refusal_examples.NOT_REFUSALS]
    labels = [True] * len(refusal_examples.REFUSALS) + [False] * len(refusal_examples.NOT_REFUSALS)
    for stem in MODELS:
        answers, labelled, _ = data[stem]
        texts += answers
        labels += list(labelled != "1_full_compliance")
    model = train_model(texts, labels, Grammar.default(model=None))
    MODEL_PATH.write_text(json.dumps(model.to_json(), separators=(",", ":"), sort_keys=True) + "\n")
    print(f"fitted on {len(texts)} answers ({sum(labels)} refusals); wrote {MODEL_PATH.name}")


if __name__ == "__main__":
    main()
