"""`python -m revue.cdn` runs the service."""

from revue.cdn.app import main

# Guarded: process pools (forkserver) import the main module in their workers.
if __name__ == "__main__":
    main()
