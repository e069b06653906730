from __future__ import annotations

from rest_framework import serializers

from core.api import StrictFieldsMixin
from core.models import Team, User
from diagnostics.checklists import CHECKLISTS, checklist_for
from diagnostics.models import (
    DiagnosisLayer,
    Evidence,
    EvidenceKind,
    LayerDiagnosis,
    LayerOwner,
    OwnerAssignment,
    Verdict,
)
from rollouts.models import Feature


class PersonField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "username")
        kwargs.setdefault("queryset", User.objects.filter(is_active=True))
        super().__init__(**kwargs)


class EvidenceSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Evidence
        fields = ["id", "kind", "text", "url", "data", "actor", "created_at"]


class OwnerAssignmentSerializer(serializers.ModelSerializer):
    from_owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    to_owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = OwnerAssignment
        fields = ["from_owner", "to_owner", "actor", "reason", "created_at"]


class ChecklistItemSerializer(serializers.Serializer):
    key = serializers.CharField()
    question = serializers.CharField()
    answer = serializers.CharField(allow_blank=True)
    by = serializers.CharField(required=False)


class LayerDiagnosisSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    evidence = EvidenceSerializer(many=True, read_only=True)
    assignments = OwnerAssignmentSerializer(many=True, read_only=True)
    checklist = serializers.SerializerMethodField()

    class Meta:
        model = LayerDiagnosis
        fields = ["id", "incident", "layer", "owner", "status", "checklist", "evidence", "assignments", "updated_at"]

    @staticmethod
    def _checklist(obj):
        return checklist_for(obj.layer, obj.checklist or {})

    def get_checklist(self, obj) -> list[dict]:
        return ChecklistItemSerializer(self._checklist(obj), many=True).data


class AssignOwnerSerializer(StrictFieldsMixin, serializers.Serializer):
    owner = PersonField(help_text="One person (username)")
    reason = serializers.CharField(help_text="Why the layer changes hands (recorded)")


class VerdictSerializer(StrictFieldsMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=Verdict.choices)
    evidence_note = serializers.CharField(required=False, allow_blank=True, default="")


class EvidenceCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=EvidenceKind.choices, default=EvidenceKind.NOTE)
    text = serializers.CharField(required=False, allow_blank=True, default="")
    url = serializers.URLField(required=False, allow_blank=True, default="")
    data = serializers.DictField(required=False, default=dict)


class ChecklistAnswerSerializer(StrictFieldsMixin, serializers.Serializer):
    key = serializers.ChoiceField(choices=sorted({k for items in CHECKLISTS.values() for k, _ in items}))
    answer = serializers.CharField()


class LayerOwnerSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    feature = serializers.SlugRelatedField(slug_field="slug", queryset=Feature.objects.all())
    owner = PersonField()
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True)
    layer = serializers.ChoiceField(choices=DiagnosisLayer.choices)

    class Meta:
        model = LayerOwner
        fields = ["id", "feature", "layer", "owner", "team"]
        validators: list = []  # update_or_create in the service: setting an existing layer replaces it


class LayerSuggestionSerializer(serializers.Serializer):
    layer = serializers.CharField()
    label = serializers.CharField()
    score = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField())
