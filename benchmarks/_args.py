"""Argument types shared by the benchmark scripts' command lines."""

import argparse


def seed_list(text):
    """`--seeds 0,1,2` as a list of ints (an argparse `type`: a bad value is a usage error
    naming the argument)."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated integers, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"names no seed: {text!r}")
    return seeds
