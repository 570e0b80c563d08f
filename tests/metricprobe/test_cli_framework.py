"""Tests of the command-line framework: discovery, help, exit codes, output helpers."""

import argparse
import json

import pytest

from metricprobe.cli import commands, main
from metricprobe.cli.common import emit, format_table, format_value
from metrics import InputError


def test_help_lists_commands_and_exits_zero(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in commands():
        assert name in out


def test_every_command_has_help_with_an_example(capsys):
    for name, module in commands().items():
        assert module.HELP and module.EXAMPLE.startswith("metricprobe"), name
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "example:" in capsys.readouterr().out


def test_no_command_and_unknown_command_are_usage_errors(capsys):
    assert main([]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_input_error_exits_2_with_one_line(capsys, monkeypatch):
    import metricprobe.cli.demo as demo

    def boom(args):
        raise InputError("PREDS: file 'x.csv' does not exist")

    monkeypatch.setattr(demo, "run", boom)
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "metricprobe demo: error: PREDS: file 'x.csv' does not exist"


def test_internal_error_exits_1_without_traceback(capsys, monkeypatch):
    import metricprobe.cli.demo as demo

    def boom(args):
        raise RuntimeError("kaput")

    monkeypatch.setattr(demo, "run", boom)
    assert main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: kaput" in err and "Traceback" not in err


def test_emit_json_out_and_table(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = argparse.Namespace(json=True, out=str(out))
    emit(args, {"ece": 0.5, "ci": (float("nan"), 1.0)}, "TABLE")
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"ece": 0.5, "ci": [None, 1.0]}
    assert json.loads(out.read_text()) == printed
    emit(argparse.Namespace(json=False, out=None), {"ece": 0.5}, "TABLE")
    assert capsys.readouterr().out == "TABLE\n"


def test_format_table_aligns_and_formats():
    text = format_table([("ECE", 0.123456), ("n", 10), ("CI", (0.1, 0.2))], ["metric", "value"])
    lines = text.splitlines()
    assert lines[0].startswith("metric") and lines[2].startswith("ECE")
    assert "0.1235" in text and "[0.1000, 0.2000]" in text
    assert format_value(float("nan")) == "-" and format_value(1e-7) == "1.0000e-07"


def test_usage_errors_are_one_line_with_a_pointer_to_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["calibration", "x.npz", "--n-bins", "many"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err
    assert err.startswith("metricprobe calibration: error: argument --n-bins: invalid int value: 'many'")
    assert "(see 'metricprobe calibration --help')" in err
    with pytest.raises(SystemExit):
        main(["--no-such-flag"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "see 'metricprobe --help'" in err


def test_version(capsys):
    import metricprobe

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"metricprobe {metricprobe.__version__}"


def test_debug_anywhere_on_the_line(monkeypatch):
    import metricprobe.cli.demo as demo

    def boom(args):
        raise RuntimeError("kaput")

    monkeypatch.setattr(demo, "run", boom)
    with pytest.raises(RuntimeError, match="kaput"):
        main(["demo", "--debug"])
    with pytest.raises(RuntimeError, match="kaput"):
        main(["--debug", "demo"])


def test_messages_name_cli_flags_not_python_parameters():
    from metricprobe.cli import build_parser, cli_message

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["calibration"]
    assert cli_message("n_bins must be an integer >= 1; got 0", sub, {}) == "--n-bins must be an integer >= 1; got 0"
    assert cli_message("n_bootstrap must be >= 0", sub, {"n_bootstrap": "--bootstrap"}) == "--bootstrap must be >= 0"
    # a name inside quotes (a column, a value) is left alone
    assert cli_message("column 'n_bins' not found", sub, {}) == "column 'n_bins' not found"


def test_out_to_a_missing_directory_fails_before_any_work(tmp_path, capsys):
    from metricprobe.cli.common import check_output_paths

    with pytest.raises(InputError, match="--out: cannot write .*does not exist"):
        check_output_paths(argparse.Namespace(out=str(tmp_path / "no" / "r.json"), plot=None))
    with pytest.raises(InputError, match="--plot: unsupported image type '.txt'"):
        check_output_paths(argparse.Namespace(out=None, plot=str(tmp_path / "r.txt")))
    check_output_paths(argparse.Namespace(out=str(tmp_path / "r.json"), plot=str(tmp_path / "r.png")))


def test_every_option_has_help_text():
    from metricprobe.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {'/'.join(action.option_strings) or action.dest}"
               for name, command in sub.choices.items() for action in command._actions
               if not action.help and action.dest != "help"]
    assert missing == []
