"""Serializer fields the APIs share."""

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """
    A string field that refuses JSON numbers and booleans instead of turning them into text,
    as the typed peers (Replicated's Go structs) do; DRF's CharField would store `0` as "0".
    """

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)
