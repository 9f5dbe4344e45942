"""Benchmarks of the pipeline's stages against the machine's floor and against peers.

Run with ``python -m bench [--quick] [--records N] [--dir DIR]`` (``make bench`` / ``make bench-quick``).
Generated corpora and results go to a folder outside the repository: ``--dir``, else
``$COMMONS_BENCH_DIR``, else ``/tmp/commons-bench``. Nothing here is imported by the pipeline or its tests.
"""
