"""The README opens with the two set-up commands, and CI runs the second one verbatim."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands():
    text = (ROOT / "README.md").read_text()
    blocks = text.split("```")
    first_code = [b for b in blocks[1::2]][:2]
    return [line.strip() for b in first_code for line in b.splitlines()[1:] if line.strip()]


def test_readme_starts_with_the_two_setup_commands():
    main_job, tests = _commands()
    assert main_job.startswith("pip install -e . && symderiv report")
    assert tests.startswith("pip install -e '.[test]' && python -m pytest")


def test_ci_runs_the_readme_test_command():
    _, tests = _commands()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert tests in ci_lines


def test_the_readme_example_is_the_generated_summary():
    text = (ROOT / "README.md").read_text()
    example = text[text.index("```latex\n") + len("```latex\n"):]
    example = example[: example.index("```")].strip()
    assert example in (ROOT / "reports" / "backprop.tex").read_text()
