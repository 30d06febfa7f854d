"""torch imported without its meta-kernel registrations (mtqa.models.lazy_torch): the same torch once anything needs them, the same scores."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import DATA, ROOT, fresh_python, run_mtqa

#: torch's state after the registrations: its modules and the decomposition table's size
STATE = ("import sys, torch, torch._decomp; "
         "print(json.dumps([sorted(m for m in sys.modules if m.startswith('torch')), "
         "len(torch._decomp.decomposition_table), len(torch._decomp.meta_table)]))")


@pytest.fixture(scope="module")
def normal_state():
    return json.loads(fresh_python("import json; " + STATE))


@pytest.mark.parametrize("first", ["torch._decomp", "torch._refs", "torch._prims", "torch._decomp.decompositions",
                                   "torch._meta_registrations", "complete"])
def test_whatever_comes_first_torch_ends_as_it_would(first, normal_state):
    """Deferred, then the first import of a module the registrations pull in (which alone would
    fail on torch's circular imports) or :func:`complete_torch`: the same modules and tables as a
    plain ``import torch``."""
    step = "complete_torch()" if first == "complete" else f"import {first}"
    code = ("import json; from mtqa.models.lazy_torch import import_torch_deferred, deferred, complete_torch; "
            "assert import_torch_deferred() and deferred(); import sys; assert 'torch._decomp' not in sys.modules; "
            f"{step}; assert not deferred(); complete_torch(); " + STATE)
    assert json.loads(fresh_python(code)) == normal_state


def test_not_deferred_when_torch_is_there_or_switched_off():
    out = fresh_python("import torch; from mtqa.models.lazy_torch import import_torch_deferred as d, deferred; "
                       "print(d(), deferred())")
    assert out.split() == ["False", "False"]
    os.environ["MTQA_FULL_TORCH"] = "1"
    try:
        out = fresh_python("import sys; from mtqa.models.lazy_torch import import_torch_deferred as d; "
                           "print(d(), 'torch' in sys.modules); import torch; print('torch._decomp' in sys.modules)")
    finally:
        del os.environ["MTQA_FULL_TORCH"]
    assert out.split() == ["False", "False", "True"]  # left alone: torch imports as it comes


@pytest.mark.model
def test_a_job_scores_the_same_with_and_without_the_registrations(default_model, tmp_path):
    """``mtqa score`` (deferred: the own decoder never needs the registrations) and the same job
    with ``MTQA_FULL_TORCH=1``: every column of every sentence and the run signature equal; int8
    quantisation (which completes them first) runs too."""
    import datasets

    src = DATA / "sample-mt-article.txt"
    outs = []
    for name, env in (("deferred", None), ("full", "1")):
        if env:
            os.environ["MTQA_FULL_TORCH"] = env
        try:
            proc = run_mtqa("score", str(src), "-o", str(tmp_path / name), cwd=ROOT)
        finally:
            os.environ.pop("MTQA_FULL_TORCH", None)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(datasets.load_from_disk(str(tmp_path / name / "sentences")))
    a, b = outs
    assert len(a) > 5 and a.column_names == b.column_names
    for column in a.column_names:
        assert repr(a[column]) == repr(b[column]), column  # repr: NaN equals NaN
    assert a.info.description == b.info.description
    proc = run_mtqa("score", str(src), "-o", str(tmp_path / "int8"), "--quantize", "int8", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
