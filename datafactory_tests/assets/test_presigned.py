"""Presigned compute functions: Dagster derives the very same assets from them, and each shape of function is
inspected once however many symbols there are."""

import inspect
import types

import dagster as dg
import pytest

from datafactory_assets.assets import build_candle_asset, build_rollup_assets, candles, rollups
from datafactory_assets.assets.presigned import presigned
from datafactory_tests.helpers import symbol_settings


def _fn(asset: dg.AssetsDefinition):
    return asset.op.compute_fn.decorated_fn


def _assets() -> list[dg.AssetsDefinition]:
    return [build_candle_asset(symbol_settings("BTC/USDT"), partitions_per_run=720),
            *build_rollup_assets(symbol_settings("BTC/USDT"), partitions_per_run=720)]


def _derived(asset: dg.AssetsDefinition) -> dict:
    """What Dagster reads off the compute function, and the asset it builds around it."""
    op = asset.op
    return {"ins": [(d.name, d.dagster_type.key) for d in op.input_defs],
            "outs": [(d.name, d.dagster_type.key, d.is_required) for d in op.output_defs],
            "resources": sorted(op.required_resource_keys), "context": op.compute_fn.has_context_arg(),
            "positional": op.compute_fn.positional_inputs(), "keys_by_input": dict(asset.keys_by_input_name),
            "specs": list(asset.specs), "checks": sorted(asset.check_specs, key=lambda spec: spec.name)}


def test_dagster_derives_the_same_assets_from_presigned_functions_as_from_plain_ones(monkeypatch):
    presigned_assets = _assets()
    assert all("__signature__" in vars(_fn(asset)) for asset in presigned_assets)
    monkeypatch.setattr(candles, "presigned", lambda fn: fn)
    monkeypatch.setattr(rollups, "presigned", lambda fn: fn)
    plain_assets = _assets()
    assert not any("__signature__" in vars(_fn(asset)) for asset in plain_assets)
    assert [_derived(a) for a in presigned_assets] == [_derived(a) for a in plain_assets]


def test_each_shape_is_inspected_once_and_keeps_its_own_signature():
    btc, eth = (build_candle_asset(symbol_settings(s), partitions_per_run=720) for s in ("BTC/USDT", "ETH/USDT"))
    hourly, daily = build_rollup_assets(symbol_settings("BTC/USDT"), partitions_per_run=720)
    assert _fn(btc) is not _fn(eth) and _fn(btc).__signature__ is _fn(eth).__signature__
    assert _fn(hourly).__signature__ is _fn(daily).__signature__
    for asset in (btc, hourly):
        fn = _fn(asset)
        unsigned = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
        unsigned.__annotations__ = fn.__annotations__
        assert fn.__signature__ == inspect.signature(unsigned)
    assert _fn(btc).__signature__ != _fn(hourly).__signature__


@pytest.mark.parametrize("changed", ["defaults", "annotations"])
def test_a_function_of_the_same_code_that_differs_gets_a_signature_of_its_own(changed):
    def make(value):
        if changed == "defaults":
            def fn(a, b=value):
                return a, b
        else:
            def fn(a, b: value):
                return a, b
        return presigned(fn)

    first, second = make(int), make(str)
    assert first.__code__ is second.__code__
    parameter = "default" if changed == "defaults" else "annotation"
    assert [getattr(inspect.signature(f).parameters["b"], parameter) for f in (first, second)] == [int, str]
