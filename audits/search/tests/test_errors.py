"""QueryError: a ValueError that says where in the query the problem is."""

import pytest

from audits.search.errors import QueryError
from audits.search.parser import parse_ast


def test_query_error_is_a_value_error_with_a_position():
    with pytest.raises(ValueError) as error:
        parse_ast("a = (")
    assert isinstance(error.value, QueryError)
    assert error.value.position == 4
    assert str(error.value) == error.value.message
