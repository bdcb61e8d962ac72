"""Database passwords the official odoo image's entrypoint cannot pass on (found on local droplets: a
generated password starting with '-' made every install die with a wait-for-psql.py usage error)."""

from __future__ import annotations

import itertools

import pytest

from firstboot.contract.passwords import db_password_problem, generate_password


@pytest.mark.parametrize("password", ["-abc123", "two words", 'quo"te', "tab\there"])
def test_passwords_the_entrypoint_breaks_are_named(password: str) -> None:
    assert db_password_problem(password)


@pytest.mark.parametrize("password", ["abc-123", "x_Y-z", "db$HOME'#:%x"])
def test_other_passwords_pass(password: str) -> None:
    assert db_password_problem(password) is None


def test_generated_passwords_never_start_with_a_dash() -> None:
    values = itertools.cycle(["-first", "-second", "good-one"])
    assert generate_password(lambda _n: next(values)) == "good-one"
