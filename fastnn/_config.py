"""What this fastnn build runs on: versions, OpenMP, BLAS and threads."""
import os
import platform
import sys


def config_info():
    """A dict of what show_config prints."""
    import numpy
    import scipy
    import sklearn
    import threadpoolctl

    from fastnn import __version__
    from fastnn._core import _activations, _blas  # noqa: F401 (loads BLAS and OpenMP)
    from fastnn._core._openmp import cpu_count, effective_n_threads, openmp_enabled

    libraries = threadpoolctl.threadpool_info()
    return {
        "fastnn": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "threadpoolctl": threadpoolctl.__version__,
        "openmp": openmp_enabled(),
        "cpu_count": cpu_count(),
        "n_threads": effective_n_threads(None),
        "blas": [lib for lib in libraries if lib.get("user_api") == "blas"],
        "openmp_runtimes": [lib for lib in libraries if lib.get("user_api") == "openmp"],
    }


def show_config(file=None):
    """Print fastnn's build and runtime configuration: versions, OpenMP, BLAS, threads."""
    info = config_info()
    out = file or sys.stdout
    print(f"fastnn {info['fastnn']}", file=out)
    for key in ("python", "platform", "numpy", "scipy", "scikit-learn", "threadpoolctl"):
        print(f"  {key + ':':<16}{info[key]}", file=out)
    print(f"  {'openmp:':<16}{'yes' if info['openmp'] else 'NO (serial build)'}", file=out)
    for lib in info["openmp_runtimes"]:
        print(f"  {'':<16}{lib.get('prefix')} {lib.get('version') or ''} "
              f"{lib.get('filepath')}", file=out)
    print(f"  {'threads:':<16}{info['n_threads']} of {info['cpu_count']} CPUs "
          f"(n_threads=None)", file=out)
    for lib in info["blas"] or [{"internal_api": "none found"}]:
        # fastnn's matrix products go through scipy.linalg.cython_blas, i.e. scipy's BLAS;
        # numpy may load a BLAS of its own next to it.
        user = "fastnn (via scipy)" if "scipy" in os.path.basename(
            os.path.dirname(lib.get("filepath", ""))) else "loaded by numpy or another package"
        print(f"  {'blas:':<16}{lib.get('internal_api')} {lib.get('version') or ''} "
              f"{lib.get('threading_layer') or ''} threads={lib.get('num_threads')}  "
              f"[{user}]", file=out)
        print(f"  {'':<16}{lib.get('filepath', '')}", file=out)
