"""`make bench`: every benchmark table (python -m bench [nlu|kb])."""

import sys

from bench import nlu_bench


def main() -> None:
    which = sys.argv[1:] or ["nlu", "kb"]
    if "nlu" in which:
        nlu_bench.run()
    if "kb" in which:
        from bench import kb_bench

        kb_bench.main()


if __name__ == "__main__":
    main()
