"""The questions each layer's owner must answer before giving a verdict. Keys are stable (stored answers)."""

from __future__ import annotations

from diagnostics.models import DiagnosisLayer

CHECKLISTS: dict[str, list[tuple[str, str]]] = {
    DiagnosisLayer.MODEL: [
        (
            "silent_update",
            "Did the provider silently update the model behind the same name (check response headers, "
            "system fingerprint, provider changelog)?",
        ),
        (
            "alias_resolution",
            "Did an alias (e.g. 'gpt-4o', 'latest') re-resolve to a different snapshot in the window?",
        ),
        ("quantization", "Did precision or quantization change (fp16 → int8/int4, AWQ/GPTQ), or the serving engine?"),
        ("decoding", "Did decoding parameters change (temperature, top_p, max tokens, stop sequences, JSON mode)?"),
        ("adapters", "Did a LoRA adapter, its merge method or its base model change?"),
        (
            "reproduces_pinned",
            "Does the failure reproduce against the previous model version with everything else pinned?",
        ),
    ],
    DiagnosisLayer.DATA: [
        (
            "index_freshness",
            "Is the index fresh: when was the corpus snapshot taken, did documents go missing or stale?",
        ),
        (
            "embedding_model",
            "Did the embedding model or its version change, and do index and query encoder still match?",
        ),
        (
            "retrieval_quality",
            "Did retrieval quality drop (recall@k, empty or off-topic contexts) on the failing cases?",
        ),
        ("input_shift", "Did the input distribution shift (new customers, languages, document formats, seasonality)?"),
        ("pipeline_runs", "Did an upstream data pipeline or ETL run fail, partially run or change its schema?"),
    ],
    DiagnosisLayer.PROMPT: [
        ("prompt_edited", "Was the prompt or template edited in the window, perhaps to fix something else?"),
        ("variables", "Are all template variables filled as expected (missing context, truncation, wrong locale)?"),
        ("output_contract", "Does the prompt still state the output contract (format, JSON schema, refusal policy)?"),
        ("interaction", "Does the prompt interact badly with a model or retrieval change in the same window?"),
        ("regression_cases", "Do the failing cases pass with the previous prompt version?"),
    ],
    DiagnosisLayer.PRODUCT: [
        ("eval_stale", "Is the eval set stale or biased in its sampling (does it cover the segment that failed)?"),
        ("blind_spot", "Was there a monitoring blind spot: why did users or support notice before our alerts?"),
        ("thresholds", "Did an alert threshold, dashboard or sampling rate change recently?"),
        ("ui_change", "Did a UI or product release change what users send or how answers are shown?"),
        ("rollout_guard", "Did the rollout have a canary and judge that should have caught this, and why didn't it?"),
    ],
}


def checklist_for(layer: str, answers: dict) -> list[dict]:
    return [
        {"key": key, "question": question, **(answers.get(key) or {"answer": ""})}
        for key, question in CHECKLISTS[layer]
    ]
