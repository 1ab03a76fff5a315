"""Settings take the key the run command generated in var/secret_key when none is exported."""

import os
import subprocess
import sys

from tests.live_site import ROOT

PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def _shell(var_dir, **extra) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DATABASE_URL"}
    }
    env.update(INTEGRATION_SITE_VAR_DIR=str(var_dir), **extra)
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PRINT_KEY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_reads_the_generated_key_file_when_the_variable_is_unset(tmp_path):
    (tmp_path / "secret_key").write_text("key-from-the-run-command\n")
    result = _shell(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "key-from-the-run-command"


def test_an_exported_key_wins_over_the_file(tmp_path):
    (tmp_path / "secret_key").write_text("key-from-the-run-command\n")
    result = _shell(tmp_path, DJANGO_SECRET_KEY="exported-key")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "exported-key"


def test_without_key_or_file_start_up_refuses_and_names_both(tmp_path):
    result = _shell(tmp_path)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert str(tmp_path / "secret_key") in result.stderr
