"""Runs pytest on the module's tests; exit 77 (ctest: skipped) without pytest.

Like eoslab and the C++ tests (core/blas_kernel.hpp), it runs on the OpenBLAS
kernel the CPU supports where OpenBLAS would fall back to Prescott: the tests
compare the module's numbers with the eoslab program's, which restarts itself
so, and the kernel changes the last bits of every product."""
import os
import sys
import warnings

try:
    import pytest
except ImportError:
    print("python tests skipped: pytest is missing (Debian's python3-pytest)")
    sys.exit(77)

if not os.environ.get("OPENBLAS_CORETYPE"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the import's advice, taken here
        import eoslab
    blas = eoslab.blas()
    if blas["kernel"] == "Prescott" and blas["cpu_supports"]:
        kernel = blas["cpu_supports"]
        os.execve(sys.executable, [sys.executable, *sys.argv],
                  dict(os.environ, OPENBLAS_CORETYPE=kernel, EOSLAB_BLAS_KERNEL_SET=kernel))
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
