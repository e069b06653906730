"""Quick compare of two answer files, without the registry: the same report a behaviour-diff report holds."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from diagnostics.behaviour.answer_stream import open_answer_file, pair_files
from diagnostics.behaviour.answers import AnswerFileError, read_file, read_prompts
from diagnostics.behaviour.engine import AnalysisOptions, analyse_source
from diagnostics.behaviour.export import report_markdown
from diagnostics.behaviour.metrics import REFUSAL_WINDOW
from diagnostics.management import judge_options


def _direction(text: str) -> tuple[str, str]:
    metric, sep, direction = text.partition("=")
    if not sep:
        raise CommandError(f"--direction {text!r}: use METRIC=up_is_worse|down_is_worse|neutral.")
    return metric.strip(), direction.strip()


class Command(BaseCommand):
    help = (
        "Compare answer files A and B (JSONL, JSON array or CSV; AlpacaEval model_outputs.json and Arena-Hard "
        "answer layouts included), paired by id or else by instruction text. Prints the Markdown summary."
    )

    def add_arguments(self, parser):
        parser.add_argument("a", help="answers of side A (before)")
        parser.add_argument("b", help="answers of side B (after)")
        parser.add_argument("--prompts", help="prompts file with segment fields (e.g. Arena-Hard question.jsonl)")
        parser.add_argument("--segment", action="append", default=[], help="segment field (repeat for more)")
        parser.add_argument("--label-a", help="name of side A (default: its generator, else the file name)")
        parser.add_argument("--label-b", help="name of side B")
        parser.add_argument("--json", help="write the report's JSON document here (as a report's JSON export)")
        parser.add_argument("--markdown", help="write the Markdown summary here")
        parser.add_argument("--text-field", help="the answer's field (default: output, completion, response, answer)")
        parser.add_argument("--id-field", help="the id's field (default: id, case_id, question_id, uid)")
        parser.add_argument("--refusal-pattern", action="append", dest="patterns", help="replaces the refusal grammar")
        parser.add_argument("--refusal-window", type=int, default=REFUSAL_WINDOW)
        parser.add_argument("--direction", action="append", default=[], help="METRIC=up_is_worse|down_is_worse|neutral")
        parser.add_argument("--alpha", type=float, default=0.05)
        parser.add_argument("--bootstrap", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--top", type=int, default=20, help="most changed cases kept in the report")
        parser.add_argument("--judge-url", help="OpenAI-compatible base URL of a pairwise preference judge")
        parser.add_argument("--judge-model", help="the judge's model name")
        parser.add_argument(
            "--judge-header", action="append", default=[], help="HEADER=ENV_VAR: a header whose value is in ENV_VAR"
        )
        judge_options.add_refusal_judge_arguments(parser)

    def handle(self, *args, **options):
        handles = []
        try:
            for key in ("a", "b"):
                handles.append(open_answer_file(options[key]))
            prompts = None
            if options["prompts"]:
                data, name = read_file(options["prompts"])
                prompts = read_prompts(data, filename=name)
            # Both files are read record by record; the engine keeps metrics, not texts (answer_stream).
            pairing = pair_files(
                handles[0][0],
                handles[1][0],
                names=(handles[0][1], handles[1][1]),
                text_field=options["text_field"],
                id_field=options["id_field"],
                prompts=prompts,
                segment_fields=options["segment"],
                labels=(options["label_a"], options["label_b"]),
            )
            analysis = AnalysisOptions(
                segment_fields=options["segment"],
                alpha=options["alpha"],
                bootstrap=options["bootstrap"],
                top_n=options["top"],
                refusal_patterns=options["patterns"],
                seed=options["seed"],
                refusal_window=options["refusal_window"],
                directions=dict(_direction(d) for d in options["direction"]) or None,
                label_a=pairing.label_a,
                label_b=pairing.label_b,
            )
            judged, account = self._refusals_judged(pairing, options) if options["refusal_judge_url"] else (None, None)
            report = analyse_source(pairing, analysis, judged_refusals=judged)
            if account:
                report["refusal_judge"] = account
            self._finish(report, pairing, options)
        except (AnswerFileError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            for handle, _ in handles:
                handle.close()

    def _finish(self, report: dict, pairing, options) -> None:
        self.stderr.write(pairing.note)
        if options["judge_url"]:
            report["preference"] = self._judge(pairing, options)
        markdown = report_markdown(report)
        if options["json"]:
            Path(options["json"]).write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        if options["markdown"]:
            Path(options["markdown"]).write_text(markdown, encoding="utf-8")
        self.stdout.write(markdown)

    def _refusals_judged(self, pairing, options) -> tuple:
        from diagnostics.reports.refusal_judge import judge_pairs

        return judge_options.with_endpoint(
            options, "refusal-judge", "refusal judge", lambda config: judge_pairs(pairing.chunks(), config)
        )

    def _judge(self, pairing, options) -> dict:
        from diagnostics.reports.preference import preference_judge

        return judge_options.with_endpoint(
            options,
            "judge",
            "preference judge",
            lambda config: preference_judge(
                pairing.frame(), config, segment_fields=options["segment"], labels=(pairing.label_a, pairing.label_b)
            ),
        )
