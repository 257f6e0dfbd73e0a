from pathlib import Path

import pytest

from odcm.env import EnvError, env_bool, env_int, env_list, env_str, env_url


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("1", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_bool_reads_the_usual_words(raw, expected):
    assert env_bool("ODCM_X", not expected, environ={"ODCM_X": raw}) is expected


def test_bool_unset_or_blank_gives_the_default():
    assert env_bool("ODCM_X", True, environ={}) is True
    assert env_bool("ODCM_X", False, environ={"ODCM_X": "  "}) is False


def test_bool_rejects_other_words_naming_the_variable():
    with pytest.raises(EnvError, match="ODCM_X='maybe' is not a boolean"):
        env_bool("ODCM_X", False, environ={"ODCM_X": "maybe"})


def test_int_reads_and_checks_bounds():
    assert env_int("ODCM_N", 5, environ={"ODCM_N": " 42 "}) == 42
    assert env_int("ODCM_N", 5, environ={}) == 5
    with pytest.raises(EnvError, match="ODCM_N='4x' is not a whole number"):
        env_int("ODCM_N", 5, environ={"ODCM_N": "4x"})
    with pytest.raises(EnvError, match="below the minimum of 1"):
        env_int("ODCM_N", 5, minimum=1, environ={"ODCM_N": "0"})
    with pytest.raises(EnvError, match="above the maximum of 10"):
        env_int("ODCM_N", 5, maximum=10, environ={"ODCM_N": "11"})


def test_list_splits_on_commas_and_drops_blanks():
    assert env_list("ODCM_L", environ={"ODCM_L": "a, b,,c ,"}) == ["a", "b", "c"]
    assert env_list("ODCM_L", ["d"], environ={}) == ["d"]


def test_url_accepts_listed_schemes_only():
    url = "postgres://u:p@db:5432/odcm"
    assert env_url("ODCM_U", schemes=("postgres",), environ={"ODCM_U": url}) == url
    with pytest.raises(EnvError, match="ODCM_U must start with one of redis://"):
        env_url("ODCM_U", schemes=("redis",), environ={"ODCM_U": url})


def test_url_with_a_bad_port_is_refused_without_echoing_the_password():
    with pytest.raises(EnvError) as info:
        env_url("ODCM_U", schemes=("redis",), environ={"ODCM_U": "redis://:hunter2@h:99999/0"})
    assert "hunter2" not in str(info.value)
    assert "ODCM_U" in str(info.value)


def test_any_value_may_come_from_a_file(tmp_path: Path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    assert env_str("ODCM_S", environ={"ODCM_S_FILE": str(secret)}) == "s3cret"


def test_a_missing_file_is_a_clear_error():
    with pytest.raises(EnvError, match="ODCM_S_FILE: cannot read"):
        env_str("ODCM_S", environ={"ODCM_S_FILE": "/nonexistent/secret"})


def test_value_and_file_together_are_refused(tmp_path: Path):
    (tmp_path / "s").write_text("x")
    with pytest.raises(EnvError, match="both set"):
        env_str("ODCM_S", environ={"ODCM_S": "y", "ODCM_S_FILE": str(tmp_path / "s")})
