"""`python -m revue.analysis` runs the service."""

from revue.analysis.app import main

main()
