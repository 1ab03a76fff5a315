"""
The hostile harness (issue 14, section 6): bad input on every route, the OpenAPI schema held to
the real answers, schemathesis against a live server, and what anonymous callers may send.
"""
