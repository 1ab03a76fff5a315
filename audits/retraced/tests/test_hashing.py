"""
audits.retraced.hashing against Retraced's own vectors: retraced-js src/test.ts, the help
center's hashing-formula examples (with their known mistakes), and the Go client's rule for
empty maps (retracedhq/retraced-go event.go, BuildHashTarget).
"""

import hashlib

import pytest

from audits.retraced.hashing import compute_hash, hash_target


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_retraced_js_vector_without_a_group():
    event = {
        "action": "even.more.of.a.test",
        "actor": {"id": "user@domain.xyz", "name": "Chauncey O'Farragut"},
        "target": {"id": "some_object01234", "name": "Important Business Widget"},
        "is_anonymous": False,
        "is_failure": True,
        "fields": {"abc=xyz": "nothing special"},
    }
    assert hash_target(event, "kfbr392") == (
        "kfbr392:even.more.of.a.test:some_object01234:user@domain.xyz:::1:0:"
        "abc%3Dxyz=nothing special;"
    )


def test_retraced_js_vector_that_passes_the_hash_check():
    # Both escaping passes, on the group id and on the fields' keys and values.
    event = {
        "action": "even.more.of.a.test",
        "group": {"id": "%% :: some %% customer :: %%", "name": "A Customer"},
        "actor": {"id": "user@domain.xyz", "name": "Chauncey O'Farragut"},
        "target": {"id": "some_object01234", "name": "Important Business Widget"},
        "is_anonymous": False,
        "is_failure": True,
        "fields": {";zyx=cba;abc=xyz": "nothing special", ";Zyx=Cba%Abc=Xyz": "% hi there %"},
    }
    assert (
        compute_hash(event, "abf053dc4a3042459818833276eec717")
        == "5b570bff4628b35262fb401d2f6c9bb38d29e212f6e0e8ea93445b4e5a253d50"
    )


HC_SIMPLE = {
    "action": "user.login",
    "group": {"id": "group-id", "name": "group-name"},
    "created": "2017-01-01T00:00:00.000000000Z",
    "crud": "c",
    "description": 'User "someone@someplace.com" logged in',
    "source_ip": "8.8.8.8",
    "actor": {"id": "actor-id", "name": "actor-name"},
    "is_failure": False,
    "is_anonymous": False,
}


def test_help_center_simple_event_as_the_code_computes_it():
    # The docs print `...:0:0:` and its hash 1ee7c214...: they forget the `:` that absent
    # fields append. The clients compute the string below, so the server must too.
    assert (
        hash_target(HC_SIMPLE, "event-id") == "event-id:user.login::actor-id:group-id:8.8.8.8:0:0::"
    )
    assert compute_hash(HC_SIMPLE, "event-id") == (
        "54bdf9518787d52fd912d406c22557a58cde0e7620005a5516c43f9976e28cde"
    )
    assert sha256("event-id:user.login::actor-id:group-id:8.8.8.8:0:0:") == (
        "1ee7c214a6bc2ab3e4f921b7c98a148357eebb56081fd68d88bd25acdec45332"
    )  # the docs' figure, for a string no client builds


def test_help_center_event_with_fields():
    event = {
        **HC_SIMPLE,
        "action": "document.share",
        "crud": "u",
        "target": {"id": "target-id", "name": "document-name", "type": "document"},
        "fields": {"resulting_permission": "view,edit", "permission_granted": "view"},
    }
    target = (
        "event-id:document.share:target-id:actor-id:group-id:8.8.8.8:0:0:"
        "permission_granted=view;resulting_permission=view,edit;"
    )
    assert hash_target(event, "event-id") == target
    assert compute_hash(event, "event-id") == (
        "1655694619053f1c4f48b686793ceeec236b3233a5c1022064b5ef6887eafcfa"
    )
    # The docs' hash e3412f11... is of the same string with `user.login` for the action.
    assert sha256(target.replace("document.share", "user.login")) == (
        "e3412f11c1ed3b592d5333441880373ede3b774bc62914ed9317d3affaec9048"
    )


def test_absent_fields_append_a_colon_and_empty_fields_append_nothing():
    base = {"action": "a", "actor": {"id": "u"}}
    assert hash_target(base, "i") == "i:a::u:::0:0::"
    assert hash_target({**base, "fields": None}, "i") == "i:a::u:::0:0::"
    assert hash_target({**base, "fields": {}}, "i") == "i:a::u:::0:0:"


def test_go_client_empty_fields_rule_matches_what_it_sends():
    # retraced-go treats an empty Fields map as absent (appends `:`), where retraced-js
    # treats `{}` as present. They agree on the wire: Go's `fields,omitempty` drops an empty
    # map from the JSON, so the server sees no `fields` and appends `:` as Go expects.
    go_sends = {"action": "a", "actor": {"id": "u"}, "crud": "c"}  # Fields{} omitted
    go_expects = "i:a::u:::0:0::"
    assert hash_target(go_sends, "i") == go_expects
    # The same for metadata: omitted when empty, and Go then appends nothing.
    assert not hash_target(go_sends, "i").endswith(":::")


def test_external_id_only_when_non_empty_and_metadata_whenever_present():
    base = {"action": "a", "actor": {"id": "u"}, "fields": {}}
    assert hash_target({**base, "external_id": ""}, "i") == "i:a::u:::0:0:"
    assert hash_target({**base, "external_id": "x:1"}, "i") == "i:a::u:::0:0::x%3A1"
    assert hash_target({**base, "metadata": {}}, "i") == "i:a::u:::0:0::"
    assert hash_target({**base, "external_id": "e", "metadata": {"b": "2", "a": "1=;"}}, "i") == (
        "i:a::u:::0:0::e:a=1%3D%3B;b=2;"
    )


def test_empty_objects_and_source_ip_are_empty_segments():
    event = {"action": "a", "actor": {"id": "u"}, "target": {}, "group": {}, "source_ip": ""}
    assert hash_target(event, "i") == "i:a::u:::0:0::"


@pytest.mark.parametrize(
    ("keys", "order"),
    [
        (["b", "a", "B"], ["B", "a", "b"]),
        # JavaScript sorts UTF-16 code units: U+1F600 (a surrogate pair, D83D DE00) sorts
        # before U+FF21, where a code-point sort puts it after.
        (["\uff21", "\U0001f600"], ["\U0001f600", "\uff21"]),
    ],
)
def test_keys_sort_as_javascript_sorts_them(keys, order):
    event = {"action": "a", "fields": dict.fromkeys(keys, "v")}
    assert hash_target(event, "i").endswith("".join(f"{key}=v;" for key in order))


def test_percent_is_escaped_before_colon():
    assert hash_target({"action": "%3A:"}, "i").startswith("i:%253A%3A:")
