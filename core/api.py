"""Shared API plumbing: error shape for every 4xx."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.views import exception_handler as drf_exception_handler

from core.immutable import ImmutableRecordError


def exception_handler(exc, context):
    """Turn domain errors into 4xx with messages; DRF does the rest.

    Model ``ValidationError`` (raised by services) becomes 400 with field messages;
    ``ImmutableRecordError`` becomes 405-like 409 (the record cannot change).
    """
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, ImmutableRecordError):
        exc = exceptions.APIException(str(exc))
        exc.status_code = 409
    return drf_exception_handler(exc, context)


class StrictFieldsMixin:
    """Serializer mixin: unknown fields are an error, not silently dropped."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise exceptions.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """``limit`` is capped at ``max_limit``; an ``offset`` beyond any real table is a 400, not a database error."""

    max_limit = 500
    max_offset = 10**9

    def get_offset(self, request):
        offset = super().get_offset(request)
        if offset > self.max_offset:
            raise exceptions.ValidationError({self.offset_query_param: [f"Must be at most {self.max_offset:,}."]})
        return offset
