"""The release form names every choice so two can be told apart, and the query encoder follows the index."""

from __future__ import annotations

import pytest

from rollouts.models import Release
from tests.rollouts.conftest import index_v, model_v, prompt_v

pytestmark = pytest.mark.django_db
URL = "/features/support-assistant/releases/new/"


def _options(page: str, field: str) -> list[str]:
    import re

    block = page.split(f'name="{field}"')[1].split("</select>")[0]
    found = [re.sub(r"\s+", " ", o).strip() for o in re.findall(r"<option[^>]*>([^<]*)</option>", block)]
    return [o for o in found if o and o != "---------"]


def test_models_are_told_apart_and_precision_reads_as_words(web_as, responder, feature):
    model_v(responder, precision="unknown", decoding_params={"temperature": 0.2})
    model_v(responder, precision="unknown", decoding_params={"temperature": 0.7})
    model_v(responder)
    page = web_as(responder).get(URL).content.decode()
    labels = _options(page, "model")
    assert len(labels) == 3 and len(set(labels)) == 3
    assert "(unknown)" not in page
    assert any("precision managed by the provider" in label and "temperature=0.7" in label for label in labels)
    assert any("BF16" in label for label in labels)


def test_prompts_are_listed_by_name_and_version(web_as, responder, feature):
    prompt_v(responder, system_prompt="first")
    prompt_v(responder, system_prompt="second", message="cite sources")
    labels = _options(web_as(responder).get(URL).content.decode(), "prompt")
    assert labels[0].startswith("support-answer v2 · ") and labels[0].endswith("(cite sources)")
    assert labels[1].startswith("support-answer v1 · ")


def test_the_query_encoder_defaults_to_the_index_embedding_model(web_as, responder, feature):
    model, prompt, index = model_v(responder), prompt_v(responder), index_v(responder)
    response = web_as(responder).post(URL, {"model": model.pk, "prompt": prompt.pk, "index": index.pk})
    release = Release.objects.get()
    assert response.status_code == 302 and release.query_encoder == "bge-small-en@1.5"
