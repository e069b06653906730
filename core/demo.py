from __future__ import annotations

from core.models import Role, Team, User

DEMO_PASSWORD = "demo-rewind"  # noqa: S105 - published demo login

PEOPLE = [
    # username, first, last, role, team slugs
    ("demo", "Dana", "Admin", Role.ADMIN, ["ml-platform"]),
    ("maya", "Maya", "Chen", Role.APPROVER, ["ml-platform"]),
    ("leo", "Leo", "Okafor", Role.RESPONDER, ["search-relevance"]),
    ("priya", "Priya", "Nair", Role.RESPONDER, ["conversation-design"]),
    ("sam", "Sam", "Weber", Role.RESPONDER, ["product-insights"]),
    ("ines", "Inès", "Moreau", Role.APPROVER, ["finance-automation"]),
    ("vik", "Vik", "Rao", Role.VIEWER, ["product-insights"]),
]

TEAMS = {
    "ml-platform": "ML Platform",
    "search-relevance": "Search & Retrieval",
    "conversation-design": "Conversation Design",
    "product-insights": "Product Insights",
    "finance-automation": "Finance Automation",
}


def load_people() -> dict[str, User]:
    teams = {slug: Team.objects.get_or_create(slug=slug, defaults={"name": name})[0] for slug, name in TEAMS.items()}
    people: dict[str, User] = {}
    for username, first, last, role, team_slugs in PEOPLE:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "role": role,
                "email": f"{username}@rewind.example",
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        for slug in team_slugs:
            teams[slug].members.add(user)
        people[username] = user
    return people
