"""Demo registry: two realistic features with ~6 releases each over the past six weeks. Idempotent: components
and releases are content-addressed, and deployments are only added to environments that have none."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from core.actors import system_actor
from core.models import Team
from rollouts.registry import services
from rollouts.registry.models import Environment, Feature, Source

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
SUPPORT_SYSTEM = """You are the support assistant for Acme Cloud.
Answer only from the retrieved help-center articles.
If the articles do not answer the question, say so and offer a human agent."""
SUPPORT_TEMPLATE = """Articles:
{{ context }}

Customer: {{ question }}"""

INVOICE_SYSTEM = """You extract invoice fields as JSON that matches the schema.
Never guess: use null for fields that are not printed on the invoice."""
INVOICE_TEMPLATE = """Invoice text (OCR):
{{ ocr_text }}

Return: vendor_name, invoice_number, issue_date, due_date, total, currency."""


# The demo's catalogue (features and environments) is set up by the loader, not by one of the demo people.
DEMO_LOADER = system_actor("demo data")


def _feature(slug, name, team_slug, description, actor) -> Feature:
    feature = Feature.objects.filter(slug=slug).first()
    if feature is None:
        team = Team.objects.get(slug=team_slug)
        feature = services.feature_create(actor=DEMO_LOADER, slug=slug, name=name, team=team, description=description)
    for env_name, is_prod in (("staging", False), ("production", True)):
        if not Environment.objects.filter(feature=feature, name=env_name).exists():
            services.environment_create(actor=DEMO_LOADER, feature=feature, name=env_name, is_production=is_prod)
    return feature


def _release(feature, actor, *, model, prompt, index=None, adapters=(), notes=""):
    return services.release_create(
        actor=actor,
        feature=feature,
        model=model,
        prompt=prompt,
        index=index,
        query_encoder=index.encoder if index else "",
        adapters=list(adapters),
        notes=notes,
        source=Source.DEMO,
    )[0]


def _deploy(feature, plan, start):
    """plan: (release, env name, offset from start, actor, extra kwargs). Only into environments with no history."""
    envs = {env.name: env for env in feature.environments.all()}
    if any(env.deployments.exists() for env in envs.values()):
        return
    for release, env_name, offset, actor, extra in plan:
        services.deployment_record(
            actor=actor, environment=envs[env_name], release=release, live_at=start + offset, via=Source.CI, **extra
        )


def _support_assistant(people, start):
    maya, leo, priya = people["maya"], people["leo"], people["priya"]
    feature = _feature(
        "support-assistant",
        "Support assistant",
        "conversation-design",
        "RAG assistant answering customer questions from the help center (self-hosted Llama 3.1 8B on vLLM).",
        maya,
    )
    bf16, _ = services.model_version_register(
        actor=maya,
        provider="vllm",
        requested_alias="llama-3.1-8b-instruct",
        resolved_snapshot=LLAMA,
        precision="bf16",
        decoding_params={"temperature": 0.3, "top_p": 0.9, "max_tokens": 512},
    )
    awq, _ = services.model_version_register(
        actor=maya,
        provider="vllm",
        requested_alias="llama-3.1-8b-instruct",
        resolved_snapshot="hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4",
        base_model=LLAMA,
        precision="int4",
        quantization="AWQ",
        decoding_params={"temperature": 0.3, "top_p": 0.9, "max_tokens": 512},
    )
    p1, _ = services.prompt_version_register(
        actor=priya,
        name="support-answer",
        system_prompt=SUPPORT_SYSTEM,
        template=SUPPORT_TEMPLATE,
        variables=["context", "question"],
        author="priya",
        message="Initial support prompt",
    )
    p2, _ = services.prompt_version_register(
        actor=priya,
        name="support-answer",
        system_prompt=SUPPORT_SYSTEM + "\nCite the article id for every claim, like [KB-1234].",
        template=SUPPORT_TEMPLATE,
        variables=["context", "question"],
        author="priya",
        message="Cite article ids so agents can verify answers (SUP-412)",
    )
    p3, _ = services.prompt_version_register(
        actor=priya,
        name="support-answer",
        system_prompt=SUPPORT_SYSTEM.replace("offer a human agent.", "hand over to a human agent.")
        + "\nCite the article id for every claim, like [KB-1234].\nNever promise refunds or credits; escalate billing"
        " disputes to a human.",
        template=SUPPORT_TEMPLATE,
        variables=["context", "question"],
        author="priya",
        message="Stop promising refunds; escalate billing disputes (INC-88 follow-up)",
    )
    built = start - timedelta(days=2)
    kb_bge, _ = services.index_version_register(
        actor=leo,
        name="helpcenter-articles",
        embedding_model="BAAI/bge-base-en",
        embedding_model_version="v1.5",
        dimension=768,
        corpus_snapshot="helpcenter-export-w1",
        document_count=4812,
        built_at=built,
    )
    kb_m3, _ = services.index_version_register(
        actor=leo,
        name="helpcenter-articles",
        embedding_model="BAAI/bge-m3",
        embedding_model_version="",
        dimension=1024,
        corpus_snapshot="helpcenter-export-w3",
        document_count=4977,
        built_at=start + timedelta(days=20),
    )
    tone, _ = services.adapter_version_register(
        actor=maya,
        name="support-tone-lora",
        base_model=LLAMA,
        rank=16,
        alpha=32,
        merge_method="none",
        digest="sha256:7d1f0c2a9be44e0f8a3b7c16e1d2f5a4c9b8e7d6f5a4b3c2d1e0f9a8b7c6d5e4",
        training_corpus_ref="s3://acme-ml/corpora/support-transcripts-2026-q3",
    )
    r = [
        _release(feature, maya, model=bf16, prompt=p1, index=kb_bge, notes="First release on vLLM, bf16."),
        _release(feature, priya, model=bf16, prompt=p2, index=kb_bge, notes="Prompt: cite article ids."),
        _release(feature, maya, model=awq, prompt=p2, index=kb_bge, notes="Halve GPU memory: AWQ int4 weights."),
        _release(feature, leo, model=awq, prompt=p2, index=kb_m3, notes="Multilingual retrieval: bge-m3, re-index."),
        _release(feature, maya, model=awq, prompt=p2, index=kb_m3, adapters=[tone], notes="Add tone LoRA."),
        _release(feature, priya, model=awq, prompt=p3, index=kb_m3, adapters=[tone], notes="Refund wording fix."),
    ]
    h, d = timedelta(hours=1), timedelta(days=1)
    plan = []
    for i, release in enumerate(r):
        plan.append((release, "staging", i * 7 * d + 10 * h, leo, {}))
        plan.append((release, "production", i * 7 * d + d + 14 * h, maya, {}))
    plan.append(
        (r[4], "production", 5 * 7 * d + d + 17 * h, maya, {"notes": "Escalations up 3x after #6; back to #5."})
    )
    _deploy(feature, plan, start)


def _invoice_extractor(people, start):
    ines, sam = people["ines"], people["sam"]
    feature = _feature(
        "invoice-extractor",
        "Invoice extractor",
        "finance-automation",
        "Structured-output extraction of supplier invoices (OpenAI gpt-4o, JSON schema).",
        ines,
    )
    decoding = {"temperature": 0, "response_format": {"type": "json_schema", "name": "invoice_v3"}}
    may, _ = services.model_version_register(
        actor=ines,
        provider="openai",
        requested_alias="gpt-4o",
        resolved_snapshot="gpt-4o-2024-05-13",
        decoding_params=decoding,
    )
    aug, _ = services.model_version_register(
        actor=ines,
        provider="openai",
        requested_alias="gpt-4o",
        resolved_snapshot="gpt-4o-2024-08-06",
        decoding_params=decoding,
    )
    aug_long, _ = services.model_version_register(
        actor=ines,
        provider="openai",
        requested_alias="gpt-4o",
        resolved_snapshot="gpt-4o-2024-08-06",
        decoding_params={**decoding, "max_tokens": 2048},
    )
    prompts = []
    texts = [
        (INVOICE_SYSTEM, INVOICE_TEMPLATE, "Initial extraction prompt"),
        (
            INVOICE_SYSTEM + "\nNormalise currency to ISO 4217 codes (EUR, USD, GBP).",
            INVOICE_TEMPLATE,
            "Normalise currencies to ISO codes (FIN-203)",
        ),
        (
            INVOICE_SYSTEM + "\nNormalise currency to ISO 4217 codes (EUR, USD, GBP).",
            INVOICE_TEMPLATE.replace("currency.", "currency, line_items[description, quantity, unit_price]."),
            "Extract line items for 3-way matching (FIN-221)",
        ),
    ]
    for system, template, message in texts:
        prompts.append(
            services.prompt_version_register(
                actor=sam,
                name="invoice-extract",
                system_prompt=system,
                template=template,
                variables=["ocr_text"],
                author="sam",
                message=message,
            )[0]
        )
    vendors, _ = services.index_version_register(
        actor=sam,
        name="vendor-master",
        embedding_model="text-embedding-3-small",
        dimension=1536,
        corpus_snapshot="erp-vendors-2026-w4",
        document_count=1320,
        built_at=start + timedelta(days=27),
    )
    r = [
        _release(feature, ines, model=may, prompt=prompts[0], notes="Launch."),
        _release(feature, sam, model=may, prompt=prompts[1], notes="Currency normalisation."),
        _release(feature, ines, model=aug, prompt=prompts[1], notes="gpt-4o alias now resolves to 2024-08-06."),
        _release(feature, sam, model=aug, prompt=prompts[2], notes="Line items."),
        _release(feature, sam, model=aug, prompt=prompts[2], index=vendors, notes="Vendor lookup from ERP master."),
        _release(feature, ines, model=aug_long, prompt=prompts[2], index=vendors, notes="Long invoices: 2048 tokens."),
    ]
    h, d = timedelta(hours=1), timedelta(days=1)
    plan = []
    for i, release in enumerate(r):
        plan.append((release, "staging", i * 7 * d + 2 * d + 9 * h, sam, {}))
        plan.append((release, "production", i * 7 * d + 3 * d + 11 * h, ines, {}))
    _deploy(feature, plan, start)


def load(people) -> None:
    start = (timezone.now() - timedelta(days=42)).replace(hour=0, minute=0, second=0, microsecond=0)
    _support_assistant(people, start)
    _invoice_extractor(people, start)
