"""The command line as a new user meets it: a mistake inside a subcommand shows that
subcommand's usage and a "did you mean"; library noise is hidden, mtqa's warnings are not."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mtqa.cli import main
from tests.conftest import ROOT


def _error(capsys, *argv: str) -> list[str]:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2, captured.err  # one usage line, one error line
    return lines


@pytest.mark.parametrize("argv, usage, hint", [
    (["score", "--overwite", "a.txt"], "mtqa score [options] [inputs ...]", "--overwite (did you mean --overwrite?)"),
    (["score", "--formats", "csv", "a.txt"], "mtqa score", "--formats (did you mean --format?)"),
    (["score", "--ouput", "out", "a.txt"], "mtqa score", "--ouput (did you mean --output?)"),
    (["score", "--batch-szie=8", "a.txt"], "mtqa score", "--batch-szie=8 (did you mean --batch-size?)"),
    (["merge", "a", "-o", "b", "--overwite"], "mtqa merge [options] -o OUTPUT shards", "did you mean --overwrite?"),
    (["download", "--forse"], "mtqa download", "--forse (did you mean --force?)"),
    (["evaluate", "out", "--gld", "g.csv"], "mtqa evaluate", "--gld (did you mean --gold?)"),
    (["report", "out", "--max-artciles", "3"], "mtqa report [options] OUT", "did you mean --max-articles?"),
    (["train", "--detectr", "feats"], "mtqa train", "--detectr (did you mean --detector?)"),
])
def test_a_mistyped_flag_gets_the_subcommand_usage_and_a_suggestion(capsys, argv, usage, hint):
    usage_line, error_line = _error(capsys, *argv)
    assert usage_line.startswith(f"usage: {usage}") and f"{argv[0]} --help" in usage_line
    assert error_line.startswith(f"mtqa {argv[0]}: error: unrecognized argument") and hint in error_line


def test_an_unknown_flag_with_nothing_close_is_named_without_a_guess(capsys):
    usage_line, error_line = _error(capsys, "score", "--bogus", "x")
    assert usage_line.startswith("usage: mtqa score [options]")
    assert error_line == "mtqa score: error: unrecognized argument: --bogus"


def test_an_invalid_choice_names_the_subcommand_and_the_closest_choice(capsys):
    usage_line, error_line = _error(capsys, "score", "--unit", "sentences", "a.txt")
    assert usage_line.startswith("usage: mtqa score") and "argument --unit: invalid choice: 'sentences'" in error_line
    assert "did you mean" not in error_line  # nothing close: the choices are listed
    _, error_line = _error(capsys, "score", "--unit", "segments", "a.txt")
    assert error_line.endswith("(did you mean 'segment'?)")
    usage_line, error_line = _error(capsys, "scroe", "a.txt")
    assert usage_line.startswith("usage: mtqa [options] COMMAND") and error_line.endswith("(did you mean 'score'?)")


def test_what_the_user_typed_is_printed_escaped(capsys):
    _, error_line = _error(capsys, "score", "--x\x1b[2J")
    assert "\x1b" not in error_line and "--x\\x1b[2J" in error_line


def test_a_real_process_exits_2_with_two_lines():
    proc = subprocess.run([sys.executable, "-m", "mtqa", "score", "--overwite", "a.txt"], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "usage: mtqa score [options] [inputs ...]   (all options: mtqa score --help)",
        "mtqa score: error: unrecognized argument: --overwite (did you mean --overwrite?)"]


# The `report` command replaced by one that warns as mtqa code would (its globals are mtqa's
# module, so the warning is attributed to mtqa.commands.report), then makes torch emit the
# deprecation warnings a `--quantize int8` run gets, and a library warning nobody expected.
_WARNING_RUN = textwrap.dedent('''
    import sys
    import mtqa.commands.report as report
    exec(compile(\'\'\'
    def run(args):
        import warnings
        import torch
        warnings.warn("mtqa's own warning", UserWarning)
        torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(4, 4)), {torch.nn.Linear},
                                               dtype=torch.qint8)
        warnings.warn_explicit("something new from a library", UserWarning, "lib.py", 1, module="somelib")
        return 0
    \'\'\', "mtqa/commands/report.py", "exec"), vars(report))
    from mtqa.cli import main
    sys.exit(main(sys.argv[1:]))
''')


def test_mtqa_and_unexpected_warnings_still_show_known_library_noise_does_not():
    # -W default: every warning shown once, DeprecationWarning included, as in a developer's shell
    proc = subprocess.run([sys.executable, "-W", "default", "-c", _WARNING_RUN, "report", "out"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "mtqa/commands/report.py:5: UserWarning: mtqa's own warning" in proc.stderr
    assert "something new from a library" in proc.stderr
    assert "torch.ao.quantization is deprecated" not in proc.stderr
    assert "quantize_per_tensor" not in proc.stderr


def test_the_hidden_warnings_are_what_torch_really_emits():
    """Each entry of KNOWN_LIBRARY_WARNINGS matches a warning torch emits for `--quantize int8`
    (so the filters above hide real noise, and a stale entry shows up here)."""
    import re
    import warnings

    import torch

    from mtqa.cli import KNOWN_LIBRARY_WARNINGS

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(4, 4)), {torch.nn.Linear},
                                               dtype=torch.qint8)
    for category, pattern in KNOWN_LIBRARY_WARNINGS:
        assert any(issubclass(w.category, category) and re.match(pattern, str(w.message)) for w in caught), pattern
