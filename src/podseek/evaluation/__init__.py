"""Evaluation: BEIR-form query sets, ranx runs and metrics, reports."""
