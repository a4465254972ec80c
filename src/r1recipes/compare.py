"""`python -m r1recipes.compare`: two evaluations of the same problems, paired (r1recipes.evaluation.compare)."""

from r1recipes.evaluation.compare import main

if __name__ == "__main__":
    main()
