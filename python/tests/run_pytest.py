"""Runs pytest on the module's tests; exit 77 (ctest: skipped) without pytest."""
import sys

try:
    import pytest
except ImportError:
    print("python tests skipped: pytest is missing (Debian's python3-pytest)")
    sys.exit(77)
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
