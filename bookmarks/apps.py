from django.apps import AppConfig


class BookmarksConfig(AppConfig):
    name = "bookmarks"
    verbose_name = "Saved searches"

    def ready(self) -> None:
        # Contribute to the audits app's apidoc and search box without it importing us.
        from bookmarks.admin import saved_searches_addon
        from bookmarks.api import bookmarks_apidoc
        from bookmarks.demo import load_bookmark_demo
        from integration_site.registry import registry

        registry["apidoc_resources"]["bookmarks"] = bookmarks_apidoc
        registry["search_box_addons"].add(saved_searches_addon)
        registry["demo_loaders"]["saved searches"] = load_bookmark_demo
