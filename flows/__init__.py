"""Prefect flows and the `ikou` command line: the only package that imports Prefect."""
