from __future__ import annotations

from rest_framework import serializers

from core.api import StrictFieldsMixin
from core.models import User
from diagnostics.models import DiagnosisLayer
from incidents.models import (
    POSTMORTEM_TEXT_FIELDS,
    SEVERITY_DEFINITIONS,
    ActionItem,
    ActionKind,
    ActionStatus,
    ChangeEvent,
    Incident,
    Postmortem,
    PostmortemRevision,
    Priority,
    Severity,
    Status,
    TimelineEvent,
)
from rollouts.models import Environment, Feature

SEVERITY_HELP = " ".join(f"{Severity(k).label}: {v}" for k, v in SEVERITY_DEFINITIONS.items())


class PersonField(serializers.SlugRelatedField):
    """One person, named by username (a list or a team is refused by type)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "username")
        kwargs.setdefault("queryset", User.objects.filter(is_active=True))
        super().__init__(**kwargs)


class LayerDiagnosisBriefSerializer(serializers.Serializer):
    layer = serializers.CharField()
    owner = serializers.CharField(source="owner.username", allow_null=True, default=None)
    status = serializers.CharField()


class IncidentSerializer(serializers.ModelSerializer):
    commander = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    reporter = serializers.SlugRelatedField(slug_field="username", read_only=True)
    features = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    feature_environments = serializers.StringRelatedField(many=True, read_only=True)
    linked_releases = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    layer_diagnoses = LayerDiagnosisBriefSerializer(many=True, read_only=True)
    allowed_transitions = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "title",
            "summary",
            "severity",
            "status",
            "impact_started_at",
            "detected_at",
            "mitigated_at",
            "resolved_at",
            "closed_at",
            "features",
            "feature_environments",
            "linked_releases",
            "commander",
            "reporter",
            "source",
            "slack_channel_id",
            "layer_diagnoses",
            "allowed_transitions",
            "created_at",
            "updated_at",
        ]


class IncidentListSerializer(serializers.ModelSerializer):
    commander = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    features = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "title",
            "severity",
            "status",
            "features",
            "commander",
            "detected_at",
            "created_at",
        ]


class SimilarIncidentSerializer(serializers.Serializer):
    """An earlier incident like this one, and why (read-only)."""

    id = serializers.IntegerField()
    reference = serializers.CharField()
    title = serializers.CharField()
    score = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField())
    days_since = serializers.IntegerField()


class IncidentOpenSerializer(StrictFieldsMixin, serializers.Serializer):
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=Severity.choices, help_text=SEVERITY_HELP)
    summary = serializers.CharField(required=False, allow_blank=True, default="")
    feature_environments = serializers.ListField(
        child=serializers.CharField(), allow_empty=False, help_text="'feature-slug/environment' names"
    )
    impact_started_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    detected_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    commander = PersonField(required=False, allow_null=True, default=None)

    def validate_feature_environments(self, names):
        found, missing = [], []
        for name in names:
            feature_slug, _, env_name = name.partition("/")
            env = (
                Environment.objects.filter(feature__slug=feature_slug, name=env_name).select_related("feature").first()
            )
            (found.append(env) if env else missing.append(name))
        if missing:
            raise serializers.ValidationError(f"Unknown feature environment(s): {', '.join(missing)}.")
        return found


class IncidentUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    summary = serializers.CharField(required=False, allow_blank=True)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    commander = PersonField(required=False, allow_null=True)
    impact_started_at = serializers.DateTimeField(required=False)
    detected_at = serializers.DateTimeField(required=False)


class TransitionSerializer(StrictFieldsMixin, serializers.Serializer):
    to_status = serializers.ChoiceField(choices=Status.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class NoteSerializer(StrictFieldsMixin, serializers.Serializer):
    text = serializers.CharField()
    external_ref = serializers.CharField(required=False, allow_blank=True, default="", max_length=120)


class TimelineEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = TimelineEvent
        fields = [
            "id",
            "incident",
            "kind",
            "text",
            "actor",
            "data",
            "source",
            "external_ref",
            "occurred_at",
            "edited_at",
        ]
        read_only_fields = [f for f in fields if f != "text"]


class TimelineEntrySerializer(serializers.Serializer):
    occurred_at = serializers.DateTimeField()
    kind = serializers.CharField()
    text = serializers.CharField()
    actor = serializers.CharField()
    data = serializers.DictField()
    event_id = serializers.IntegerField(source="event.pk", allow_null=True, default=None)


class NoteEditSerializer(StrictFieldsMixin, serializers.Serializer):
    text = serializers.CharField()


class ActionItemSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = ActionItem
        fields = [
            "id",
            "incident",
            "title",
            "layer",
            "owner",
            "due_date",
            "priority",
            "kind",
            "status",
            "wont_do_reason",
            "tracker_url",
            "is_overdue",
            "created_at",
            "completed_at",
        ]


class ActionItemCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    incident = serializers.PrimaryKeyRelatedField(queryset=Incident.objects.all())
    title = serializers.CharField(max_length=200)
    owner = PersonField(help_text="Exactly one person (username)")
    due_date = serializers.DateField()
    layer = serializers.ChoiceField(choices=DiagnosisLayer.choices)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.P2)
    kind = serializers.ChoiceField(choices=ActionKind.choices, default=ActionKind.CORRECTIVE)
    tracker_url = serializers.URLField(required=False, allow_blank=True, default="")
    confirm_duplicate = serializers.BooleanField(
        required=False, default=False, help_text="Add it even when the incident has an item with the same title"
    )
    backdate_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500, help_text="Needed for a due date in the past"
    )


class ActionItemUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    owner = PersonField(required=False)
    due_date = serializers.DateField(required=False)
    layer = serializers.ChoiceField(choices=DiagnosisLayer.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    kind = serializers.ChoiceField(choices=ActionKind.choices, required=False)
    status = serializers.ChoiceField(choices=ActionStatus.choices, required=False)
    wont_do_reason = serializers.CharField(required=False, allow_blank=True)
    tracker_url = serializers.URLField(required=False, allow_blank=True)
    reason = serializers.CharField(required=False, allow_blank=True, help_text="Why; required when due_date moves")
    backdate_reason = serializers.CharField(
        required=False, allow_blank=True, max_length=500, help_text="Needed to move the due date into the past"
    )


class ChangeEventSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    feature = serializers.SlugRelatedField(
        slug_field="slug", queryset=Feature.objects.all(), required=False, allow_null=True
    )
    environment = serializers.CharField(
        required=False, allow_blank=True, write_only=True, help_text="'feature-slug/environment'"
    )
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ChangeEvent
        fields = [
            "id",
            "layer",
            "title",
            "description",
            "system",
            "url",
            "feature",
            "environment",
            "occurred_at",
            "actor",
            "created_at",
        ]
        read_only_fields = ["id", "actor", "created_at"]

    def validate_environment(self, name):
        if not name:
            return None
        feature_slug, _, env_name = name.partition("/")
        env = Environment.objects.filter(feature__slug=feature_slug, name=env_name).select_related("feature").first()
        if env is None:
            raise serializers.ValidationError(f"Unknown feature environment {name!r}.")
        return env


class PostmortemSerializer(serializers.ModelSerializer):
    incident = serializers.PrimaryKeyRelatedField(read_only=True)
    revisions = serializers.SerializerMethodField()

    class Meta:
        model = Postmortem
        fields = ["id", "incident", "status", "revision", *POSTMORTEM_TEXT_FIELDS, "revisions", "updated_at"]
        read_only_fields = ["id", "incident", "status", "revision", "revisions", "updated_at"]

    def get_revisions(self, obj) -> list[int]:
        return [r.number for r in obj.revisions.all()]


class PostmortemEditSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Postmortem
        fields = list(POSTMORTEM_TEXT_FIELDS)
        extra_kwargs = {name: {"required": False, "allow_blank": True} for name in POSTMORTEM_TEXT_FIELDS}


class PostmortemRevisionSerializer(serializers.ModelSerializer):
    published_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PostmortemRevision
        fields = ["id", "number", "snapshot", "markdown", "published_by", "published_at"]
