"""``python -m mtqa train``: learn the quality model from human judgements (see mtqa.train)."""

from __future__ import annotations

import argparse

HELP = "fit the quality model on human judgements (MQM/DA) and write its parameter file"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", default="configs/train.yaml", help="training config (default: configs/train.yaml)")
    p.add_argument("-o", "--output", help="parameter file to write (default: the config's output)")
    p.add_argument("--features-dir", help="feature cache folder (default: the config's features_dir)")
    p.add_argument("--predictions", metavar="DIR", help="also write the report sets' predictions (JSONL per set) here")


def run(args) -> int:
    from mtqa.train.config import load_train_config
    from mtqa.train.run import train

    cfg = load_train_config(args.config)
    if args.output:
        cfg.output = args.output
    if args.features_dir:
        cfg.features_dir = args.features_dir
    train(cfg, predictions_dir=args.predictions or cfg.predictions_dir)
    return 0
