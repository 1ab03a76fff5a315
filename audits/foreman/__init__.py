"""
Foreman's API v2 for audits, hosts, locations and organizations, as its clients (apypie,
Foreman's Ansible modules, hammer) expect it: the index envelope, `search` in the
scoped-search language, `order`, `page`/`per_page`, taxonomy context and Foreman's error
bodies. docs/api-compat.md lists where we differ.

- views.py: the endpoints (`ForemanViewSet`, the base other apps' Foreman resources use);
- urls.py: their routes, at the host root as apypie expects;
- serializers.py: Foreman's record shapes;
- pagination.py: the index envelope and its bounded counts;
- filters.py: `search`, `order` and the taxonomy context of index actions;
- errors.py: Foreman's error bodies and the Apipie-Checksum header;
- hosts.py, taxonomies.py: the search fields of hosts and of locations/organizations, a
  host's audits, a request's taxonomy context;
- apipie.py: `/apidoc/v2.json` and its public builder;
- auditing.py: hosts, locations and organizations audited, and events linked to their
  taxonomies (wired into the core from AuditsConfig.ready());
- admin.py: the admin pages of hosts, locations and organizations.

The core write path (audits.services and below) never imports this package. The models
stay in audits.models, with their auditable type names (HOST_TYPE…).
"""
