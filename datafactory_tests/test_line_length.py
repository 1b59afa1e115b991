"""House style: no line over 120 characters in the package or its tests. Merges kept bringing them back (about 15
at once), and nothing else in the suite looks at line length."""

from pathlib import Path

import datafactory_assets

LIMIT = 120
ROOT = Path(datafactory_assets.__file__).resolve().parent.parent


def test_no_line_of_the_package_or_its_tests_is_over_120_characters():
    long = [f"{path.relative_to(ROOT)}:{number}: {len(line)}"
            for folder in ("datafactory_assets", "datafactory_tests") for path in sorted((ROOT / folder).rglob("*.py"))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if len(line) > LIMIT]
    assert long == [], "wrap these lines (file:line: length):\n" + "\n".join(long)
