"""Per-symbol assets copied from one that `@dg.asset` built, instead of each built by `@dg.asset` again.

**Why.** The per-symbol factories make assets that differ only in their key, dependency, partitions, description,
metadata and compute function. `@dg.asset` builds each from scratch (its op from the function's signature, its
inputs, outputs and check outputs, its specs, validated each time): about 0.6 ms of CPU per asset, paid at 200
symbols for 600 assets by every process that loads the code location (webserver, daemon, each run worker, the CLI).
A copy takes the first asset's op and spec and puts the symbol's own into them (names made by Dagster's own rules
for a key's op, its dependency inputs and its check outputs): about 0.3 ms.

**What a copy must be.** The asset `@dg.asset` builds from the same arguments: the same op name, inputs, outputs,
description, resources, and the same specs and checks (`test_copies` builds both ways and compares them; a Dagster
release that names things otherwise fails there, not in the UI).

**Private APIs, wrapped here.** Dagster has no public way to build an asset around a given op and specs without
re-deriving them: `AssetsDefinition.dagster_internal_init` and `OpDefinition.dagster_internal_init` are what the
decorator itself calls, `DecoratedOpFunction` is how it wraps the compute function, and
`stringify_asset_key_to_input_name` is its rule for naming a dependency's input; an op's code version has no
public getter but the deprecated `version`, so `_version` is read as `OpDefinition.with_replaced_properties` does.
"""

from collections.abc import Callable, Mapping, Sequence

import dagster as dg
from dagster._core.definitions.assets.definition.assets_definition import (AssetsDefinition,
                                                                          stringify_asset_key_to_input_name)
from dagster._core.definitions.decorators.op_decorator import DecoratedOpFunction
from dagster._core.definitions.op_definition import OpDefinition


def copied(template: dg.AssetsDefinition, *, key: dg.AssetKey, fn: Callable, deps: Sequence[dg.AssetKey] = (),
           description: str, partitions_def: dg.PartitionsDefinition, metadata: Mapping[str, object] | None = None,
           shown: str | None = None) -> dg.AssetsDefinition:
    """`template` (one asset of one op, built by `@dg.asset`) as `@dg.asset` would build it with these arguments
    instead of its own: `fn` computes it, `deps` are its dependencies (as many as the template's), `metadata`
    replaces the template's where given; checks are the template's, on `key`. `shown` is the asset's description
    where it is not its op's `description` (as `map_asset_specs` would leave it)."""
    spec = template.specs_by_key[template.key]
    op = template.op
    inputs = {stringify_asset_key_to_input_name(dep): dep for dep in deps}
    checks = {check.get_python_identifier(): check
              for check in (check.replace_key(dg.AssetCheckKey(key, check.name)) for check in template.check_specs)}
    outputs = dict(zip([o.name for o in op.output_defs], ["result", *checks], strict=True))
    node = OpDefinition.dagster_internal_init(
        name=key.to_python_identifier(),
        ins={name: dg.In.from_definition(op.input_defs[0]) for name in inputs},
        outs={outputs[o.name]: dg.Out.from_definition(o) for o in op.output_defs},
        compute_fn=DecoratedOpFunction(fn), config_schema=op.config_schema, description=description,
        tags=op.tags, required_resource_keys=op.required_resource_keys, code_version=op._version,
        retry_policy=op.retry_policy, version=None, pool=op.pool)
    return AssetsDefinition.dagster_internal_init(
        keys_by_input_name=inputs, keys_by_output_name={"result": key}, node_def=node, can_subset=False,
        resource_defs=template.resource_defs, backfill_policy=template.backfill_policy,
        check_specs_by_output_name=checks,
        specs=[spec.replace_attributes(key=key, deps=deps, description=description if shown is None else shown,
                                       partitions_def=partitions_def,
                                       **({} if metadata is None else {"metadata": metadata}))],
        hook_defs=template.hook_defs, is_subset=False, selected_asset_keys=None, selected_asset_check_keys=None,
        execution_type=template.execution_type)
