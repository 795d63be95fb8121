"""`python -m revue.gateway` runs the service."""

from revue.gateway.app import main

# Guarded: process pools (forkserver) import the main module in their workers.
if __name__ == "__main__":
    main()
