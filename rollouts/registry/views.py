"""Registry pages: features, a feature's release history, release detail, diffs, and the registration forms.
Forms call the same services as the API."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from core.permissions import can, read_required
from rollouts.registry import selectors, services
from rollouts.registry.compatibility import check_manifest
from rollouts.registry.forms import VERSION_FORMS, DeploymentForm, ReleaseForm, add_service_errors
from rollouts.registry.models import Feature, Release, Source
from rollouts.registry.rollbacks import ImpactBlocked

REGISTER = {
    "model": services.model_version_register,
    "prompt": services.prompt_version_register,
    "adapter": services.adapter_version_register,
    "index": services.index_version_register,
}


def _redirect(request, url):
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@read_required()
def feature_list(request):
    features = selectors.features_with_current_releases()
    return render(request, "rollouts/feature_list.html", {"features": features})


@require_GET
@read_required()
def feature_detail(request, slug):
    feature = get_object_or_404(Feature.objects.select_related("team"), slug=slug)
    releases = selectors.releases_with_parts().filter(feature=feature).order_by("-number")[:50]
    ctx = {
        "feature": feature,
        "history": selectors.feature_history(feature),
        "releases": releases,
        "can_register": can(request.user, "release.register"),
        "can_deploy": can(request.user, "deployment.record"),
    }
    return render(request, "rollouts/feature_detail.html", ctx)


@require_GET
@read_required()
def release_detail(request, pk):
    release = get_object_or_404(selectors.releases_with_parts(), pk=pk)
    adapters = release.ordered_adapters()
    violations = check_manifest(
        model=release.model, adapters=adapters, index=release.index, query_encoder=release.query_encoder
    )
    deployments = release.deployments.select_related("environment", "actor").order_by("-live_at", "-id")
    previous = Release.objects.filter(feature=release.feature, number__lt=release.number).order_by("-number").first()
    ctx = {
        "release": release,
        "adapters": adapters,
        "violations": violations,
        "deployments": deployments,
        "previous": previous,
    }
    return render(request, "rollouts/release_detail.html", ctx)


@require_GET
@read_required()
def release_diff(request, slug):
    """Two selects; htmx swaps only the #diff fragment, the plain GET renders the whole page."""
    feature = get_object_or_404(Feature, slug=slug)
    choices = list(Release.objects.filter(feature=feature).order_by("-number").values_list("pk", "number"))
    old_id, new_id = request.GET.get("old"), request.GET.get("new")
    if not (old_id and new_id) and len(choices) >= 2:
        new_id, old_id = new_id or str(choices[0][0]), old_id or str(choices[1][0])
    diff = None
    if old_id and new_id:
        parts = selectors.releases_with_parts().filter(feature=feature)
        if not (old_id.isdigit() and new_id.isdigit()):
            raise Http404("Pick releases by id.")
        old = get_object_or_404(parts, pk=old_id)
        new = get_object_or_404(parts, pk=new_id)
        diff = selectors.release_diff(old, new)
    ctx = {
        "feature": feature,
        "choices": choices,
        "old_id": str(old_id or ""),
        "new_id": str(new_id or ""),
        "diff": diff,
    }
    template = "rollouts/release_diff.html#diff" if request.htmx else "rollouts/release_diff.html"
    return render(request, template, ctx)


@require_http_methods(["GET", "POST"])
@read_required("release.register")
def version_register(request, kind):
    form_class = VERSION_FORMS.get(kind)
    if form_class is None:
        raise Http404("Unknown component kind.")
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            version, created = REGISTER[kind](actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            state = "Registered" if created else "Already registered (same content)"
            messages.success(request, f"{state}: {kind} {version} · {version.short_hash}")
            return _redirect(request, request.path)
    title = f"Register a {kind} version"
    return render(request, "rollouts/form.html", {"form": form, "title": title, "kinds": list(VERSION_FORMS)})


@require_http_methods(["GET", "POST"])
@read_required("release.register")
def release_create(request, slug):
    feature = get_object_or_404(Feature, slug=slug)
    form = ReleaseForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            release, created = services.release_create(
                actor=request.user, feature=feature, source=Source.WEB, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if not created:
                messages.info(request, f"Release #{release.number} already has exactly this manifest.")
            return _redirect(request, release.get_absolute_url())
    ctx = {"form": form, "title": f"New release of {feature.slug}", "feature": feature}
    return render(request, "rollouts/form.html", ctx)


@require_http_methods(["GET", "POST"])
@read_required("deployment.record")
def deployment_create(request, slug):
    feature = get_object_or_404(Feature, slug=slug)
    form = DeploymentForm(request.POST or None, feature=feature, user=request.user)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.deployment_record(actor=request.user, via=Source.WEB, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        except PermissionDenied as exc:  # the role (deployment.record, or rollback.production for an older one)
            form.add_error(None, str(exc))
            status = 403
        except ImpactBlocked as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Deployment recorded.")
            return _redirect(request, feature.get_absolute_url())
    ctx = {"form": form, "title": f"Record a deployment of {feature.slug}", "feature": feature}
    return render(request, "rollouts/form.html", ctx, status=status)
