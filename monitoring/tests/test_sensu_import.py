"""
`manage.py sensu_import DIR`: a Sensu 1.x /etc/sensu/conf.d loaded as sensu-settings'
loader.rb loads it (load_directory, load_file, deep_merge), then created or updated.
"""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audits.models import AuditEvent
from monitoring.definitions import CONFIG_FILE_MAX_BYTES, sensu_config_read
from monitoring.models import CheckDefinition, Filter, Handler, Mutator

pytestmark = pytest.mark.django_db


def write(root, path: str, content) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content if isinstance(content, str) else json.dumps(content))


@pytest.fixture
def conf_d(tmp_path):
    """A realistic conf.d: one definition per file in subdirectories, as Sensu's docs do."""
    write(tmp_path, "config.json", {"rabbitmq": {"host": "mq"}, "redis": {"host": "redis"}})
    write(tmp_path, "api.json", {"api": {"port": 4567, "password": "secret"}})
    write(tmp_path, "client.json", {"client": {"name": "i-424242", "subscriptions": ["web"]}})
    write(
        tmp_path,
        "checks/check_http.json",
        {
            "checks": {
                "check_http": {
                    "command": "check-http.rb -u https://localhost",
                    "subscribers": ["webserver"],
                    "interval": 60,
                    "handlers": ["default", "graphite"],
                    "occurrences": 2,
                    "refresh": 300,
                }
            }
        },
    )
    write(
        tmp_path,
        "checks/metrics.json",
        {
            "checks": {
                "cpu_metrics": {
                    "type": "metric",
                    "command": "metrics-cpu.rb",
                    "subscribers": ["production"],
                    "interval": 10,
                    "handlers": ["graphite"],
                }
            }
        },
    )
    write(
        tmp_path,
        "handlers/default.json",
        {"handlers": {"default": {"type": "set", "handlers": ["mail", "pagerduty"]}}},
    )
    write(
        tmp_path,
        "handlers/mail.json",
        {
            "handlers": {
                "mail": {
                    "type": "pipe",
                    "command": "mailx -s 'sensu event' ops@example.com",
                    "severities": ["critical", "ok"],
                    "filters": ["production", "office_hours"],
                    "mutator": "only_check_output",
                },
                "pagerduty": {
                    "type": "pipe",
                    "command": "pagerduty.rb",
                    "filter": "production",
                    "timeout": 10,
                },
            }
        },
    )
    write(
        tmp_path,
        "handlers/graphite.json",
        {
            "handlers": {
                "graphite": {
                    "type": "tcp",
                    "socket": {"host": "graphite.example.com", "port": 2003},
                    "mutator": "tag",
                },
                "events_bus": {"type": "transport", "pipe": {"type": "topic", "name": "events"}},
            }
        },
    )
    write(
        tmp_path,
        "filters/filters.json",
        {
            "filters": {
                "production": {"attributes": {"client": {"environment": "production"}}},
                "office_hours": {
                    "negate": True,
                    "attributes": {"check": {"occurrences": "eval: value > 2"}},
                    "when": {"days": {"all": [{"begin": "5:00 PM", "end": "8:00 AM"}]}},
                },
            }
        },
    )
    write(tmp_path, "mutators/tag.json", {"mutators": {"tag": {"command": "tag.rb", "timeout": 5}}})
    write(tmp_path, "extensions.json", {"extensions": {"system_profile": {"gem": "x"}}})
    write(tmp_path, "broken.json", '{"handlers": {"x": ')
    write(tmp_path, "notes.txt", "not json, not read")
    return tmp_path


def run_import(path, *options) -> str:
    out = io.StringIO()
    try:
        call_command("sensu_import", str(path), *options, stdout=out)
    except CommandError as exc:
        out.write(f"CommandError: {exc}")
    return out.getvalue()


def snapshot() -> dict:
    return {
        model.__name__: sorted(model.objects.values_list("name", "updated_at"))
        for model in (CheckDefinition, Handler, Filter, Mutator)
    }


def test_a_conf_d_tree_is_imported_with_its_skips_and_bad_file_reported(conf_d):
    report = run_import(conf_d)
    assert "Read 11 file(s)" in report  # notes.txt is not *.json; broken.json fails.
    assert "broken.json: skipped, not valid JSON" in report
    assert "created   check check_http" in report
    assert "created   handler default" in report
    # Settings other than definitions: skipped, each with its reason.
    assert "skipped   client settings: the agent's own settings" in report
    assert "skipped   rabbitmq settings: the transport is set with SENSU_TRANSPORT_URL" in report
    assert "skipped   redis settings" in report
    assert "skipped   api settings" in report
    assert "skipped   extensions settings: Ruby extensions cannot run here" in report
    assert "secret" not in report
    assert "CommandError: 1 file(s) or definition(s) left out" in report
    assert set(CheckDefinition.objects.values_list("name", flat=True)) == {
        "check_http",
        "cpu_metrics",
    }
    assert set(Handler.objects.values_list("name", "type")) == {
        ("default", "set"),
        ("mail", "pipe"),
        ("pagerduty", "pipe"),
        ("graphite", "tcp"),
        ("events_bus", "transport"),
    }
    check_http = CheckDefinition.objects.get(name="check_http")
    assert check_http.subscribers == ["webserver"]
    assert check_http.handlers == ["default", "graphite"]
    assert check_http.attributes == {"occurrences": 2, "refresh": 300}
    assert CheckDefinition.objects.get(name="cpu_metrics").type == "metric"
    assert Handler.objects.get(name="default").handlers == ["mail", "pagerduty"]
    mail = Handler.objects.get(name="mail")
    assert mail.command == "mailx -s 'sensu event' ops@example.com"
    assert mail.shell is False
    assert mail.filters == ["production", "office_hours"]
    assert Handler.objects.get(name="pagerduty").filters == ["production"]
    graphite = Handler.objects.get(name="graphite")
    assert (graphite.socket_host, graphite.socket_port) == ("graphite.example.com", 2003)
    office_hours = Filter.objects.get(name="office_hours")
    assert office_hours.negate is True
    assert office_hours.when["days"]["all"][0]["begin"] == "5:00 PM"
    assert Mutator.objects.get(name="tag").timeout == 5


def test_a_second_import_changes_nothing_and_says_so(conf_d):
    run_import(conf_d)
    before, audits = snapshot(), AuditEvent.objects.count()
    report = run_import(conf_d)
    assert snapshot() == before
    assert AuditEvent.objects.count() == audits
    assert "0 created, 0 updated, 10 unchanged, 5 skipped, 0 invalid. Nothing changed." in report


def test_a_changed_file_updates_only_its_definition(conf_d):
    run_import(conf_d)
    audits = AuditEvent.objects.count()
    write(conf_d, "mutators/tag.json", {"mutators": {"tag": {"command": "tag.rb", "timeout": 9}}})
    report = run_import(conf_d)
    assert "updated   mutator tag" in report
    assert "1 updated, 9 unchanged" in report
    assert Mutator.objects.get(name="tag").timeout == 9
    assert AuditEvent.objects.count() == audits + 1


def test_a_stored_definition_made_invalid_in_the_file_is_reported_and_kept(conf_d):
    run_import(conf_d)
    write(conf_d, "mutators/tag.json", {"mutators": {"tag": {"command": "tag.rb", "timeout": "9"}}})
    report = run_import(conf_d)
    assert "invalid   mutator tag: timeout: must be numeric" in report
    assert Mutator.objects.get(name="tag").timeout == 5


def test_a_dry_run_writes_nothing_and_reports_what_it_would_do(conf_d):
    audits = AuditEvent.objects.count()
    report = run_import(conf_d, "--dry-run")
    assert "created   handler mail" in report
    assert "Dry run, nothing written: 10 created" in report
    assert "the rest would be imported" in report
    assert not Handler.objects.exists()
    assert not CheckDefinition.objects.exists()
    assert AuditEvent.objects.count() == audits


def test_invalid_definitions_are_reported_and_the_valid_rest_imported(tmp_path):
    write(
        tmp_path,
        "handlers.json",
        {
            "handlers": {
                "bad_socket": {"type": "tcp", "socket": {"host": "h", "port": "2003"}},
                "good": {"type": "pipe", "command": "x"},
            },
            "checks": "not an object",
        },
    )
    write(tmp_path, "filters.json", {"filters": {"no_attributes": {"negate": True}}})
    report = run_import(tmp_path)
    assert "invalid   handler bad_socket: socket.port: must be an integer" in report
    assert "invalid   filter no_attributes: attributes: must be an object" in report
    assert "invalid   checks: must be an object of definitions" in report
    assert "created   handler good" in report
    assert "CommandError: 3 file(s) or definition(s) left out" in report
    assert list(Handler.objects.values_list("name", flat=True)) == ["good"]


def test_files_merge_deeply_as_sensu_merges_them(tmp_path):
    # loader.rb deep_merge: objects merge key by key, arrays join without repeats; files
    # are read in path order.
    write(tmp_path, "a/check.json", {"checks": {"disk": {"command": "d", "subscribers": ["a"]}}})
    write(
        tmp_path, "b/check.json", {"checks": {"disk": {"interval": 30, "subscribers": ["a", "b"]}}}
    )
    report = run_import(tmp_path)
    assert "created   check disk" in report
    disk = CheckDefinition.objects.get(name="disk")
    assert (disk.command, disk.interval, disk.subscribers) == ("d", 30, ["a", "b"])


def test_built_in_names_are_taken_over_only_when_defined(tmp_path):
    write(tmp_path, "f.json", {"filters": {"occurrences": {"attributes": {"occurrences": 1}}}})
    report = run_import(tmp_path)
    assert "takes the place of the built-in filter occurrences" in report
    assert list(Filter.objects.values_list("name", flat=True)) == ["occurrences"]
    assert not Mutator.objects.exists()  # json and only_check_output stay built in.


def test_bad_files_are_reported_never_a_traceback(tmp_path):
    write(tmp_path, "list.json", "[1, 2]")
    write(tmp_path, "empty.json", "   ")
    (tmp_path / "latin1.json").write_bytes(b'{"x": "\xe9"}')
    (tmp_path / "bom.json").write_bytes(b'\xef\xbb\xbf{"mutators": {"m": {"command": "c"}}}')
    (tmp_path / "huge.json").write_text(" " * (CONFIG_FILE_MAX_BYTES + 1) + "{}")
    read = sensu_config_read(tmp_path)
    assert read.files == ["bom.json", "empty.json"]
    assert read.settings == {"mutators": {"m": {"command": "c"}}}
    problems = "\n".join(read.problems)
    assert "list.json: skipped, must hold a JSON object" in problems
    assert "latin1.json: skipped, cannot be read" in problems
    assert f"huge.json: skipped, larger than {CONFIG_FILE_MAX_BYTES} bytes" in problems


def test_reading_stops_at_the_file_and_byte_limits(tmp_path, monkeypatch):
    from monitoring import definitions

    for n in range(4):
        write(tmp_path, f"d{n}/m.json", {"mutators": {f"m{n}": {"command": "c"}}})
    monkeypatch.setattr(definitions, "CONFIG_FILES_MAX", 3)
    read = sensu_config_read(tmp_path)
    assert read.files == ["d0/m.json", "d1/m.json", "d2/m.json"]
    assert read.problems == ["d3/m.json: not read, nor any file after it: over 3 files"]
    monkeypatch.setattr(definitions, "CONFIG_TOTAL_MAX_BYTES", 100)
    read = sensu_config_read(tmp_path)
    assert len(read.files) == 2
    assert "over 100 bytes in all" in read.problems[0]


def test_a_missing_directory_is_a_clear_error(tmp_path):
    assert "is not a directory" in run_import(tmp_path / "nope")


def test_a_command_written_for_sensus_shell_is_pointed_out(tmp_path):
    # Sensu ran every handler and mutator command with `sh -c`; here only with "shell": true.
    write(
        tmp_path,
        "h.json",
        {
            "handlers": {
                "piped": {"type": "pipe", "command": "cat | mail ops"},
                "asked": {"type": "pipe", "command": "cat | mail ops", "shell": True},
            },
            "mutators": {"env": {"command": "tag.rb --env $ENV"}},
        },
    )
    report = run_import(tmp_path)
    assert "created   handler piped: the command uses shell syntax (|)" in report
    assert "created   handler asked\n" in report
    assert "created   mutator env: the command uses shell syntax ($)" in report
    assert Handler.objects.get(name="asked").shell is True
