"""Engines that run the scoring of chunks: ``local`` (this process, mtqa.pipeline.LocalEngine) and ``ray``."""
