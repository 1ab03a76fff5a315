import os

from django.core.wsgi import get_wsgi_application

from integration_site.chunked_body import ChunkedRequestBody

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")

application = ChunkedRequestBody(get_wsgi_application())
