"""Dagster assets, one module per layer (the module's name is the asset group)."""
