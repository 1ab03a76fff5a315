"""
Writes for licensing, one module per subject; import from the module itself:

- `license`: installing a signed license file (verified, replaced in place, audited);
- `options`: setting a console option's value, seeding the documented options;
- `releases`: importing releases from a JSON or YAML manifest;
- `updates`: requesting an update job (the worker runs it: `licensing.update_jobs`);
- `status`: recording the application's startup status.
"""
