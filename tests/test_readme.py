"""The README's two commands are what users run first; CI must run the second verbatim."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines()]


def test_readme_opens_with_install_and_test_commands():
    install, test = _readme_commands()
    assert "pip install" in install and "python -m fastnn" in install
    assert '".[test]"' in test and "pytest" in test


def test_ci_runs_the_readme_test_command():
    _, test = _readme_commands()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test in ci_lines


def test_ci_makes_missing_openmp_fatal():
    assert "FASTNN_REQUIRE_OPENMP=1" in (ROOT / ".ci" / "run").read_text()
