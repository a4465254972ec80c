"""`python -m r1recipes.share`: a finished stage's card, and its push to the Hub (r1recipes.hub.share)."""

from r1recipes.hub.share import main

if __name__ == "__main__":
    main()
