"""``python -m mtqa train``: learn the quality model from human judgements (see mtqa.train)."""

from __future__ import annotations

import argparse

HELP = "fit the quality model on human judgements (MQM/DA), or the MT detector (--detector), and write its parameter file"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", default="configs/train.yaml", help="training config (default: configs/train.yaml)")
    p.add_argument("-o", "--output", help="parameter file to write (default: the config's output)")
    p.add_argument("--features-dir", help="feature cache folder (default: the config's features_dir)")
    p.add_argument("--predictions", metavar="DIR", help="also write the report sets' predictions (JSONL per set) here")
    p.add_argument("--detector", metavar="FEATURES", help="fit the MT detector from this feature cache (made by "
                   "`python -m mtqa.train.extract ../shared/data -o FEATURES`) instead of the quality model; "
                   "default output mtqa/resources/detector-gemma-3-270m.json")
    p.add_argument("--k-pca", type=int, default=64, help="detector: principal components of the pooled LM states")
    p.add_argument("--l2", type=float, default=10.0, help="detector: L2 penalty of the sentence model")


def run(args) -> int:
    if args.detector:
        from mtqa.train.detector import train_detector

        train_detector(args.detector, args.output or "mtqa/resources/detector-gemma-3-270m.json",
                       k_pca=args.k_pca, l2=args.l2)
        return 0
    from mtqa.train.config import load_train_config
    from mtqa.train.run import train

    cfg = load_train_config(args.config)
    if args.output:
        cfg.output = args.output
    if args.features_dir:
        cfg.features_dir = args.features_dir
    train(cfg, predictions_dir=args.predictions or cfg.predictions_dir)
    return 0
