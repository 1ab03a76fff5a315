"""The tokenizer: query text to tokens with their source positions."""

import pytest

from audits.search.errors import QueryError
from audits.search.tokens import TokenKind, tokenize


def kinds(query: str) -> list[str]:
    return [
        token.kind.value if token.kind is not TokenKind.COMPARE else token.operator
        for token in tokenize(query)
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a=b", ["word", "=", "word"]),
        ("a==b", ["word", "=", "word"]),
        ("a<>b a!=b", ["word", "!=", "word", "word", "!=", "word"]),
        ("a~b a!~b", ["word", "~", "word", "word", "!~", "word"]),
        (
            "a>=1 a<=1 a>1 a<1",
            ["word", ">=", "word", "word", "<=", "word", "word", ">", "word", "word", "<", "word"],
        ),
        ("a^(b,c)", ["word", "^", "(", "word", ",", "word", ")"]),
        ("a !^ (b)", ["word", "!^", "(", "word", ")"]),
        ("a&b a&&b", ["word", "and", "word", "word", "and", "word"]),
        ("a|b a||b", ["word", "or", "word", "word", "or", "word"]),
        ("!a -a", ["not", "word", "not", "word"]),
        ("AND Or nOt", ["and", "or", "not"]),
        ("set? a has a null? a", ["not_null", "word", "not_null", "word", "null", "word"]),
        ("t before x after y at z", ["word", "<", "word", ">", "word", "=", "word"]),
    ],
)
def test_tokenize_reads_operators_and_keywords(query, expected):
    assert kinds(query) == expected


def test_tokenize_keeps_dash_and_lone_bang_inside_words():
    assert [t.value for t in tokenize("a-b wow! x!y")] == ["a-b", "wow!", "x!y"]


def test_tokenize_ends_word_before_bang_operators_unlike_scoped_search():
    assert [t.text for t in tokenize("name!=x name!~y name!^(z)")] == [
        "name", "!=", "x", "name", "!~", "y", "name", "!^", "(", "z", ")",
    ]  # fmt: skip


def test_tokenize_quoted_string_unescapes_backslashes_and_is_never_a_keyword():
    tokens = tokenize(r'"and" "say \"hi\" \\ \x"')
    assert [(t.kind, t.value) for t in tokens] == [
        (TokenKind.STRING, "and"),
        (TokenKind.STRING, 'say "hi" \\ x'),
    ]


def test_tokenize_quote_inside_word_stays_part_of_the_word():
    assert [t.value for t in tokenize('a"b c')] == ['a"b', "c"]


def test_tokenize_records_source_positions():
    tokens = tokenize('  user  = "a b"')
    assert [(t.start, t.end, t.text) for t in tokens] == [
        (2, 6, "user"),
        (8, 9, "="),
        (10, 15, '"a b"'),
    ]


@pytest.mark.parametrize("query", ['user = "abc', '"', 'x "abc\\"', '"abc\\'])
def test_tokenize_unterminated_quote_is_an_error(query):
    with pytest.raises(
        QueryError, match="Unterminated quoted string starting at position"
    ) as error:
        tokenize(query)
    assert error.value.position == query.index('"')


def test_tokenize_partial_mode_returns_an_open_string():
    (*_, last) = tokenize('user = "adm', partial=True)
    assert (last.kind, last.value, last.closed) == (TokenKind.STRING, "adm", False)


@pytest.mark.parametrize(
    ("query", "problem"), [("a\x00b", "NUL"), ("a\ud800", "not valid Unicode")]
)
def test_tokenize_rejects_text_the_database_cannot_take(query, problem):
    with pytest.raises(QueryError, match=problem):
        tokenize(query)
