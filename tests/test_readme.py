"""The README's commands and its 30-second example stay true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands_ci_uses() -> None:
    blocks = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    main_command, test_command = blocks[0], blocks[1]
    assert README.index(main_command) < README.index("## ")
    assert "tinynet train -t classification -d iris" in main_command
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r"pip install (-e \"\.\[dev\]\")", test_command)
    assert install is not None
    assert f"pip install --quiet {install.group(1)}" in ci
    assert "python -m pytest -q" in test_command and "python -m pytest -q" in ci


def test_thirty_second_example_prints_what_the_readme_says(tmp_path: Path) -> None:
    code = re.search(r"```python\n(import numpy as np.*?)\n```", README, flags=re.S)
    assert code is not None
    result = subprocess.run(
        [sys.executable, "-c", code.group(1)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    promised = re.search(r"# (test accuracy [0-9.]+)", code.group(1))
    assert promised is not None and result.stdout.strip() == promised.group(1)
