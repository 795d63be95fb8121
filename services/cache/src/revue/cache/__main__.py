"""`python -m revue.cache` runs the service."""

from revue.cache.app import main

main()
