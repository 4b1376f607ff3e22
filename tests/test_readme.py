"""README and CI stay in step: CI runs exactly the README's test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    test_commands = [b.strip() for b in blocks if "pytest" in b]
    assert test_commands, "README.md gives no test command"
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_commands[0] in ci.splitlines()


def test_readme_python_quick_start_runs(capsys):
    readme = (ROOT / "README.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert snippets, "README.md has no Python quick start"
    exec(compile(snippets[0], "README.md", "exec"), {})
    assert "total R2" in capsys.readouterr().out
