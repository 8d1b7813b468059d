"""Makes the repository root importable for the tests (modules live at the top level: engine, models, ...)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
