"""``lstm-tui eval --ksr``: keystrokes saved by the simulated typist (issue 17)."""

from __future__ import annotations

from pathlib import Path

from test_cli import cli, strict_json


def test_eval_ksr_on_the_fable(capsys, fable_path: Path) -> None:
    code, out, err = cli(capsys, "eval", fable_path, "--ksr", "--json")
    assert code == 0, err
    typed = strict_json(out)["ksr"]
    assert typed["positions"] == 204 and typed["top_k"] == 5  # short: every word typed
    mixture = typed["mixture"]
    # The shipped model knows the fable by heart: nearly every word offered at once.
    assert mixture["words"] == 204 and mixture["keys_without"] > mixture["keys"] >= 204
    assert 0.7 < mixture["ksr"] <= mixture["ceiling"] < 0.8
    assert mixture["offered_before_first_letter"] > 0.9
    code, out, _ = cli(capsys, "eval", fable_path, "--ksr", "--json", "--top-k", "1")
    assert code == 0 and strict_json(out)["ksr"]["mixture"]["ksr"] <= mixture["ksr"]
    code, out, _ = cli(capsys, "eval", fable_path, "--ksr")
    assert code == 0 and "keystrokes saved (top-5, 204 words): " in out


def test_eval_ksr_refuses_a_bad_top_k(capsys, fable_path: Path) -> None:
    code, _, err = cli(capsys, "eval", fable_path, "--ksr", "--top-k", "0")
    assert code == 2 and "top-k" in err


def test_eval_phrases_reports_ksr_with_and_without(capsys, fable_path: Path) -> None:
    code, out, err = cli(capsys, "eval", fable_path, "--phrases", "--json")  # implies --ksr
    assert code == 0, err
    phrases = strict_json(out)["ksr"]["phrases"]
    assert phrases["positions"] == 204  # the fable is shorter than the run of 300 words
    with_, without = phrases["with"], phrases["without"]
    assert with_["phrases"] > 0 and with_["ksr"] > without["ksr"]
    assert 0 < phrases["threshold"]["threshold"] <= 1
    code, out, _ = cli(capsys, "eval", fable_path, "--phrases")
    assert code == 0 and "with phrases (204 words in a row): " in out
