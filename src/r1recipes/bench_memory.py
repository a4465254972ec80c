"""`python -m r1recipes.bench_memory`: make check's memory estimates against measured peaks
(r1recipes.sizing.bench_memory)."""

import sys

from r1recipes.sizing.bench_memory import main

if __name__ == "__main__":
    sys.exit(main())
