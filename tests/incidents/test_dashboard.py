"""Manager dashboard: the analysis on constructed data (no HTTP), then the page, the CSV export and the API."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import plotly.graph_objects as go
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import Team
from diagnostics.models import LayerDiagnosis
from diagnostics.services import layer_set_verdict, ownership_map_set
from incidents.action_item_services import action_item_create, action_item_update
from incidents.dashboard import DashboardFilters, dashboard_compute
from incidents.models import ActionItem, ActionStatus
from incidents.services import incident_open
from rollouts.models import Environment, Feature

UTC = dt.UTC


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The cast is created with passwords; the default hasher costs seconds per user on a busy 2-core box.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.fixture
def world(db, feature, production, layer_owners, responder, admin_user):
    """Two features of two teams, four incidents with known times, root causes and action items.

    support-assistant (team Assist): A (Sep 10, prompt root cause), B (Sep 20, prompt root cause: repeats A),
    D (Oct 20, no root cause yet). search (team Search): C (Oct 5, data root cause).
    """
    mo, dee, pat, pia = (layer_owners[k] for k in ("model", "data", "prompt", "product"))
    assist = feature.team
    search_team = Team.objects.create(slug="search-team", name="Search")
    assist.members.add(mo, pat, dee)
    search_team.members.add(dee)  # dee is in two teams: counts for both
    search = Feature.objects.create(slug="search", name="Search", team=search_team)
    search_prod = Environment.objects.create(feature=search, name="production", is_production=True)
    for layer, owner in layer_owners.items():
        ownership_map_set(actor=admin_user, feature=search, layer=layer, owner=owner, team=search_team)

    def open_incident(title, env, start, detect_h, mitigate_h=None, resolve_h=None, root=None):
        incident = incident_open(
            actor=responder,
            title=title,
            severity="sev2",
            feature_environments=[env],
            impact_started_at=at(start),
            detected_at=at(start) + dt.timedelta(hours=detect_h),
        )
        # Restore times are facts of the past incident: set directly (the lifecycle stamps "now").
        incident.__class__.objects.filter(pk=incident.pk).update(
            mitigated_at=at(start) + dt.timedelta(hours=mitigate_h) if mitigate_h else None,
            resolved_at=at(start) + dt.timedelta(hours=resolve_h) if resolve_h else None,
        )
        if root:
            diagnosis = LayerDiagnosis.objects.get(incident=incident, layer=root)
            layer_set_verdict(actor=responder, diagnosis=diagnosis, status="root_cause", evidence_note="found it")
        return incident

    a = open_incident("Answers cite wrong articles", production, "2025-09-10", 1, mitigate_h=3, root="prompt")
    b = open_incident("Answers cite wrong articles again", production, "2025-09-20", 3, mitigate_h=5, root="prompt")
    c = open_incident("Search results empty", search_prod, "2025-10-05", 2, resolve_h=10, root="data")
    d = open_incident("Latency spike", production, "2025-10-20", 4)

    today = timezone.localdate()

    def item(incident, title, owner, layer, due_in_days, status=None, completed_offset=None, age_days=None):
        obj = action_item_create(
            actor=responder,
            incident=incident,
            title=title,
            owner=owner,
            due_date=today + dt.timedelta(days=due_in_days),
            backdate_reason="history",
            layer=layer,
        )
        if status:
            extra = {"wont_do_reason": "superseded"} if status == ActionStatus.WONT_DO else {}
            action_item_update(actor=responder, item=obj, status=status, **extra)
        if completed_offset is not None:
            done_at = at(obj.due_date.isoformat(), 12) + dt.timedelta(days=completed_offset)
            ActionItem.objects.filter(pk=obj.pk).update(completed_at=done_at)
        if age_days is not None:
            ActionItem.objects.filter(pk=obj.pk).update(created_at=timezone.now() - dt.timedelta(days=age_days))
        return obj

    items = {
        "overdue_model": item(a, "Pin the model snapshot", mo, "model", -10, age_days=40),
        "open_prompt": item(a, "Add failing case to regression set", pat, "prompt", 5),
        "done_on_time": item(a, "Review prompt diff", pat, "prompt", -20, ActionStatus.DONE, completed_offset=-1),
        "done_late": item(a, "Reindex", dee, "data", -20, ActionStatus.DONE, completed_offset=2),
        "overdue_data": item(c, "Alert on empty results", dee, "data", -1, ActionStatus.IN_PROGRESS),
        "wont_do": item(c, "Rewrite search", pia, "product", -5, ActionStatus.WONT_DO),
    }
    return {
        "incidents": {"a": a, "b": b, "c": c, "d": d},
        "items": items,
        "search": search,
        "teams": (assist, search_team),
    }


def rows(df, key):
    return {r[key]: r for r in df.to_dict("records")}


def test_it_counts_open_and_overdue_items_by_owner_team_and_layer(world):
    board = dashboard_compute(DashboardFilters())
    assert board.totals["open_action_items"] == 3
    assert board.totals["overdue_action_items"] == 2
    by_layer = rows(board.open_by_layer, "layer")
    assert {k: (v["open"], v["overdue"]) for k, v in by_layer.items()} == {
        "model": (1, 1),
        "data": (1, 1),
        "prompt": (1, 0),
        "product": (0, 0),
    }
    by_owner = {
        r["owner"].split("(")[-1].rstrip(")"): (r["open"], r["overdue"]) for r in board.open_by_owner.to_dict("records")
    }
    assert by_owner == {"mo": (1, 1), "dee": (1, 1), "pat": (1, 0)}
    by_team = {r["team"]: (r["open"], r["overdue"]) for r in board.open_by_team.to_dict("records")}
    assert by_team == {"Assist": (3, 2), "Search": (1, 1)}


def test_it_buckets_open_items_by_age(world):
    aging = rows(dashboard_compute(DashboardFilters()).aging, "age")
    assert aging["0-7 days"]["open"] == 2
    assert aging["31-90 days"]["open"] == 1
    assert aging["8-30 days"]["open"] == 0 and aging["over 90 days"]["open"] == 0


def test_on_time_share_counts_done_by_due_date_against_done_late_and_overdue(world):
    board = dashboard_compute(DashboardFilters())
    # judged: done on time, done late, two open past due; won't-do and not-yet-due items are not judged
    assert board.totals["on_time_judged"] == 4
    assert board.totals["on_time_rate"] == 0.25
    assert board.on_time_by_month["on_time"].sum() == 1
    assert board.on_time_by_month["late"].sum() == 3


def test_time_to_detect_and_restore_median_and_p90_per_month(world):
    board = dashboard_compute(DashboardFilters())
    months = rows(board.detect_restore_by_month, "month")
    assert list(months) == ["2025-09", "2025-10"]
    sep, oct_ = months["2025-09"], months["2025-10"]
    assert sep["incidents"] == 2
    assert sep["detect_median_h"] == 2.0 and sep["detect_p90_h"] == 2.8
    assert sep["restore_median_h"] == 4.0 and sep["restore_p90_h"] == 4.8
    # October: C restored (resolved, not mitigated) after 10 h; D not restored yet
    assert oct_["incidents"] == 2 and oct_["restored"] == 1
    assert oct_["detect_median_h"] == 3.0
    assert oct_["restore_median_h"] == 10.0 and oct_["restore_p90_h"] == 10.0


def test_incidents_by_root_cause_layer_and_recurrence(world):
    board = dashboard_compute(DashboardFilters())
    counts = {r["layer"]: r["incidents"] for r in board.root_cause_by_layer.to_dict("records")}
    assert counts == {"model": 0, "data": 1, "prompt": 2, "product": 0, "undetermined": 1}
    # B repeats A (same feature, same root-cause layer, 10 days later); C is on another feature
    assert board.totals["recurrent_incidents"] == 1
    assert board.totals["incidents_with_root_cause"] == 3
    assert board.totals["recurrence_rate"] == round(1 / 3, 4)


def test_an_earlier_incident_outside_ninety_days_is_not_a_recurrence(world, production, responder):
    late = incident_open(
        actor=responder,
        title="Wrong articles yet again",
        severity="sev3",
        feature_environments=[production],
        impact_started_at=at("2026-03-01"),
        detected_at=at("2026-03-01", 11),
    )
    layer_set_verdict(
        actor=responder, diagnosis=late.layer_diagnoses.get(layer="prompt"), status="root_cause", evidence_note="x"
    )
    assert dashboard_compute(DashboardFilters()).totals["recurrent_incidents"] == 1


def test_unowned_is_zero_when_every_layer_and_item_has_an_active_owner(world):
    board = dashboard_compute(DashboardFilters())
    assert board.totals["unowned"] == 0
    assert board.unowned_layers == [] and board.unowned_items == []


def test_unowned_counts_layers_and_items_whose_owner_left(world, layer_owners):
    pat = layer_owners["prompt"]
    pat.is_active = False
    pat.save()
    board = dashboard_compute(DashboardFilters())
    # prompt layer of the four live incidents, and pat's one open action item
    assert board.totals["unowned_layers"] == 4
    assert board.totals["unowned_action_items"] == 1
    assert board.totals["unowned"] == 5
    assert {row["layer"] for row in board.unowned_layers} == {"prompt"}
    assert board.unowned_items[0]["url"] == f"/incidents/{world['incidents']['a'].pk}/"


def test_unowned_counts_layers_missing_from_the_ownership_map(world, responder, team):
    bare = Feature.objects.create(slug="bare", name="Bare", team=team)
    env = Environment.objects.create(feature=bare, name="production", is_production=True)
    incident_open(actor=responder, title="Nobody owns this", severity="sev4", feature_environments=[env])
    board = dashboard_compute(DashboardFilters(feature=bare))
    assert board.totals["unowned_layers"] == 4
    assert dashboard_compute(DashboardFilters(feature=world["search"])).totals["unowned"] == 0


def test_filters_narrow_every_section(world):
    _, search_team = world["teams"]
    by_team = dashboard_compute(DashboardFilters(team=search_team))
    assert by_team.totals["incidents"] == 1
    assert by_team.totals["open_action_items"] == 1 and by_team.totals["overdue_action_items"] == 1
    assert {r["layer"]: r["incidents"] for r in by_team.root_cause_by_layer.to_dict("records")}["data"] == 1
    assert by_team.totals["recurrence_rate"] == 0

    by_feature = dashboard_compute(DashboardFilters(feature=Feature.objects.get(slug="support-assistant")))
    assert by_feature.totals["incidents"] == 3
    assert by_feature.totals["open_action_items"] == 2

    october = dashboard_compute(DashboardFilters(date_from=dt.date(2025, 10, 1), date_to=dt.date(2025, 10, 31)))
    assert october.totals["incidents"] == 2
    assert list(october.detect_restore_by_month["month"]) == ["2025-10"]
    assert october.totals["open_action_items"] == 1  # C's in-progress item; A's are September's


def test_empty_database_gives_zeros_and_full_category_lists(db):
    board = dashboard_compute(DashboardFilters())
    assert board.totals["open_action_items"] == 0 and board.totals["on_time_rate"] is None
    assert list(board.open_by_layer["layer"]) == ["model", "data", "prompt", "product"]
    assert len(board.aging) == 4
    assert set(board.figures) == {"open_by_layer", "aging", "root_cause", "detect_restore", "on_time"}


def test_figures_are_valid_plotly_json(world):
    figures = dashboard_compute(DashboardFilters()).figures
    for name, fig in figures.items():
        go.Figure(fig)  # raises on any property plotly does not know
        json.dumps(fig)  # plain JSON, nothing numpy left
        assert fig["data"], name
    layer = figures["open_by_layer"]
    assert [trace["name"] for trace in layer["data"]] == ["Open", "Overdue"]
    assert layer["data"][1]["y"] == [1, 1, 0, 0] and layer["layout"]["barmode"] == "group"
    assert figures["detect_restore"]["data"][0]["x"] == ["2025-09", "2025-10"]


# ----- HTTP ---------------------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, db):
    for url in ("/dashboard/", "/dashboard/export.csv"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("who", ["viewer", "responder", "approver", "admin_user"])
def test_every_role_can_see_the_dashboard(request, web_as, world, who):
    response = web_as(request.getfixturevalue(who)).get("/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'id="dashboard-results"' in html
    assert "plotly/plotly.min.js" in html
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html)  # nothing from another host
    assert 'id="fig-open_by_layer"' in html


def test_htmx_request_gets_only_the_results_fragment(web_as, viewer, world):
    response = web_as(viewer).get("/dashboard/", {"team": "search-team"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and html.strip().startswith('<div id="dashboard-results"')
    assert "Search" in html


def test_bad_filters_get_a_clear_error(web_as, viewer, world):
    response = web_as(viewer).get("/dashboard/", {"date_from": "2025-10-10", "date_to": "2025-10-01", "team": "nope"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "The end date is before the start date." in html
    assert "Select a valid choice" in html


def test_bad_filters_in_an_htmx_request_get_the_error_in_the_fragment(web_as, viewer, world):
    response = web_as(viewer).get("/dashboard/", {"date_from": "31.12.2025"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    html = response.content.decode()
    assert "<html" not in html and "Enter a valid date." in html


def test_page_shows_unowned_offenders_with_links(web_as, viewer, world, layer_owners):
    layer_owners["prompt"].is_active = False
    layer_owners["prompt"].save()
    html = web_as(viewer).get("/dashboard/").content.decode()
    assert 'id="unowned-offenders"' in html
    assert f'href="/incidents/{world["incidents"]["a"].pk}/"' in html


def test_dashboard_query_count_does_not_grow_with_data(web_as, viewer, world, responder, layer_owners):
    client = web_as(viewer)
    params = {"feature": "support-assistant"}
    client.get("/dashboard/", params)  # warm session/user caches
    with CaptureQueriesContext(connection) as before:
        client.get("/dashboard/", params)
    incident = world["incidents"]["d"]
    for n in range(15):
        owner = list(layer_owners.values())[n % 4]
        action_item_create(
            actor=responder,
            incident=incident,
            title=f"Follow-up {n}",
            owner=owner,
            due_date=timezone.localdate() - dt.timedelta(days=n),
            backdate_reason="an item that is already overdue",
            layer="model",
        )
    with CaptureQueriesContext(connection) as after:
        client.get("/dashboard/", params)
    assert len(after) == len(before)


def test_dashboard_page_stays_within_a_fixed_query_budget(web_as, viewer, world, django_assert_max_num_queries):
    client = web_as(viewer)
    # 14 on PostgreSQL; SQLite's fallback for root causes and recurrence takes two more.
    with django_assert_max_num_queries(14 if connection.vendor == "postgresql" else 16):
        client.get("/dashboard/", {"team": "assist", "date_from": "2025-01-01"})


def test_csv_export_of_an_aggregate(web_as, viewer, world):
    response = web_as(viewer).get("/dashboard/export.csv", {"table": "open_by_layer"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="rewind-dashboard-open_by_layer.csv"' in response["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["layer"] for r in table] == ["model", "data", "prompt", "product"]
    assert {r["layer"]: (r["open"], r["overdue"]) for r in table}["model"] == ("1", "1")


def test_csv_export_of_open_items_follows_the_filters(web_as, viewer, world):
    response = web_as(viewer).get("/dashboard/export.csv", {"table": "open_items", "team": "search-team"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["title"] for r in table] == ["Alert on empty results"]
    assert table[0]["owner"] == "dee" and table[0]["status"] == "in_progress"


def test_csv_export_refuses_unknown_table_and_bad_filters(web_as, viewer, world):
    client = web_as(viewer)
    response = client.get("/dashboard/export.csv", {"table": "salaries"})
    assert response.status_code == 400 and "Unknown table" in response.content.decode()
    response = client.get("/dashboard/export.csv", {"table": "aging", "date_from": "yesterday"})
    assert response.status_code == 400 and "date_from" in response.content.decode()


def test_api_returns_the_numbers_for_any_role_and_refuses_anonymous(api_as, viewer, world):
    assert api_as(None).get("/api/v1/dashboard/").status_code in (401, 403)
    response = api_as(viewer).get("/api/v1/dashboard/", {"feature": "search"})
    assert response.status_code == 200
    body = response.json()
    assert body["filters"] == {"feature": "search"}
    assert body["totals"]["open_action_items"] == 1
    assert {r["layer"]: r["open"] for r in body["open_by_layer"]}["data"] == 1


def test_api_rejects_bad_filters_with_field_messages(api_as, viewer, world):
    response = api_as(viewer).get("/api/v1/dashboard/", {"feature": "ghost", "date_to": "31/12/2025"})
    assert response.status_code == 400
    assert set(response.json()) == {"feature", "date_to"}


def test_on_time_share_follows_items_reopened_and_deleted(world, responder):
    done_on_time = world["items"]["done_on_time"]
    action_item_update(actor=responder, item=done_on_time, status=ActionStatus.OPEN)
    board = dashboard_compute(DashboardFilters())
    # reopened and past due: now judged late; nothing is on time any more
    assert board.totals["on_time_judged"] == 4 and board.totals["on_time_rate"] == 0.0
    ActionItem.objects.filter(pk=world["items"]["done_late"].pk).delete()
    assert dashboard_compute(DashboardFilters()).totals["on_time_judged"] == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the completion rollup is PostgreSQL's")
def test_truncating_action_items_empties_the_completion_rollup(world):
    assert dashboard_compute(DashboardFilters()).totals["on_time_judged"] == 4
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's open transaction holds deferred FK checks
        cursor.execute("TRUNCATE incidents_actionitem")
    assert dashboard_compute(DashboardFilters()).totals["on_time_judged"] == 0


def test_a_team_without_features_counts_the_items_its_people_own(world, responder):
    """A team that owns no feature (an insights team fixing what others' incidents found): the team filter shows
    the same open items as its row in "By team", not zeros."""
    from tests.support.incident_world import make_person

    insights = Team.objects.create(slug="product-insights", name="Product Insights")
    ines = make_person("ines")
    insights.members.add(ines)
    for i in range(3):
        action_item_create(
            actor=responder,
            incident=world["incidents"]["d"],
            title=f"Dashboard for refusals {i}",
            owner=ines,
            due_date=timezone.localdate() + dt.timedelta(days=i - 1),
            layer="product",
            backdate_reason="recorded after it was due",
        )
    everyone = dashboard_compute(DashboardFilters())
    row = {r["team"]: (r["open"], r["overdue"]) for r in everyone.open_by_team.to_dict("records")}["Product Insights"]
    assert row == (3, 1)
    board = dashboard_compute(DashboardFilters(team=insights))
    assert (board.totals["open_action_items"], board.totals["overdue_action_items"]) == row
    assert board.totals["incidents"] == 0  # incidents stay those of the team's features
    by_team = {r["team"]: r["open"] for r in board.open_by_team.to_dict("records")}
    assert by_team == {"Product Insights": 3}


def test_charts_without_data_carry_an_empty_state_instead_of_an_axis(world):
    board = dashboard_compute(DashboardFilters(date_from=dt.date(2020, 1, 1), date_to=dt.date(2020, 1, 31)))
    assert board.figures["detect_restore"]["empty"] == "No incidents in range."
    assert board.figures["open_by_layer"]["empty"] == "No open action items for these filters."
    full = dashboard_compute(DashboardFilters())
    assert "empty" not in full.figures["open_by_layer"] and "empty" not in full.figures["detect_restore"]
