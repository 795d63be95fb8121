"""`python -m revue.analysis` runs the service."""

from revue.analysis.app import main

# Guarded: process pools (forkserver) import the main module in their workers.
if __name__ == "__main__":
    main()
