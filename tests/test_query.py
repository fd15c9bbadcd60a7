import pytest

from mmdemo.errors import UserError
from mmdemo.query import Term, parse


def test_rclip_style_expression():
    assert parse("2:a red circle + 0.5:@path/to/img.png - striped") == [
        Term("text", "a red circle", 2.0, 1.0),
        Term("image", "path/to/img.png", 0.5, 1.0),
        Term("text", "striped", 1.0, -1.0),
    ]


@pytest.mark.parametrize("text", ["a t-shirt", "x -y", "well-known red", "3-sided shape"])
def test_hyphens_inside_words_are_not_operators(text):
    assert parse(text) == [Term("text", text, 1.0, 1.0)]


def test_leading_sign_and_spaces_after_multiplier():
    assert parse("-foo + 3: bar baz") == [Term("text", "foo", 1.0, -1.0), Term("text", "bar baz", 3.0, 1.0)]
    assert parse("+ a") == [Term("text", "a", 1.0, 1.0)]


def test_multiplier_needs_a_number_else_it_is_text():
    assert parse("note: red") == [Term("text", "note: red", 1.0, 1.0)]
    assert parse(".5:red") == [Term("text", "red", 0.5, 1.0)]


@pytest.mark.parametrize("expression, message", [
    ("", "empty"), ("   ", "empty"), ("a + + b", "term 2"), ("a +", "term 2"), ("+", "term 1"),
    ("2:", "nothing after"), ("@", "followed by an image"), ("1: @ ", "followed by an image"),
    ("- x", "at least one term added"), ("1e999:x", "finite"),
])
def test_malformed_expressions_name_the_problem(expression, message):
    with pytest.raises(UserError, match=message):
        parse(expression)
