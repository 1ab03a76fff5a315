from django.contrib.auth import get_user_model

from bookmarks.services import bookmark_create

# Searches an operator reaches for first, saved public so every admin sees them.
DEMO_BOOKMARKS = [
    ("Failed logins", "action ~ login.failure"),
    ("Changes made on this site", "source = site"),
    # Hours, not "1 day ago": in scoped_search a day value is a whole calendar day, so
    # `time > "1 day ago"` means "since midnight" and missed last night's failures.
    ("Failures in the last 24 hours", 'is_failure = true and time > "24 hours ago"'),
]


def load_bookmark_demo(say) -> None:
    owner = get_user_model().objects.filter(username="operator").first()
    for name, query in DEMO_BOOKMARKS:
        bookmark_create(principal=owner, name=name, controller="audits", query=query, public=True)
    say(f"Saved searches: {len(DEMO_BOOKMARKS)} public bookmarks on the audit list.")
