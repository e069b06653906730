"""Per-answer behaviour metrics of one answer file: one CSV row per answer."""

from __future__ import annotations

import csv

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from diagnostics.behaviour.answers import AnswerFileError, read_answers, read_file
from diagnostics.behaviour.export import csv_safe
from diagnostics.behaviour.metrics import METRIC_COLUMNS, REFUSAL_WINDOW, output_metrics
from diagnostics.management import judge_options

COLUMNS = ["id", "refusal", "refusal_kind", "non_answer", "disclaimer"] + [
    c for c in METRIC_COLUMNS if c not in ("refusal", "non_answer", "disclaimer", "schema_valid")
]


class Command(BaseCommand):
    help = (
        "Measure every answer of FILE (JSONL, JSON array or CSV; AlpacaEval and Arena-Hard layouts included) and "
        "write one CSV row per answer: id, refusal (1 for a full or partial refusal), refusal_kind, non_answer, "
        "disclaimer and the other metrics."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--csv", dest="out", help="write the rows here (default: standard output)")
        parser.add_argument("--text-field", help="the answer's field (default: output, completion, response, answer)")
        parser.add_argument("--id-field", help="the id's field (default: id, case_id, question_id, uid)")
        parser.add_argument(
            "--refusal-pattern",
            action="append",
            dest="patterns",
            help="a regular expression replacing the maintained refusal grammar (repeat for more; ^ = answer start)",
        )
        parser.add_argument("--refusal-window", type=int, default=REFUSAL_WINDOW, help="opening characters scanned")
        judge_options.add_refusal_judge_arguments(parser)

    def handle(self, *args, **options):
        try:
            data, name = read_file(options["file"])
            records = read_answers(data, filename=name, text_field=options["text_field"], id_field=options["id_field"])
            metrics = output_metrics(
                pd.Series([r.text for r in records], dtype=object),
                refusal_patterns=options["patterns"],
                refusal_window=options["refusal_window"],
            )
            columns = COLUMNS
            if options["refusal_judge_url"]:
                metrics = self._judged(records, metrics, options)
                columns = [*COLUMNS, "refusal_by"]
        except (AnswerFileError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        metrics.insert(0, "id", [r.id if r.id is not None else str(r.number) for r in records])
        out = open(options["out"], "w", newline="", encoding="utf-8") if options["out"] else self.stdout  # noqa: SIM115
        try:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(columns)
            for row in metrics[columns].itertuples(index=False):
                writer.writerow([csv_safe(v) if isinstance(v, str) else int(v) for v in row])
        finally:
            if out is not self.stdout:
                out.close()
        n = len(metrics)
        summary = (
            f"{n} answers: refusal {metrics['refusal'].mean():.1%} "
            f"({(metrics['refusal_kind'] == 'partial').sum()} partial), non-answer {metrics['non_answer'].mean():.1%}, "
            f"disclaimer {metrics['disclaimer'].mean():.1%}"
        )
        if "refusal_by" in metrics:
            judged = int((metrics["refusal_by"] == "judge").sum())
            summary += f"; refusal judged by {options['refusal_judge_model']} for {judged} of {n}"
            if judged < n:
                summary += f" ({n - judged} of the judge's replies named no class: the detector's verdict kept)"
        self.stderr.write(summary)

    def _judged(self, records, metrics: pd.DataFrame, options) -> pd.DataFrame:
        from diagnostics.reports.refusal_judge import apply_judged, judge_refusals

        requests, texts = [r.instruction for r in records], [r.text for r in records]
        kinds = judge_options.with_endpoint(
            options, "refusal-judge", "refusal judge", lambda config: judge_refusals(requests, texts, config)
        )
        return apply_judged(metrics, kinds)
