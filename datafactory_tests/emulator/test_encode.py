"""The vectorized page encoder: Binance-style fixed decimals that parse back to the very same floats."""

import json

import numpy as np
import pytest

from datafactory_assets.emulator.encode import decimal_text, json_rows


def decode(body):
    return [[float(cell) if isinstance(cell, str) else cell for cell in row] for row in json.loads(body)]


def test_a_row_template_becomes_a_json_array_of_rows():
    body = json_rows([b"[", np.array([1, 22]), b',"', np.array([60000.12, 0.5]), b'","x"]'])
    assert body == b'[[1,"60000.12000000","x"],[22,"0.50000000","x"]]'
    assert json_rows([b"[", np.array([], dtype=np.int64), b"]"]) == b"[]"


@pytest.mark.parametrize(
    "values",
    [
        [0.0, -4.0, -0.5, 1.5, 10.0],
        [1e-9, 123.456789012, 0.1 + 0.2],  # too many decimals: repr keeps them exact
        [1e20, 5e7 + 0.123, 2.5e9 + 0.12345],  # too large for eight exact decimals
        list(np.round(np.random.default_rng(7).lognormal(0, 6, 500), 5)),
    ],
)
def test_every_value_parses_back_to_itself(values):
    floats = np.array(values)
    ints = np.arange(len(values), dtype=np.int64) * -7 + 3
    assert decode(json_rows([b"[", ints, b',"', floats, b'"]'])) == [[i, v] for i, v in zip(ints.tolist(), values)]


def test_decimal_text_is_fixed_point_when_exact_and_repr_otherwise():
    assert decimal_text(60000.12) == "60000.12000000"
    assert decimal_text(1e-9) == "1e-09" and float(decimal_text(0.1 + 0.2)) == 0.1 + 0.2
