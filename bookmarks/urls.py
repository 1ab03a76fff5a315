"""Foreman's /api/bookmarks (bookmarks/api.py), at the host root like the rest of Foreman's API."""

from rest_framework.routers import SimpleRouter

from bookmarks.api import BookmarkViewSet

router = SimpleRouter(trailing_slash="")
router.register("api/bookmarks", BookmarkViewSet, basename="foreman-bookmark")

urlpatterns = router.urls
