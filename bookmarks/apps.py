from django.apps import AppConfig


class BookmarksConfig(AppConfig):
    name = "bookmarks"
    verbose_name = "Saved searches"

    def ready(self) -> None:
        # Contribute to the audits app's apidoc and search box without it importing us.
        from audits.admin_search import search_box_addon_register
        from audits.apipie import apidoc_resource_register
        from bookmarks.admin import saved_searches_addon
        from bookmarks.api import bookmarks_apidoc
        from bookmarks.demo import load_bookmark_demo
        from integration_site.demo import register_demo_loader

        apidoc_resource_register("bookmarks", bookmarks_apidoc)
        search_box_addon_register(saved_searches_addon)
        register_demo_loader("saved searches", load_bookmark_demo)
