"""``python -m fastnn``: see fastnn/cli.py."""
import sys

from fastnn.cli import main

sys.exit(main())
