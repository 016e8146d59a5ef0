"""A benchmark script killed with SIGTERM or SIGHUP stops as on Ctrl-C.

Python runs `with` blocks' exits for an exception (Ctrl-C raises
KeyboardInterrupt) but not for a signal it has no handler for: a
`compare_torch.py` stopped by `kill` left its ~35 MB of exported data in
/tmp, and the `eoslab train` of a `sharpness_cost.py` ran on to its end.
Raising SystemExit from the handler instead lets `subprocess.run` kill its
child and `tempfile.TemporaryDirectory` remove what the script wrote.
"""
import signal
import sys


def exit_on_termination_signals():
    def stop(signum, _frame):
        sys.exit(f"{sys.argv[0]}: stopped by {signal.Signals(signum).name}")

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, stop)
