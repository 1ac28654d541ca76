import json
from decimal import Decimal

import pytest

from think_prune_train.verify.numeric import extract_answer, format_answer, is_correct, parse_number


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("so she has 18 left.\n#### 18", "18"),
        ("#### 1,234", "1234"),
        ("#### $1,234.50", "1234.5"),
        ("#### 18.", "18"),
        ("#### 18.0", "18"),
        ("#### -7", "-7"),
        ("#### -0.25", "-0.25"),
        ("#### [answer]\nLet me compute: 3 + 4 = 7\n#### 7", "7"),  # placeholder echoed, then the answer
        ("#### 5\nwait, that is wrong\n#### 6", "6"),  # the last marker wins
        ("####42", "42"),
        ("#### $ 12", "12"),
        ("#### 12 apples", "12"),
        ("#### - 5", "-5"),  # a sign with a space after the marker is still a sign
        ("#### 12 - 7", "12"),
        ("the answer is 12", None),  # strict grading needs the marker
        ("", None),
        ("#### ", None),
        ("#### no idea", None),
    ],
)
def test_strict_extraction(completion, expected):
    answer = extract_answer(completion)
    assert (format_answer(answer) if answer is not None else None) == expected


def test_flexible_falls_back_to_last_number():
    assert extract_answer("3 + 4 = 7, so 7 apples", "flexible") == Decimal(7)
    assert extract_answer("no numbers here", "flexible") is None
    assert extract_answer("1,000 then #### 12", "flexible") == Decimal(12)


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("so the answer is 12 - 7", 7),  # a minus after a number and a space is an operator
        ("4-1=3\n3-7", 7),  # and without the space
        ("(3 + 4) - 2", 2),
        ("it is = -5", -5),  # after anything else it is a sign
        ("the total is - 5", -5),
        ("3 - -4", -4),
        ("-8", -8),
    ],
)
def test_flexible_reads_a_minus_after_a_number_as_subtraction(completion, expected):
    assert extract_answer(completion, "flexible") == Decimal(expected)
    assert not is_correct(completion, str(-expected), mode="flexible")


def test_is_correct_compares_values_not_strings():
    assert is_correct("#### 18.0", "18")
    assert is_correct("#### 1,000", "1000")
    assert not is_correct("#### 17", "18")
    assert not is_correct("18", "18")  # strict: no marker, no answer
    assert is_correct("18", "18", mode="flexible")


def test_enormous_numbers_are_exact():
    big = "123456789012345678901234567890"
    assert is_correct(f"#### {big}", big)
    assert not is_correct(f"#### {big}1", big)


def test_bad_gold_and_mode_raise():
    with pytest.raises(ValueError, match="gold answer"):
        is_correct("#### 1", "one")
    with pytest.raises(ValueError, match="grading mode"):
        extract_answer("#### 1", "loose")


def test_parse_number_rejects_non_numbers():
    assert parse_number("abc") is None
    assert parse_number("") is None
    assert parse_number("nan") is None
    assert parse_number("1e400") is not None  # finite Decimal, no float overflow


def test_gsm8k_reference_solutions_grade_correct_against_themselves(gsm8k_dir):
    for split in ("train", "test"):
        rows = [json.loads(line) for line in (gsm8k_dir / f"{split}.jsonl").read_text().splitlines() if line]
        assert len(rows) > 1000
        wrong = [row for row in rows if not is_correct(row["answer"], row["answer"].rsplit("####", 1)[1])]
        assert wrong == [], f"{len(wrong)} {split} answers failed to grade, first: {wrong[:1]}"
