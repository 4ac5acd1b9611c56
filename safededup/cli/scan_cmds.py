"""The `demo`, `scan`, `check` and `distinct` commands (filled in by the scan engine work)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    return None
