"""
The Sensu 1.x wire layer: the HTTP API's routes and views, request validation and the JSON
payload shapes. It imports the monitoring domain (models, engine, services, selectors); the
domain never imports it.
"""
