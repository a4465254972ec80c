"""`python -m r1recipes.report`: a run folder's report.md and plots (r1recipes.evaluation.report)."""

from r1recipes.evaluation.report import main

if __name__ == "__main__":
    main()
