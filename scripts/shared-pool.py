"""Run the `shared-pool` command from this skill folder, without installing the package.

Usage: python <skill-dir>/scripts/shared-pool.py COMMAND ...   (needs requirements.txt installed)
"""

import sys
from pathlib import Path

# The package and the template next to it are used in place, so an installed copy of the
# skill scaffolds from its own template.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generator"))

from pgdbm_shared_pool.cli import main

if __name__ == "__main__":
    sys.exit(main())
