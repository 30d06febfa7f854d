"""Learning ``quality`` from human judgements: data specs, feature extraction (cached), fitting.

    mtqa.train.data      which gold files, which split, which seeded subsample
    mtqa.train.features  signal columns for those segments, cached on disk (JSONL per chunk)
    mtqa.train.model     the model: standardised features -> ridge -> logistic calibration
    mtqa.train.run       ``python -m mtqa train``: extract (or reuse) features, fit, write, report
"""
