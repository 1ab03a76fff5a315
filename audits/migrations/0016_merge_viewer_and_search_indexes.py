# 0014 (the viewer and enterprise tables) and 0015 (the search indexes) were written in
# parallel on 0013; this joins the two branches of the graph. Neither touches the other's tables.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0014_retraced_viewer"),
        ("audits", "0015_retraced_search_indexes"),
    ]

    operations = []
