"""`python -m revue.query_optimizer` runs the service."""

from revue.query_optimizer.app import main

# Guarded: process pools (forkserver) import the main module in their workers.
if __name__ == "__main__":
    main()
