"""``python -m mtqa train``: learn the quality model or the MT detector (see mtqa.train)."""

from __future__ import annotations

import argparse

HELP = ("fit the quality model (--quality FEATURES: from the corpus feature cache; or a YAML training "
        "config) or the MT detector (--detector FEATURES), and write its parameter file")

QUALITY_DEFAULT = "mtqa/resources/quality-gemma-3-270m.json"
DETECTOR_DEFAULT = "mtqa/resources/detector-gemma-3-270m.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", default="configs/train.yaml",
                   help="training config for the subsample path (default: configs/train.yaml)")
    p.add_argument("-o", "--output", help="parameter file to write (default: the shipped file of what is fitted)")
    p.add_argument("--features-dir", help="feature cache folder of the config path (default: the config's features_dir)")
    p.add_argument("--predictions", metavar="DIR", help="also write the report sets' predictions (JSONL per set) here")
    p.add_argument("--quality", metavar="FEATURES", help="fit the quality model's target head on every judged training "
                   f"row of this feature cache (python -m mtqa.train.extract); default output {QUALITY_DEFAULT}")
    p.add_argument("--keep-source-head", metavar="FILE",
                   help="with --quality: carry the with-source head of this parameter file over unchanged")
    p.add_argument("--without", nargs="+", metavar="FEATURE", default=(),
                   help="with --quality: leave these features out of the linear heads (an ablation; e.g. src_rev_pmi)")
    p.add_argument("--add-source-feature", nargs="+", metavar="COLUMN", default=(),
                   help="with --quality: add these cached columns to the with-source head (e.g. src_rev_pmi)")
    p.add_argument("--calibrate-on", metavar="SET", default=None,
                   help="with --quality: refit each head family's link to P(no major error) on this MQM report set of "
                        "the cache after the fit (e.g. wmt22dev; mtqa.train.recalibrate; its ECE is reported cross-fitted)")
    p.add_argument("--recalibrate", metavar="PARAMS",
                   help="with --quality FEATURES: do not fit; refit the link of this parameter file on --calibrate-on "
                        "(default wmt22dev) and write it (-o; default the shipped file)")
    p.add_argument("--detector", metavar="FEATURES", help="fit the MT detector from this feature cache (made by "
                   "`python -m mtqa.train.extract ../shared/data -o FEATURES`) instead of the quality model; "
                   f"default output {DETECTOR_DEFAULT}")
    p.add_argument("--census", metavar="FLAGS", help="with --detector: the corpus flag census (python -m mtqa.train.flags) "
                   "for the flag weights (default: the cache's own rows)")
    p.add_argument("--k-pca", type=int, default=None,
                   help="detector: principal components of the pooled LM states (default: chosen by inner CV)")
    p.add_argument("--l2", type=float, default=None, help="detector: L2 penalty of the sentence model (with --k-pca)")


def run(args) -> int:
    if args.detector:
        from mtqa.train.detector import train_detector

        train_detector(args.detector, args.output or DETECTOR_DEFAULT, k_pca=args.k_pca,
                       l2=args.l2 if args.l2 is not None or args.k_pca is None else 10.0, census=args.census)
        return 0
    if args.recalibrate:
        from mtqa.errors import ConfigError
        from mtqa.train.recalibrate import CALIBRATION_SET, recalibrate_file

        if not args.quality:
            raise ConfigError("--recalibrate PARAMS needs --quality FEATURES (the cache holding the calibration set)")
        recalibrate_file(args.recalibrate, args.quality, args.output or QUALITY_DEFAULT,
                         args.calibrate_on or CALIBRATION_SET)
        return 0
    if args.quality:
        from mtqa.train.quality import train_quality

        train_quality(args.quality, args.output or QUALITY_DEFAULT, keep_source_head=args.keep_source_head,
                      without=args.without, add_source=args.add_source_feature, calibrate_on=args.calibrate_on)
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
