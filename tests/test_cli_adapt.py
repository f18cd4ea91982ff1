"""``lstm-tui eval --adapt``: held-out figures with and without learning as it reads (issue 17)."""

from __future__ import annotations

from test_cli import cli, strict_json


def test_eval_adapt_reports_both_in_one_run(capsys, fable_text: str, write_text) -> None:
    """The fable model reads the fable backwards, twice: learning as it reads, it does better
    (perplexity and keystrokes saved), and both figures come from the same run."""
    backwards = " ".join(fable_text.split()[::-1])
    path = write_text(f"{backwards}\n{backwards}\n")
    code, out, err = cli(capsys, "eval", path, "--adapt", "--ksr", "--json")
    assert code == 0, err
    result = strict_json(out)
    adapt = result["adapt"]
    assert adapt["without"]["mixture"] == result["perplexity"]  # one stream: the same figure
    assert adapt["with"]["mixture"] < 0.7 * adapt["without"]["mixture"]
    assert adapt["change"] < -0.3
    assert adapt["ksr"]["with"]["ksr"] > adapt["ksr"]["without"]["ksr"]
    assert adapt["config"]["lr"] == 1.0  # the tuned default
    code, out, _ = cli(capsys, "eval", path, "--adapt", "--adapt-lr", "0", "--adapt-prior", "1e9")
    assert code == 0 and "learning as it reads (one stream): perplexity lstm" in out


def test_eval_adapt_refuses_a_negative_step(capsys, fable_path) -> None:
    code, _, err = cli(capsys, "eval", fable_path, "--adapt", "--adapt-lr", "-1")
    assert code == 2 and "--adapt-lr" in err
