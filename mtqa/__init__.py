"""mtqa: sentence-level, reference-free quality assessment of machine-translated English.

The package is laid out as a pipeline:

    readers/   files -> Article records (stable ids, raw text, optional source/reference)
    segment    Article -> Sentences with paragraph ids and character offsets
    models/    the language models signals use (embedded default, any HF causal LM)
    signals/   each turns a batch of sentences into named columns, flags and spans
    combine    signals -> the headline ``quality`` score in [0, 1]
    pipeline   streams articles through segmentation, signals and the combiner
    writers    ``datasets`` output, exports, run.json provenance
    cli        assembles the above from flags and YAML configs
"""

__version__ = "0.1.0"
