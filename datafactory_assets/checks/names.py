"""The names of the asset checks, free of Dagster: dataset declarations name the checks their assets carry, and
the warehouse reads declarations in processes (the CLI) that never import Dagster."""

VALIDATION = "validation"
GAPS = "gaps"
ACCURACY = "accuracy"
ANOMALY = "anomaly"
MARK_VS_INDEX = "mark_vs_index"
PERP_VS_SPOT = "perp_vs_spot"
