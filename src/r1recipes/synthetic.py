"""`python -m r1recipes.synthetic`: the package's synthetic datasets (r1recipes.data.synthetic)."""

from r1recipes.data.synthetic import main

if __name__ == "__main__":
    main()
