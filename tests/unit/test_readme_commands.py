"""The README's commands work as written on a fresh clone, checked cheaply and offline: the two set-up
commands open it, the scripts it names exist and are executable, every `flask --app app <command>`
and `python -m bench` it names answers `--help` with the options it uses, every environment
variable it names is documented in `.env.example`, and every relative link in it and in docs/
points at a file (and heading) that exists."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
TOP_BLOCK = """```bash
./scripts/run     # installs into .venv and runs the assistant on its embedded defaults (http://127.0.0.1:5000)
./scripts/test    # installs into .venv and runs every test against real local servers
```"""
# Read by the HTTP and S3 libraries themselves, not by config.py; .env.example shows their kin
# (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE) under "the standard proxy and CA variables".
LIBRARY_VARIABLES = {"HTTP_PROXY", "CURL_CA_BUNDLE", "AWS_CA_BUNDLE"}
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
FLASK = re.compile(r"flask --app app ([a-z][a-z-]*)((?: --?[a-z][a-z-]*(?: [^\s`-][^\s`]*)?)*)")
VARIABLE = re.compile(r"(?<![\w-])\$?([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|PORT|HOST)(?![\w-])")


def readme() -> str:
    return README.read_text(encoding="utf-8")


def commands() -> list[str]:
    """Every line of a fenced block and every inline code span of the README."""
    text = readme()
    lines = [line for block in FENCE.findall(text) for line in block.splitlines()]
    return lines + INLINE.findall(FENCE.sub("", text))


def fresh_environment(tmp_path: Path) -> dict[str, str]:
    """This environment with the app's own settings left out and DATA_DIR in a scratch folder, as on
    a fresh clone with no .env."""
    documented = set(documented_variables())
    env = {key: value for key, value in os.environ.items() if key not in documented}
    env.update(DATA_DIR=str(tmp_path / "data"), AGNO_TELEMETRY="false")
    return env


def documented_variables() -> list[str]:
    """Names set or shown commented out (`# NAME=...`) in .env.example."""
    return re.findall(r"(?m)^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(encoding="utf-8"))


def test_the_two_setup_commands_open_the_readme():
    text = readme()
    assert text.split("\n", 2)[2].startswith(TOP_BLOCK + "\n"), "the exact two-command block comes first"
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8"), ".ci/run runs the same command"


def test_every_script_named_exists_and_is_executable():
    named = {match for line in commands() for match in re.findall(r"(?:\./)?((?:scripts/[\w.-]+)|\.ci/run)", line)}
    assert {"scripts/run", "scripts/test", ".ci/run"} <= named
    for script in sorted(named):
        path = ROOT / script
        assert path.is_file() and os.access(path, os.X_OK), f"{script} is missing or not executable"


def flask_commands() -> dict[str, set[str]]:
    """Each `flask --app app <command>` the README names, with the options it passes."""
    found: dict[str, set[str]] = {}
    for line in commands():
        for name, options in FLASK.findall(line):
            found.setdefault(name, set()).update(re.findall(r"--?[a-z][a-z-]*", options))
    return found


def test_the_readme_names_the_flask_commands_it_documents():
    assert {"chat", "worker", "make-thumbnails"} <= set(flask_commands())


@pytest.mark.parametrize("name", sorted(flask_commands()))
def test_every_flask_command_named_answers_help_with_its_options(name, tmp_path):
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", name, "--help"], cwd=ROOT,
                            env=fresh_environment(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Usage: python -m flask {name}" in result.stdout or f"Usage: flask {name}" in result.stdout
    for option in flask_commands()[name]:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.stdout), f"{name} has no {option}"


def test_python_m_bench_answers_help_with_the_options_named(tmp_path):
    text = readme()
    assert "python -m bench" in text
    result = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=ROOT, env=fresh_environment(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    for option in sorted(set(re.findall(r"`(--[a-z]+)[ `]", text)) & {"--quick", "--only", "--profile", "--keep"}):
        assert option in result.stdout, option
    for scenario in re.search(r"--only ([a-z|]+)", text).group(1).split("|"):
        assert scenario in result.stdout, f"python -m bench --only has no scenario {scenario}"


def test_the_modules_and_programs_named_are_part_of_the_project():
    named = " ".join(commands())
    for module in set(re.findall(r"python -m (\w+)", named)):
        assert (ROOT / module / "__main__.py").is_file(), f"python -m {module} has no {module}/__main__.py"
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8").lower()
    for program in set(re.findall(r"\.venv/bin/(\w+)", named)) - {"python"}:
        assert re.search(rf"(?m)^{program}\b", requirements), f".venv/bin/{program}: {program} is not in requirements.txt"
    assert "'app:create_app()'" in named and re.search(r"(?m)^def create_app\(", (ROOT / "app.py").read_text())
    assert 'if __name__ == "__main__"' in (ROOT / "app.py").read_text(), "`python app.py` runs the app"


def test_every_environment_variable_named_is_documented_in_env_example():
    named = set(VARIABLE.findall(readme()))
    assert {"OPENAI_API_KEY", "ADMIN_TOKEN", "DATA_DIR", "PORT"} <= named
    missing = sorted(named - set(documented_variables()) - LIBRARY_VARIABLES)
    assert missing == [], f"named in README.md but not documented in .env.example: {missing}"


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (code blocks left out)."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(heading) for heading in re.findall(r"(?m)^#{1,6} (.+)$", text)}


@pytest.mark.parametrize("document", [README, *DOCS], ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_points_at_an_existing_file(document):
    text = FENCE.sub("", document.read_text(encoding="utf-8"))
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue
        file_part, _, anchor = target.partition("#")
        path = (document.parent / file_part).resolve() if file_part else document
        assert path.exists(), f"{document.name} links to {target}, which does not exist"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{document.name} links to {target}: no such heading"
