"""`make bench`: every benchmark table (python -m bench [nlu|kb|conversation|letters|trends|load|soak] [options]).

`conversation` and `letters` start (or use) the running assistant: see bench/conversation_bench.py
and bench/letters_bench.py. Options after a single bench name are passed to it, e.g.
`python -m bench conversation --split dev --n 10`. `load` (bench/load_bench.py: turns/s, latency and
memory at 1 / 8 / 32 senders beside Rasa's starter bot) runs with the others; `soak`
(bench/soak_bench.py, 30 minutes) only when named: `python -m bench soak --minutes 10`.
"""

import sys

from bench import nlu_bench

BENCHES = ("nlu", "kb", "conversation", "letters", "trends", "load")
NAMED_ONLY = ("soak",)


def main() -> None:
    args = sys.argv[1:]
    if len(args) > 1 and args[0] in BENCHES + NAMED_ONLY and args[1].startswith("-"):
        which, options = [args[0]], args[1:]
    else:
        which, options = args or list(BENCHES), []
    if "nlu" in which:
        nlu_bench.run()
    if "kb" in which:
        from bench import kb_bench

        kb_bench.main()
    if "conversation" in which:
        from bench import conversation_bench

        conversation_bench.main(options)
    if "letters" in which:
        from bench import letters_bench

        letters_bench.main(options)
    if "trends" in which:
        from bench import trends_bench

        trends_bench.main(options)
    if "load" in which:
        from bench import load_bench

        load_bench.main(options)
    if "soak" in which:
        from bench import soak_bench

        soak_bench.main(options)


if __name__ == "__main__":
    main()
