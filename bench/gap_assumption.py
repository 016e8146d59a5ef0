#!/usr/bin/env python3
"""Checks the gap that `sharpness` assumed (guard_every, analysis/eigen.hpp's
GuardSchedule) against the true gap λ₁ − λ₂ at the same steps.

A solve between guarded ones stops on the predicted top vector alone where it
meets the stopping rule with an assumed gap δ below λmax (Kato–Temple: the
error is at most r²/δ when the rest of the spectrum is at least δ away); the
run's `sharpness_assumed_gap` column has that δ (0 at the guarded solves). This script reads two runs of
the same trajectory (λmax does not feed back into GD, so the θ_t are equal):
  --run    the run to check (its sharpness_assumed_gap column), e.g. from
           bench/sharpness_cost.py --keep-metrics DIR
  --truth  a run with `--plugin sharpness:k=2,tol=1e-4,hvp=float64,guard_every=1`
           (λ₁ and λ₂ of every step)
and prints, over the steps with an assumed gap, the smallest ratio true gap /
assumed gap (below 1: the assumption failed there, and the error bound r²/δ
was low by that factor).
  /usr/bin/python3 bench/gap_assumption.py --run R/metrics.csv --truth T/metrics.csv
"""
import argparse
import csv
import sys


def read(path, columns):
    try:
        with open(path) as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"gap_assumption: {path}: {e.strerror}")
    missing = [c for c in columns if not rows or c not in rows[0]]
    if missing:
        sys.exit(f"gap_assumption: {path}: no column {', '.join(missing)} (expected a metrics.csv of eoslab train)")
    return {int(r["step"]): r for r in rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--truth", required=True)
    a = ap.parse_args()
    run = read(a.run, ["step", "lambda_max", "sharpness_assumed_gap"])
    truth = read(a.truth, ["step", "lambda_max", "lambda_2"])
    ratios = []
    for step, r in sorted(run.items()):
        if float(r["sharpness_assumed_gap"]) == 0:
            continue  # a guarded solve
        if step not in truth:
            sys.exit(f"gap_assumption: step {step} of {a.run} is not in {a.truth}")
        gap = float(truth[step]["lambda_max"]) - float(truth[step]["lambda_2"])
        ratios.append((gap / float(r["sharpness_assumed_gap"]), step))
    if not ratios:
        print(f"{len(run)} steps, none with an assumed gap")
        return
    worst, at = min(ratios)
    below = sum(1 for q, _ in ratios if q < 1)
    print(f"{len(run)} steps, {len(ratios)} with an assumed gap; true gap / assumed gap: smallest {worst:.3f} "
          f"(step {at}), median {sorted(q for q, _ in ratios)[len(ratios) // 2]:.3f}; below 1 at {below} steps")


if __name__ == "__main__":
    main()
